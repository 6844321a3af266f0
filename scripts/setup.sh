#!/usr/bin/env bash
# Installs every Debian package sipwarden needs to build, run, test and benchmark.
# Idempotent and non-interactive; runs `apt-get update` once, and only when something is missing.
# Run as root on Debian 12 (bookworm).
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build make pkg-config git
  # clang for the libFuzzer build (and its sanitizer runtimes), clang-format
  clang libclang-rt-14-dev clang-format
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # peer SIP parsers the parser benchmark compares against
  libosip2-dev libsofia-sip-ua-dev
  # server: Asio, OpenSSL (digest hashes, HMAC nonces, later TLS), SQLite, logging, config, CLI, JSON
  libboost1.81-dev libssl-dev libsqlite3-dev libspdlog-dev libfmt-dev libtomlplusplus-dev libcli11-dev
  nlohmann-json3-dev sqlite3 openssl
  # the integration tests are Python (standard library only)
  python3
  # integration tests and benchmarks: SIPp, real user agents, the peer server
  sip-tester sipsak baresip-core kamailio kamailio-tls-modules kamailio-websocket-modules procps iproute2
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: run as root (or: sudo bash scripts/setup.sh) to install them" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
