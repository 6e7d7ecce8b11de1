#!/usr/bin/env bash
# Desktop smoke test: builds crema-desktop, launches it under Xvfb through
# tauri-driver + WebKitWebDriver with throwaway data/config folders, queues
# fixtures/cache/h264_720p_2s.mp4 (sophon-espresso) through the command
# layer, waits until the job is completed and the window shows it as done,
# queues a longer clip and closes the window mid-encode (the app must ask
# "Stop 1 encode and quit?"; xdotool clicks "Stop and quit"), restarts the app
# on the same data folder (the completed job is still listed, the stopped one
# was requeued with the same attempt and completes), and saves screenshots
# in target/desktop-smoke/. Driven by scripts/desktop-smoke.mjs
# (Node's fetch against the W3C WebDriver HTTP API; no npm packages).
#
# Needs: scripts/setup.sh (xvfb, webkit2gtk-driver, imagemagick, xdotool, the Tauri
# libraries), node >= 18, fixtures/prepare.sh. tauri-driver is installed with
# cargo into $CREMA_TOOLS_DIR (default target/tools) when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

FIXTURE="$ROOT/fixtures/cache/h264_720p_2s.mp4"
LONG_FIXTURE="$ROOT/fixtures/cache/prores_hq_1080p25_10bit.mov"
OUT="$ROOT/target/desktop-smoke"
TOOLS="${CREMA_TOOLS_DIR:-$ROOT/target/tools}"
CARGO_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

for tool in Xvfb xvfb-run WebKitWebDriver import xdotool node; do
  command -v "$tool" >/dev/null || { echo "desktop-smoke: $tool is missing: run scripts/setup.sh" >&2; exit 1; }
done
for f in "$FIXTURE" "$LONG_FIXTURE"; do
  [ -f "$f" ] || { echo "desktop-smoke: $f is missing: run fixtures/prepare.sh" >&2; exit 1; }
done

if [ ! -x "$TOOLS/bin/tauri-driver" ]; then
  echo "desktop-smoke: installing tauri-driver into $TOOLS" >&2
  cargo install tauri-driver --version '^2' --locked --root "$TOOLS" --quiet
fi

cargo build -p crema-desktop --quiet
APP="$CARGO_TARGET/debug/crema-desktop"

rm -rf "$OUT"
mkdir -p "$OUT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP" 2>/dev/null || { sleep 2; rm -rf "$TMP"; }' EXIT

# Hermetic: the app, WebKit and the notification daemon lookups see only $TMP.
export CREMA_DATA_DIR="$TMP/data" CREMA_CONFIG_DIR="$TMP/config"
export XDG_DATA_HOME="$TMP/xdg/data" XDG_CONFIG_HOME="$TMP/xdg/config" XDG_CACHE_HOME="$TMP/xdg/cache"
export XDG_RUNTIME_DIR="$TMP/xdg/run"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export CREMA_SMOKE_APP="$APP" CREMA_SMOKE_DRIVER="$TOOLS/bin/tauri-driver" CREMA_SMOKE_OUT="$OUT"
export CREMA_SMOKE_FIXTURE="$FIXTURE" CREMA_SMOKE_LONG_FIXTURE="$LONG_FIXTURE"
export CREMA_LOG="${CREMA_LOG:-info}"

xvfb-run --auto-servernum --server-args="-screen 0 1280x860x24" \
  node "$ROOT/scripts/desktop-smoke.mjs"
echo "desktop-smoke: ok; screenshots in ${OUT#"$ROOT"/}/"
