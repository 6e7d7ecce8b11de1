#!/usr/bin/env bash
# The README's first command: install what is missing, build Crema, prepare
# real footage and encode it into an HEVC file and an H.264 HLS ladder with
# progress bars. Outputs land in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
bash fixtures/prepare.sh >/dev/null
cargo build --release --locked --bin crema
clip=fixtures/cache/prores_hq_1080p25_10bit.mov
mkdir -p out
echo "== probe"
target/release/crema probe "$clip"
echo "== encode: HEVC file + H.264 HLS ladder (1080/720/480/360) with audio, one decode"
target/release/crema encode "$clip" --profile sophon-cortado --audio \
  --hls --file --renditions 1080,720,480,360 --segment-seconds 2 --keep-mp4 720 \
  --output-dir out --overwrite
echo "== check the HLS package"
target/release/crema hls check "out/$(basename "${clip%.*}").sophon-cortado.hls"
