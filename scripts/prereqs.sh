# Sourced by scripts/demo and scripts/test: make sure what the build and tests need is
# installed, installing it (Debian/Ubuntu, apt) when it is missing.
#   - cargo/rustc 1.88 or newer (edition 2024); not installable from here: we say how.
#   - cmake and a C compiler, for the vendored c-ares build.

set -euo pipefail

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
command -v make >/dev/null 2>&1 || need_apt+=(make)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "onethread: installing ${need_apt[*]} (needed to build the vendored c-ares)" >&2
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
