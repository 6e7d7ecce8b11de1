#!/usr/bin/env bash
# The /v1 API against its own OpenAPI document with schemathesis (PyPI, 4.x):
# every check on, a fixed seed, bounded in time (tests/api-fuzz/schemathesis.toml
# lists each rule the document cannot state, with its reason). Starts a
# throwaway `crema serve` (no workers: jobs queue and never encode) with a
# fresh key on a free loopback port, and fails on any failure schemathesis
# reports. Installs schemathesis into a cached virtualenv when missing.
# Usage: scripts/api-fuzz.sh [path/to/crema]   (default target/debug/crema)
set -euo pipefail
cd "$(dirname "$0")/.."
crema=${1:-target/debug/crema}
[ -x "$crema" ] || cargo build --locked -p crema
tools=${CREMA_TOOLS_DIR:-$HOME/.cache/crema-tools}
venv="$tools/schemathesis-4.32.5"
if [ ! -x "$venv/bin/st" ]; then
  echo "api-fuzz: installing schemathesis 4.32.5 into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'schemathesis==4.32.5'
fi
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/data" "$work/sources"
key=$("$crema" keys create api-fuzz --data-dir "$work/data" 2>/dev/null | head -1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$crema" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --workers 0 \
  --source-root "$work/sources" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
status=0
( cd tests/api-fuzz && "$venv/bin/st" --config-file schemathesis.toml run \
    "http://127.0.0.1:$port/v1/openapi.json" -H "Authorization: Bearer $key" \
    --report junit --report-dir "$work/report" ) || status=$?
if grep -q "panicked" "$work/serve.log"; then
  echo "api-fuzz: the server panicked:" >&2; grep -A5 panicked "$work/serve.log" >&2; status=1
fi
exit $status
