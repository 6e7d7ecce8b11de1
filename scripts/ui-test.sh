#!/usr/bin/env bash
# The web UI's checks: lint, svelte-check + tsc, generated API types up to
# date, unit tests (Vitest), production build, then the browser end-to-end
# test (Debian's Chromium via playwright-core) against `crema serve`.
# Installs Chromium (apt) and the node packages (npm ci) when missing.
# Assumes `cargo build -p crema` was done (CREMA_BIN overrides the binary).
set -euo pipefail
cd "$(dirname "$0")/.."

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ! command -v chromium >/dev/null 2>&1 && ! have_pkg chromium; then
  echo "ui-test: installing chromium" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "ui-test: node/npm not found: install Node.js >= 20.19" >&2
  exit 1
fi

cd ui
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ui-test: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "== ui: lint" && npm run -s lint
echo "== ui: check" && npm run -s check
echo "== ui: check:types" && npm run -s check:types
echo "== ui: unit tests" && npm test --silent
echo "== ui: build" && npm run -s build
echo "== ui: e2e" && npm run -s e2e
