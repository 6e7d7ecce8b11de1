#!/usr/bin/env bash
# Builds Crema's packages into target/packages/ (README "Install"):
#   crema_VERSION_amd64.deb           headless: `crema` + crema.service (cargo-deb)
#   crema-desktop_VERSION_amd64.deb   the desktop app (Tauri bundler)
#   crema-desktop-VERSION-1.x86_64.rpm
#   crema-image_VERSION.tar           the container image (Containerfile), also
#                                     tagged localhost/crema:VERSION in podman
#
# Usage: scripts/package.sh [--profile release|debug] [--no-setup]
#   --profile debug  packages the debug binaries (what CI's package test uses:
#                    scripts/test.sh built them already); default release
#                    (stripped, LTO: Cargo.toml [profile.release]).
#   --no-setup       do not install missing tools (scripts/package-test.sh --ci).
#
# Needs a Debian 12 host (the binaries link its FFmpeg 5.1, and the packages
# declare Debian 12's library packages), root for debootstrap, and the
# package registries. Tools it installs when missing (scripts/setup.sh with
# CREMA_SETUP_PACKAGING=1): podman, buildah, debootstrap, rpm, dpkg-dev and
# cargo-deb (cargo install). The Tauri CLI comes from npm (@tauri-apps/cli,
# pinned below, run with npx).
# Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=release
SETUP=1
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="$2"; shift 2 ;;
    --no-setup) SETUP=0; shift ;;
    *) echo "package: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
case "$PROFILE" in
  release) TAURI_PROFILE=(); OUT_DIR=target/release ;;
  debug) TAURI_PROFILE=(--debug); OUT_DIR=target/debug ;;
  *) echo "package: --profile must be release or debug" >&2; exit 2 ;;
esac

# Pinned so that packages are reproducible from a commit (2.x: see Cargo.toml's tauri).
TAURI_CLI_VERSION=2.12.5
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
PKG=target/packages
CACHE=${CREMA_PACKAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/crema-packaging}
BASE_IMAGE=localhost/crema-base:bookworm-slim
IMAGE=localhost/crema:$VERSION
export PATH="$HOME/.cargo/bin:$PATH"

step_start=0
step() { step_start=$(date +%s); echo "package: $*" >&2; }
took() { echo "package: $1 took $(( $(date +%s) - step_start )) s" >&2; }
total_start=$(date +%s)

if [ "$SETUP" = 1 ]; then
  step "tools"
  CREMA_SETUP_PACKAGING=1 scripts/setup.sh
  took "tools"
fi
mkdir -p "$PKG" "$CACHE"
rm -f "$PKG"/crema_*.deb "$PKG"/crema-desktop_*.deb "$PKG"/crema-desktop-*.rpm "$PKG"/crema-image_*.tar

# 1. The web UI, served by `crema serve` (headless package, image) and
#    embedded in the desktop app.
# Built again only when a UI source is newer than ui/dist (a new ui/dist
# makes cargo embed it again, and relink the desktop binary).
step "web UI (npm ci, vite build)"
if [ ! -f ui/dist/index.html ] || [ -e ui/dist/.crema-fallback ] \
   || [ -n "$(find ui/src ui/public ui/index.html ui/package-lock.json ui/vite.config.* -newer ui/dist/index.html 2>/dev/null | head -1)" ]; then
  if [ ! -d ui/node_modules ]; then npm --prefix ui ci --no-audit --no-fund --loglevel=error; fi
  npm --prefix ui run build --silent >/dev/null
fi
took "web UI"

# 2. The binaries. The desktop build embeds ui/dist.
# Release: both in one cargo run (shared dependencies built once, with one
# feature set). Debug: one run each, as scripts/test.sh builds them, so CI
# reuses its builds.
step "cargo build ($PROFILE): crema, crema-desktop"
if [ "$PROFILE" = release ]; then
  cargo build --locked --release -p crema -p crema-desktop
else
  cargo build --locked -p crema
  cargo build --locked -p crema-desktop
fi
took "cargo build"

# 3. Headless .deb: cargo-deb, dependencies from dpkg-shlibdeps.
step "headless .deb (cargo-deb)"
deb_profile=(); [ "$PROFILE" = debug ] && deb_profile=(--profile dev --fast)
cargo deb -p crema --no-build "${deb_profile[@]}" --output "$PKG/"
took "headless .deb"

# 4. Desktop .deb and .rpm from the binary built above (`tauri bundle`
#    does not build again). AppImage is not built: the bundler downloads its
#    tools (linuxdeploy) from outside the package registries.
step "desktop .deb and .rpm (tauri bundle)"
npx --yes "@tauri-apps/cli@$TAURI_CLI_VERSION" bundle "${TAURI_PROFILE[@]}" --bundles deb,rpm --ci
cp "$OUT_DIR"/bundle/deb/crema-desktop_"$VERSION"_amd64.deb "$PKG/"
cp "$OUT_DIR"/bundle/rpm/crema-desktop-"$VERSION"-1.x86_64.rpm "$PKG/"
took "desktop bundles"

# 5. Container image. The base is Debian 12 made with debootstrap (no
#    registry here); the Rust stage copies the binary built in step 2 on this
#    Debian 12 host (CREMA_PREBUILT; see Containerfile).
step "container image"
packaging/container/base.sh image "$CACHE" "$BASE_IMAGE"
podman build --isolation chroot --format docker --quiet \
  --build-arg BUILD_IMAGE="$BASE_IMAGE" --build-arg BASE_IMAGE="$BASE_IMAGE" \
  --build-arg CREMA_PREBUILT="$OUT_DIR/crema" --build-arg CREMA_GIT_COMMIT="$COMMIT" \
  -f Containerfile -t "$IMAGE" . >/dev/null
podman image prune -f --filter label=crema.stage=build >/dev/null   # the build stage
podman save --quiet --format docker-archive -o "$PKG/crema-image_$VERSION.tar" "$IMAGE"
took "container image"

echo "package: done in $(( $(date +%s) - total_start )) s; artifacts in $PKG/:" >&2
ls -l "$PKG"/ | awk 'NR>1 {printf "  %-40s %6.1f MiB\n", $9, $5/1048576}' >&2
podman image inspect --format '  {{index .RepoTags 0}}: {{.Size}} bytes unpacked' "$IMAGE" >&2
