"""The seed workload in asyncio + aiohttp, as the census runs it.

    python seed.py URL_TEMPLATE N C RESOLVER [CAFILE]

N GETs of URL_TEMPLATE ("{}" becomes 0, 1, ...), at most C in flight through
asyncio.Semaphore(C), every body read, on one ClientSession. RESOLVER is
  threaded  aiohttp.ThreadedResolver: getaddrinfo on asyncio's default executor;
  nocache   the same with use_dns_cache=False: one lookup per new connection, as
            with aiohttp before its DNS cache coalesced concurrent lookups;
  aiodns    aiohttp.AsyncResolver: c-ares through aiodns/pycares.
The connector's own limit (100 by default since aiohttp 2.0) is raised to C, so that
the semaphore, as in the seed script, is what bounds concurrency.

With CAFILE (for https:// URLs), the connector's ssl is an ssl.SSLContext from
ssl.create_default_context(cafile=CAFILE): Python's ssl module (OpenSSL), trusting
that certificate alone. aiohttp drives it through asyncio's SSL protocol, on the
event loop's thread.

Prints one JSON line: successes, failures, the first error, and the names of the
threads Python knows about (threading.enumerate()) while the session is still open.
Before Python 3.14 every OS thread of the process has the same comm ("python3"), so
these names are how the census tells the executor's threads apart; threads started by
C code (c-ares's event thread) are not in this list at all.
"""

import asyncio
import json
import ssl
import sys
import threading

import aiohttp


async def fetch(url, session, sem):
    async with sem:
        async with session.get(url) as response:
            await response.read()
            return response.status


async def run(template, n, c, resolver_name, cafile=None):
    sem = asyncio.Semaphore(c)
    # ssl=True is aiohttp's default: verify against the system's CAs.
    context = ssl.create_default_context(cafile=cafile) if cafile else True
    if resolver_name == "aiodns":
        connector = aiohttp.TCPConnector(limit=c, resolver=aiohttp.AsyncResolver(), ssl=context)
    else:
        cache = resolver_name != "nocache"
        connector = aiohttp.TCPConnector(
            limit=c, resolver=aiohttp.ThreadedResolver(), use_dns_cache=cache, ssl=context
        )
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = (fetch(template.replace("{}", str(i)), session, sem) for i in range(n))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        names = [t.name for t in threading.enumerate()]
    ok = sum(1 for r in results if r == 200)
    errors = [r for r in results if r != 200]
    first = None
    if errors:
        e = errors[0]
        first = f"{type(e).__name__}: {e}" if isinstance(e, BaseException) else f"status {e}"
    return {"ok": ok, "failed": len(errors), "first_error": first, "python_threads": names}


def main():
    template, n, c, resolver_name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    cafile = sys.argv[5] if len(sys.argv) > 5 else None
    print(json.dumps(asyncio.run(run(template, n, c, resolver_name, cafile))), flush=True)


if __name__ == "__main__":
    main()
