# Sourced by scripts/demo and scripts/test: make sure what the build and tests need is
# installed, installing it (Debian/Ubuntu, apt) when it is missing.
#   - cargo/rustc 1.88 or newer (edition 2024); not installable from here: we say how.
#   - cmake and a C compiler, for the vendored c-ares build.
#   - optional extras for the tests and benchmarks (see the end). Debian's
#     dnsmasq-base is the bare program, without a service that would take port 53.

set -euo pipefail

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
command -v make >/dev/null 2>&1 || need_apt+=(make)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "onethread: installing ${need_apt[*]} (to build the vendored c-ares and run the tests)" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "onethread: please install: ${need_apt[*]} (apt-get install ${need_apt[*]})" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "onethread: cargo not found. Install Rust 1.88 or newer with rustup (https://rustup.rs), then run this again." >&2
    exit 1
  fi
fi

# Optional extras, installed when asked for and missing; a failure only means the
# test or bench row that needs them says it was skipped, and why.
#   ONETHREAD_TEST_DEPS=1 (scripts/test): dnsmasq, a real DNS server one test starts.
#   ONETHREAD_BENCH_DEPS=1 (scripts/bench): nginx (the neutral server) and wrk (a peer).
optional=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if [ "${ONETHREAD_TEST_DEPS:-0}" = 1 ]; then
  have dnsmasq || optional+=(dnsmasq-base)
fi
if [ "${ONETHREAD_BENCH_DEPS:-0}" = 1 ]; then
  have nginx || optional+=(nginx)
  have wrk || optional+=(wrk)
fi
if [ ${#optional[@]} -gt 0 ]; then
  echo "onethread: installing ${optional[*]} (for the tests or benchmarks)" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${optional[@]}" >/dev/null; } ||
    echo "onethread: could not install ${optional[*]}; what needs them will say it was skipped" >&2
fi
