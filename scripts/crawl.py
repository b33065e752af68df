"""A crawl of a URL list made here, served locally: onethread's fetch against the
motivating aiohttp script, on the same list, each in a child process whose threads are
counted from outside (/proc/PID/status, sampled every 5 ms) and whose CPU comes from
wait4's rusage.

    python crawl.py FETCH_BINARY [N]

The server (this file, `serve`, a fresh process per client so that every 429 is met
once per run) listens on four ports of `localhost`, one host each:
  A  /chain/3/ID  301 → /chain/2/ID (relative), 302 → ../1/ID (dot segments),
                  307 → http://localhost:B/br|gz/ID (another host, absolute)
  B  /gz/ID, /br/ID  32 KiB of HTML-like text, gzip or brotli when asked for
  C  /limited/ID  429 with Retry-After: 1 the first time, then 200
  D  /slow/ID     200 after one second
URLs name `localhost`, so both clients resolve a name (from /etc/hosts): aiohttp
through getaddrinfo on its thread pool, fetch through its own hosts-file reader.

Prints a Markdown table: wall time, user+system CPU, peak threads, outcomes.
"""

import asyncio
import gzip
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

BODY = ("<html><body>" + "".join(f"<p>item {i}: onethread crawls on one thread</p>\n" for i in range(700)))[:32768]
BODY = BODY.encode()


def serve(ports):
    import brotli

    encoded = {"gzip": gzip.compress(BODY, 6), "br": brotli.compress(BODY, quality=5)}
    hits = set()
    a, b, c, d = ports

    def respond(port, path, accept):
        headers, body, delay = [], b"", 0.0
        if port == a and path.startswith("/chain/"):
            _, _, k, ident = path.split("/")
            k = int(k)
            target = {3: (301, f"/chain/2/{ident}"), 2: (302, f"../1/{ident}")}.get(
                k, (307, f"http://localhost:{b}/{'br' if int(ident) % 2 else 'gz'}/{ident}"))
            status, location = target
            headers.append(f"Location: {location}")
        elif port == b:
            status, coding = 200, {"gz": "gzip", "br": "br"}[path.split("/")[1]]
            if coding in accept:
                body = encoded[coding]
                headers.append(f"Content-Encoding: {coding}")
            else:
                body = BODY
            headers.append("Content-Type: text/html")
        elif port == c:
            if path in hits:
                status, body = 200, b"finally\n"
            else:
                hits.add(path)
                status = 429
                headers.append("Retry-After: 1")
        elif port == d:
            status, body, delay = 200, b"slowly\n", 1.0
        else:
            status = 404
        reason = {200: "OK", 301: "Moved", 302: "Found", 307: "Temporary", 404: "Not Found", 429: "Too Many"}[status]
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n" + "".join(h + "\r\n" for h in headers)
        return head.encode() + b"\r\n" + body, delay

    async def connection(reader, writer, port):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                accept = " ".join(l for l in lines if l.lower().startswith("accept-encoding:")).lower()
                answer, delay = respond(port, path, accept)
                if delay:
                    await asyncio.sleep(delay)
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main():
        for port in ports:
            await asyncio.start_server(lambda r, w, p=port: connection(r, w, p), "localhost", port, backlog=4096)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


AIOHTTP = r'''
import asyncio, json, sys, aiohttp

async def fetch(url, session, sem):
    async with sem:
        async with session.get(url) as response:   # allow_redirects=True, auto_decompress=True
            return response.status, len(await response.read())

async def run(path):
    urls = open(path).read().split()
    sem = asyncio.Semaphore(1000)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as session:
        results = await asyncio.gather(*(fetch(u, session, sem) for u in urls), return_exceptions=True)
    statuses = {}
    for r in results:
        key = str(r[0]) if isinstance(r, tuple) else type(r).__name__
        statuses[key] = statuses.get(key, 0) + 1
    print(json.dumps({"outcomes": statuses, "bytes": sum(r[1] for r in results if isinstance(r, tuple))}))

asyncio.run(run(sys.argv[1]))
'''


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def measure(argv, stdout):
    """Runs argv; wall seconds, CPU seconds, peak threads (sampled from outside)."""
    start = time.monotonic()
    child = subprocess.Popen(argv, stdout=stdout)
    peak = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        try:
            with open(f"/proc/{child.pid}/status") as f:
                threads = next(int(l.split()[1]) for l in f if l.startswith("Threads:"))
            peak = max(peak, threads)
        except (OSError, StopIteration):
            pass
        time.sleep(0.005)
    return time.monotonic() - start, usage.ru_utime + usage.ru_stime, peak, os.waitstatus_to_exitcode(status)


def main():
    if sys.argv[1] == "serve":
        return serve([int(p) for p in sys.argv[2:]])
    fetch, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    ports = free_ports(4)
    a, b, c, d = ports
    rng = random.Random(14)
    urls = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.4:
            urls.append(f"http://localhost:{a}/chain/3/{i}")
        elif roll < 0.7:
            urls.append(f"http://localhost:{b}/{'br' if i % 2 else 'gz'}/{i}")
        elif roll < 0.9:
            urls.append(f"http://localhost:{c}/limited/{i}")
        else:
            urls.append(f"http://localhost:{d}/slow/{i}")
    work = tempfile.mkdtemp(prefix="onethread-crawl-")
    listing = os.path.join(work, "urls.txt")
    with open(listing, "w") as f:
        f.write("\n".join(urls) + "\n")
    script = os.path.join(work, "aiohttp_crawl.py")
    with open(script, "w") as f:
        f.write(AIOHTTP)

    common = [fetch, "--urls", listing, "-c", "1000", "-L", "--compressed", "--jsonl", "--quiet"]
    clients = [
        ("aiohttp (allow_redirects, auto_decompress)", [sys.executable, script, listing], None),
        ("onethread fetch -L --compressed", common, "fetch"),
        ("onethread fetch -L --compressed --retry 2", common + ["--retry", "2"], "fetch"),
    ]
    print(f"{n} URLs: 40% 3-hop redirect chains, 30% gzip/brotli 32 KiB, 20% 429 then 200, 10% a 1 s host\n")
    print("| client | wall s | CPU s | peak threads | outcomes | decoded bytes |")
    print("|---|---:|---:|---:|---|---:|")
    for name, argv, kind in clients:
        server = subprocess.Popen([sys.executable, __file__, "serve", *map(str, ports)], stdout=subprocess.PIPE)
        assert server.stdout.readline().strip() == b"ready"
        out_path = os.path.join(work, "out.txt")
        with open(out_path, "w") as out:
            wall, cpu, peak, code = measure(argv, out)
        server.kill()
        server.wait()
        text = open(out_path).read()
        if kind == "fetch":
            lines = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
            outcomes = {}
            for l in lines:
                key = str(l.get("status")) if l.get("error") is None else l["error"]
                outcomes[key] = outcomes.get(key, 0) + 1
            decoded = sum(l.get("bytes") or 0 for l in lines)
        else:
            result = json.loads(text)
            outcomes, decoded = result["outcomes"], result["bytes"]
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {peak} | {shown} (exit {code}) | {decoded} |", flush=True)


if __name__ == "__main__":
    main()
