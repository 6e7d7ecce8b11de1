#!/usr/bin/env bash
# A farm of two `crema serve` nodes on this machine sharing one PostgreSQL
# database (docs/operations/farm.md): starts a throwaway PostgreSQL cluster
# in target/farm-demo/ (Debian's postgresql; scripts/setup.sh installs it),
# creates an API key, starts node-a on 127.0.0.1:8081 and node-b on
# 127.0.0.1:8082 (each with its own data folder for scratch and outputs),
# and stops everything on Ctrl-C. When s3s-fs (the S3 test server
# scripts/setup.sh installs into ~/.cache/crema/tools) is there, it also
# starts it on 127.0.0.1:9000 and gives both nodes --object-store, so outputs
# and sources go to a bucket. CREMA=path/to/crema picks the binary
# (default target/release/crema, then target/debug/crema).
set -euo pipefail
cd "$(dirname "$0")/.."
crema=${CREMA:-}
[ -n "$crema" ] || for c in target/release/crema target/debug/crema; do [ -x "$c" ] && crema=$c && break; done
[ -n "$crema" ] || { echo "farm-demo: build crema first (cargo build --release -p crema)" >&2; exit 1; }
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "farm-demo: PostgreSQL is missing: run scripts/setup.sh" >&2; exit 1; }
dir=$PWD/target/farm-demo
rm -rf "$dir" && mkdir -p "$dir"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; as_pg=(runuser -u postgres --); fi
port=${CREMA_FARM_PG_PORT:-55432}
"${as_pg[@]}" "$bin/initdb" -D "$dir/pg" -U crema --auth=trust -E UTF8 --no-sync >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/pg" -o "-p $port -k $dir -c listen_addresses=127.0.0.1" -l "$dir/pg.log" -w start >/dev/null
db="postgres://crema@127.0.0.1:$port/postgres"
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null || true
}
trap cleanup EXIT
store_args=()
s3s=${CREMA_TOOLS:-$HOME/.cache/crema/tools}/bin/s3s-fs
if [ -x "$s3s" ]; then
  mkdir -p "$dir/s3/farm-demo"
  export AWS_ACCESS_KEY_ID=FARMDEMO AWS_SECRET_ACCESS_KEY=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
  "$s3s" --host 127.0.0.1 --port 9000 --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$dir/s3" >"$dir/s3s.log" 2>&1 &
  pids+=($!)
  store_args=(--object-store "s3://farm-demo/media?endpoint=http://127.0.0.1:9000&region=us-east-1")
  echo "farm-demo: bucket s3://farm-demo/media on http://127.0.0.1:9000 (s3s-fs, files in $dir/s3)"
fi
key=$("$crema" keys create farm-demo --database "$db" --data-dir "$dir/node-a")
for n in a b; do
  port_n=$([ $n = a ] && echo 8081 || echo 8082)
  mkdir -p "$dir/node-$n"
  "$crema" serve --database "$db" --node-name "node-$n" --listen "127.0.0.1:$port_n" \
    --data-dir "$dir/node-$n" --source-root "$PWD" --workers 1 "${store_args[@]}" &
  pids+=($!)
done
echo "farm-demo: database $db"
echo "farm-demo: node-a http://127.0.0.1:8081  node-b http://127.0.0.1:8082  API key $key"
echo "farm-demo: try: curl -H \"Authorization: Bearer $key\" http://127.0.0.1:8082/v1/nodes"
echo "farm-demo: Ctrl-C stops both nodes and the database"
wait
