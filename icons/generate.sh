#!/usr/bin/env bash
# Renders icons/crema.svg into the PNGs the Tauri bundle and window use.
# Deterministic: rsvg-convert (Debian: librsvg2-bin) writes 8-bit RGBA PNGs
# (Tauri refuses non-RGBA icons) with no timestamp chunk, so the same SVG
# gives the same bytes. Run it after editing the SVG and commit the PNGs.
set -euo pipefail
cd "$(dirname "$0")"
render() { # SIZE OUT
  rsvg-convert --width "$1" --height "$1" --format png --output "$2" crema.svg
}
render 32 32x32.png
render 128 128x128.png
render 256 128x128@2x.png
render 512 icon.png
