#!/usr/bin/env bash
# Installs what building and testing Crema needs on Debian/Ubuntu, only
# when it is missing: FFmpeg's libraries and headers (ffmpeg-next links
# them), clang/libclang (bindgen), pkg-config, the ffmpeg/ffprobe command
# line (fixtures, tests and the benchmark's reference runs) and pip (the
# fixtures script fetches real footage from PyPI), openssl (the HTTPS test
# makes a throwaway certificate); the desktop shell's system libraries
# (WebKitGTK 4.1, GTK 3, appindicator, librsvg, libxdo, OpenSSL headers,
# build-essential, file: what Tauri 2 links on Linux; GStreamer's libav and
# "bad" plugins, with which WebKitGTK plays HEVC/H.264 and MSE) and its headless smoke
# test's tools (xvfb, WebKitWebDriver from webkit2gtk-driver, ImageMagick for
# screenshots, xdotool to answer the native close dialog); and what libvmaf-sys
# needs to build libvmaf 2.3.1 from its bundled source for `crema quality`
# (meson, ninja-build, nasm, and xxd: without xxd libvmaf silently leaves its
# built-in VMAF models out, and linking Crema then fails on purpose); python3-venv
# and curl for the API fuzzing step (schemathesis in a virtualenv); postgresql (the
# farm tests start throwaway clusters with its initdb/pg_ctl; no server is enabled). Rust itself comes from
# rustup (https://rustup.rs); this script does not install it.
# Also s3s-fs 0.14.1, the signature-checking S3 server the object-storage
# tests start on loopback (crates/crema-service/tests/service/support/s3s.rs), built
# once (4-5 CPU minutes) into ${CREMA_TOOLS:-$HOME/.cache/crema/tools}/bin and
# reused from there.
# With CREMA_SETUP_PACKAGING=1 (scripts/package.sh) also the packaging tools:
# podman, buildah, debootstrap, rpm, dpkg-dev (dpkg-shlibdeps) and cargo-deb.
set -euo pipefail

need_pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev \
         libswscale-dev libswresample-dev libclang-dev clang pkg-config ffmpeg python3-pip openssl \
         libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev \
         libssl-dev build-essential file gstreamer1.0-libav gstreamer1.0-plugins-bad \
         xvfb webkit2gtk-driver imagemagick xdotool meson ninja-build nasm xxd \
         python3-venv curl postgresql; do
  have_pkg "$p" || need_pkgs+=("$p")
done
if [ "${CREMA_SETUP_PACKAGING:-0}" = 1 ]; then
  for p in podman buildah debootstrap rpm dpkg-dev; do have_pkg "$p" || need_pkgs+=("$p"); done
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust >= 1.94 with rustup first" >&2
  exit 1
fi
if [ "${CREMA_SETUP_PACKAGING:-0}" = 1 ] && ! command -v cargo-deb >/dev/null 2>&1; then
  echo "setup: cargo install cargo-deb (once, a few minutes)" >&2
  cargo install cargo-deb --version '^3' --locked --quiet
fi
# Pinned: s3s-fs 0.15+ needs a newer rustc than rust-toolchain.toml's. Its
# own --locked dependency set, installed outside the repository.
crema_tools="${CREMA_TOOLS:-$HOME/.cache/crema/tools}"
if ! "$crema_tools/bin/s3s-fs" --version 2>/dev/null | grep -q ' 0\.14\.1$'; then
  echo "setup: cargo install s3s-fs 0.14.1 into $crema_tools (once, a few minutes)" >&2
  cargo install s3s-fs --version 0.14.1 --features binary --locked --root "$crema_tools" --quiet
fi
