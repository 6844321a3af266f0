#!/usr/bin/env bash
# Installs every Debian package sipwarden needs to build, run, test and benchmark, then the web
# softphone's npm packages (web/package-lock.json) and JsSIP's browser bundle where the server
# serves it (web/public/vendor/). Idempotent and non-interactive; runs `apt-get update` once, and
# only when something is missing. Run as root on Debian 12 (bookworm).
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
  # the web softphone's end-to-end test: Debian's Chromium, headless, driven by playwright-core
  chromium
)
# Node.js and npm for web/ (JsSIP, playwright-core): Debian's, unless an npm is already on PATH
# (a machine with Node.js from elsewhere keeps it).
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
else
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
fi

# web/: the npm packages pinned by package-lock.json, installed again only when the lock file is
# newer than the last install (npm keeps a copy of it as node_modules/.package-lock.json).
WEB="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/web"
if [ ! -f "$WEB/node_modules/.package-lock.json" ] || [ "$WEB/package-lock.json" -nt "$WEB/node_modules/.package-lock.json" ]; then
  echo "setup: npm ci in web/"
  (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# JsSIP's browser bundle, made from node_modules by esbuild (`npm run vendor`, web/package.json)
# and served by sipwarden with the page: the page fetches nothing from anywhere else.
BUNDLE="$WEB/public/vendor/jssip.min.js"
if [ ! -f "$BUNDLE" ] || [ "$WEB/node_modules/.package-lock.json" -nt "$BUNDLE" ] || [ "$WEB/package.json" -nt "$BUNDLE" ]; then
  (cd "$WEB" && npm run --silent vendor)
  echo "setup: web/public/vendor/jssip.min.js (JsSIP $(cd "$WEB" && node -p 'require("jssip/package.json").version'))"
fi
