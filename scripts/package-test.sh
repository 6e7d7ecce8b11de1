#!/usr/bin/env bash
# Tests Crema's packages the way a user installs them (README "Install"):
#  1. the headless .deb into a clean Debian 12 root (debootstrap, chroot):
#     `apt-get install ./crema_*.deb` resolves every dependency from Debian,
#     no GUI library comes with it, `crema --version` runs, ldd finds every
#     library, the service user and /var/lib/crema exist, the unit passes
#     `systemd-analyze verify`, and the unit's command (options from
#     /etc/default/crema, as the crema user) serves /readyz and a key made
#     with `crema keys create` (the documented first start);
#  2. the desktop .deb into the same root: dependencies resolve (WebKitGTK,
#     GStreamer libav/bad), `crema-desktop --version` runs, ldd, desktop entry;
#  3. "Open with Crema" with the built desktop binary under Xvfb and a D-Bus
#     session: a file named at start is queued; a second launch with another
#     file hands it to the running app (single instance) and exits 0;
#  4. the .rpm's metadata (no RPM distribution to install it into here);
#  5. the image: user, environment, health check, no NVIDIA library baked
#     in; `crema --version`, `crema encoders` (NVENC compiled in, no device),
#     an encode of a short clip inside it, and the health check against
#     `crema serve` started by the entrypoint.
#
# Usage: scripts/package-test.sh [--profile release|debug] [--ci] [--no-build]
#   --ci        (scripts/test.sh) debug profile, reusing the test builds;
#               runs when root and the tools are present, else skips saying
#               why. CREMA_PACKAGE_TEST=1 forces it (installing the tools),
#               CREMA_PACKAGE_TEST=0 skips it.
#   --no-build  test what is in target/packages/.
# Needs root and the Debian package mirror. Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

PROFILE=release CI_MODE=0 BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="$2"; shift 2 ;;
    --ci) CI_MODE=1; PROFILE=debug; shift ;;
    --no-build) BUILD=0; shift ;;
    *) echo "package-test: unknown argument $1" >&2; exit 2 ;;
  esac
done

# CI (scripts/test.sh): the package test runs on the debug build only when
# it can. CREMA_PACKAGE_TEST=1 asks for it (missing tools are installed; it
# fails without root), =0 skips it; unset, it runs when root and the tools are
# already there, and otherwise says plainly why it skipped.
CI_SETUP=0
if [ "$CI_MODE" = 1 ]; then
  want=${CREMA_PACKAGE_TEST:-auto}
  missing=()
  for t in podman buildah debootstrap rpm dpkg-shlibdeps cargo-deb npx chroot; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  case "$want" in
    0) echo "package-test: SKIPPED: CREMA_PACKAGE_TEST=0"; exit 0 ;;
    1) [ ${#missing[@]} -gt 0 ] && CI_SETUP=1
       if [ "$(id -u)" -ne 0 ]; then
         echo "package-test: FAILED: CREMA_PACKAGE_TEST=1 but not root (debootstrap and chroot need root)"; exit 1
       fi ;;
    auto)
      if [ "$(id -u)" -ne 0 ]; then
        echo "package-test: SKIPPED: not root (debootstrap and chroot need root)"; exit 0
      fi
      if [ ${#missing[@]} -gt 0 ]; then
        echo "package-test: SKIPPED: packaging tools not installed: ${missing[*]} (CREMA_PACKAGE_TEST=1 installs them and runs it)"
        exit 0
      fi ;;
    *) echo "package-test: CREMA_PACKAGE_TEST must be 0 or 1" >&2; exit 2 ;;
  esac
fi

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
PKG=target/packages
CACHE=${CREMA_PACKAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/crema-packaging}
IMAGE=localhost/crema:$VERSION
MEDIA=${CREMA_FIXTURES:-fixtures/cache}/h264_720p_2s.mp4
WORK=target/package-test
ROOT=$WORK/root
PORT=$((20000 + RANDOM % 20000))
fails=0 passes=0
ok() { passes=$((passes + 1)); echo "package-test: ok: $*"; }
bad() { fails=$((fails + 1)); echo "package-test: FAILED: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
step_start=0
step() { step_start=$(date +%s); echo "package-test: $*" >&2; }
took() { echo "package-test: $1 took $(( $(date +%s) - step_start )) s" >&2; }

SERVER_PID="" CTR="" SERVE_CTR=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill -- -"$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [ -n "$CTR" ] && buildah rm "$CTR" >/dev/null 2>&1
  [ -n "$SERVE_CTR" ] && buildah rm "$SERVE_CTR" >/dev/null 2>&1
  mountpoint -q "$ROOT/proc" 2>/dev/null && umount "$ROOT/proc"
  mountpoint -q "$ROOT/dev/pts" 2>/dev/null && umount "$ROOT/dev/pts"
  mountpoint -q "$ROOT/var/cache/apt/archives" 2>/dev/null && umount "$ROOT/var/cache/apt/archives"
  true
}
trap cleanup EXIT

if [ "$BUILD" = 1 ]; then
  setup=(); [ "$CI_MODE" = 1 ] && [ "$CI_SETUP" = 0 ] && setup=(--no-setup)
  scripts/package.sh --profile "$PROFILE" "${setup[@]}"
fi
headless=$(ls "$PKG"/crema_"$VERSION"-*_amd64.deb)
desktop=$(ls "$PKG"/crema-desktop_"$VERSION"_*.deb)
rpmfile=$(ls "$PKG"/crema-desktop-"$VERSION"-*.rpm)

# --- a clean Debian 12 root --------------------------------------------------
step "clean Debian 12 root"
cleanup
rm -rf "$ROOT" && mkdir -p "$ROOT" "$CACHE/apt-archives"
tar -C "$ROOT" -xf "$(packaging/container/base.sh tarball "$CACHE")"
chmod 0755 "$ROOT"
# The suites of an installed Debian 12 (updates and security too): the host's
# sources when it is Debian 12, else debootstrap's own (bookworm main).
if grep -q '^VERSION_CODENAME=bookworm' /etc/os-release && [ -e /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/" && rm -f "$ROOT/etc/apt/sources.list"
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc"
mount --bind "$CACHE/apt-archives" "$ROOT/var/cache/apt/archives"   # downloads kept between runs
mkdir -p "$ROOT/tmp/pkgs" && cp "$headless" "$desktop" "$ROOT/tmp/pkgs/"
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
in_root apt-get -o APT::Sandbox::User=root update -qq
# A server has systemd: the package's postinst runs deb-systemd-helper as it
# would there (systemd itself does not run in the chroot), and the unit can
# be verified inside the root.
in_root env DEBIAN_FRONTEND=noninteractive apt-get -o APT::Sandbox::User=root install -y -qq --no-install-recommends systemd >"$WORK/apt-systemd.log" 2>&1 \
  || { tail -20 "$WORK/apt-systemd.log"; bad "apt-get install systemd in the clean root"; }
took "clean root"

# --- headless ----------------------------------------------------------------
step "headless .deb in the clean root"
hl=/tmp/pkgs/$(basename "$headless")
if in_root env DEBIAN_FRONTEND=noninteractive apt-get -o APT::Sandbox::User=root install -y -qq --no-install-recommends "$hl" >"$WORK/apt-headless.log" 2>&1; then
  ok "apt-get install ./$(basename "$headless") resolved every dependency from Debian"
else
  tail -20 "$WORK/apt-headless.log"; bad "apt-get install of the headless .deb"
fi
version=$(in_root crema --version 2>&1 || true)
echo "$version" | sed 's/^/    /'
check "crema --version names the commit, FFmpeg, x264, x265" \
  bash -c '[[ "$1" == *"(commit "* && "$1" == *"libavcodec 59."* && "$1" == *"x264 core "* && "$1" == *"x265 3."* ]]' _ "$version"
check "ldd finds every library of /usr/bin/crema" bash -c '! chroot "$1" ldd /usr/bin/crema | grep -q "not found"' _ "$ROOT"
check "no GUI library came with the headless package" \
  bash -c '! chroot "$1" dpkg-query -W -f="\${Status}\n" libgtk-3-0 libwebkit2gtk-4.1-0 2>/dev/null | grep -q "install ok installed"' _ "$ROOT"
check "system user crema, /var/lib/crema 0750 crema:crema" \
  bash -c '[ "$(chroot "$1" stat -c "%U:%G %a" /var/lib/crema)" = "crema:crema 750" ] && chroot "$1" getent passwd crema | grep -q nologin' _ "$ROOT"
check "unit and options file installed" test -f "$ROOT/lib/systemd/system/crema.service" -a -f "$ROOT/etc/default/crema"
check "the web UI is installed for crema serve" test -f "$ROOT/usr/share/crema/ui/index.html"
check "systemd-analyze verify crema.service (in the root)" in_root systemd-analyze verify crema.service
score=$(in_root systemd-analyze security --offline=true crema.service 2>/dev/null | tail -1 || true)
echo "    systemd-analyze security: ${score:-n/a}"
# The documented first start, then the unit's ExecStart as the crema user.
key=$(in_root runuser -u crema -- env CREMA_DATA_DIR=/var/lib/crema crema keys create package-test 2>/dev/null || true)
check "crema keys create (as crema) printed a key" bash -c '[[ "$1" == crema_sk_* ]]' _ "$key"
sed -i "s/^CREMA_LISTEN=.*/CREMA_LISTEN=127.0.0.1:$PORT/" "$ROOT/etc/default/crema"
setsid chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin runuser -u crema -- sh -c \
  'set -a; . /etc/default/crema; set +a; export CREMA_DATA_DIR=/var/lib/crema; exec crema serve --listen "$CREMA_LISTEN" $CREMA_OPTS' \
  >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
ready=0
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
check "crema serve (the unit's command) answers /readyz" test "$ready" = 1
code_key=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "http://127.0.0.1:$PORT/v1/jobs" || true)
code_none=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/jobs" || true)
check "GET /v1/jobs: 200 with the key, 401 without ($code_key, $code_none)" test "$code_key:$code_none" = "200:401"
kill -- -"$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
took "headless"

# --- desktop -------------------------------------------------------------------
step "desktop .deb in the same root"
dt=/tmp/pkgs/$(basename "$desktop")
if in_root env DEBIAN_FRONTEND=noninteractive apt-get -o APT::Sandbox::User=root install -y -qq --no-install-recommends "$dt" >"$WORK/apt-desktop.log" 2>&1; then
  ok "apt-get install ./$(basename "$desktop") resolved every dependency from Debian"
else
  tail -20 "$WORK/apt-desktop.log"; bad "apt-get install of the desktop .deb"
fi
dversion=$(in_root crema-desktop --version 2>&1 || true)
check "crema-desktop --version (no display needed)" bash -c '[[ "$1" == "crema-desktop "*"(commit "*"x265 "* ]]' _ "$dversion"
check "ldd finds every library of /usr/bin/crema-desktop" bash -c '! chroot "$1" ldd /usr/bin/crema-desktop | grep -q "not found"' _ "$ROOT"
check "GStreamer libav and bad plugins installed (playback in the window)" \
  bash -c 'chroot "$1" dpkg-query -W gstreamer1.0-libav gstreamer1.0-plugins-bad >/dev/null' _ "$ROOT"
entry=$ROOT/usr/share/applications/crema-desktop.desktop
check "desktop entry: Exec with %F, video MIME types, icon" \
  bash -c 'grep -q "^Exec=crema-desktop %F" "$1" && grep -q "^MimeType=.*video/quicktime;.*video/mp4;" "$1" && grep -q "^Icon=crema-desktop" "$1"' _ "$entry"
check "icons installed" test -f "$ROOT/usr/share/icons/hicolor/128x128/apps/crema-desktop.png"
took "desktop"

# --- Open with Crema (host, the built binary) --------------------------------
step "Open with Crema: files on the command line, single instance"
bin_dir=target/release; [ "$PROFILE" = debug ] && bin_dir=target/debug
if command -v Xvfb >/dev/null && command -v dbus-run-session >/dev/null && [ -x "$bin_dir/crema-desktop" ]; then
  ow=$(mktemp -d "$PWD/$WORK/open.XXXXXX")
  media_dir=$(cd "$(dirname "$MEDIA")" && pwd -P)
  cat >"$ow/run.sh" <<EOS
export CREMA_DATA_DIR="$ow/data" CREMA_CONFIG_DIR="$ow/config" DISPLAY=:$((PORT % 1000 + 100))
Xvfb "\$DISPLAY" -screen 0 1280x800x24 >/dev/null 2>&1 & xvfb=\$!
sleep 1
cd "$media_dir"
"$PWD/$bin_dir/crema-desktop" h264_720p_2s.mp4 >"$ow/first.log" 2>&1 & first=\$!
for _ in \$(seq 1 150); do grep -q "queued .*h264_720p_2s.mp4 as job_" "$ow/first.log" && break; sleep 0.2; done
timeout 60 "$PWD/$bin_dir/crema-desktop" sd_480p_2s.mp4 >"$ow/second.log" 2>&1; echo "second launch exit \$?" >"$ow/second.rc"
for _ in \$(seq 1 100); do grep -q "queued .*sd_480p_2s.mp4 as job_" "$ow/first.log" && break; sleep 0.2; done
kill \$first; wait \$first; kill \$xvfb
EOS
  timeout 120 dbus-run-session -- bash "$ow/run.sh" >/dev/null 2>&1 || true
  check "a file named at start is queued" grep -q "queued $media_dir/h264_720p_2s.mp4 as job_" "$ow/first.log"
  check "a second launch hands its file to the running app and exits 0" \
    bash -c 'grep -q "second launch exit 0" "$1/second.rc" && grep -q "queued $2/sd_480p_2s.mp4 as job_" "$1/first.log"' _ "$ow" "$media_dir"
else
  echo "package-test: Open with Crema SKIPPED: needs Xvfb, dbus-run-session and $bin_dir/crema-desktop"
fi
took "open with"

# --- rpm -------------------------------------------------------------------------
step ".rpm metadata"
requires=$(rpm -qpR "$rpmfile" 2>/dev/null || true)
check "rpm requires FFmpeg 5.1 sonames, WebKitGTK 4.1, GStreamer libav/bad" \
  bash -c 'for r in "libavcodec.so.59()(64bit)" "libwebkit2gtk-4.1.so.0()(64bit)" gstreamer1-plugin-libav plugins-bad; do grep -qF "$r" <<<"$1" || exit 1; done' _ "$requires"
check "rpm holds the binary and the desktop entry" \
  bash -c 'l=$(rpm -qpl "$1"); grep -qx /usr/bin/crema-desktop <<<"$l" && grep -qx /usr/share/applications/crema-desktop.desktop <<<"$l"' _ "$rpmfile"
took "rpm"

# --- container image ---------------------------------------------------------------
step "container image"
cfg=$(podman image inspect --format '{{.Config.User}}|{{json .Config.Env}}|{{json .Config.Healthcheck}}|{{json .Config.Entrypoint}}|{{json .Config.Volumes}}' "$IMAGE")
check "image: USER 10001, NVIDIA_DRIVER_CAPABILITIES, HEALTHCHECK, tini, volume" \
  bash -c '[[ "$1" == 10001:10001\|* && "$1" == *NVIDIA_DRIVER_CAPABILITIES=video,compute,utility* && "$1" == *crema-healthcheck* && "$1" == *tini* && "$1" == */var/lib/crema* ]]' _ "$cfg"
CTR=$(buildah from --quiet "$IMAGE")
brun() { buildah run --isolation chroot "$CTR" -- "$@"; }
iversion=$(brun crema --version 2>&1 || true)
check "crema --version in the image" bash -c '[[ "$1" == *"(commit "*"libavcodec 59."* ]]' _ "$iversion"
check "no NVIDIA driver library in the image" bash -c '! buildah run --isolation chroot "$1" -- sh -c "ls /usr/lib/x86_64-linux-gnu" | grep -Eq "^lib(cuda|nvidia-encode|nvcuvid)"' _ "$CTR"
encoders=$(brun crema encoders 2>&1 || true)
echo "$encoders" | sed 's/^/    /'
# `crema encoders` lists the HEVC encoder of each back-end: NVENC is compiled
# into Debian's FFmpeg ("no CUDA device", not "not in this FFmpeg build").
check "crema encoders: hevc_nvenc present in FFmpeg, no CUDA device here" \
  grep -Eq "^nvenc +no +hevc_nvenc: no CUDA device" <<<"$encoders"
# /tmp: buildah run mounts a fresh volume over /var/lib/crema.
buildah copy --quiet --chown 10001:10001 "$CTR" "$MEDIA" /tmp/clip.mp4 >/dev/null
t0=$(date +%s)
if brun crema encode /tmp/clip.mp4 --profile sophon-espresso -o /tmp/out.mp4 --json >"$WORK/image-encode.log" 2>&1; then
  ok "crema encode of a 2 s clip inside the image ($(( $(date +%s) - t0 )) s)"
else
  tail -5 "$WORK/image-encode.log"; bad "crema encode inside the image"
fi
check "the image's output is HEVC" bash -c 'buildah run --isolation chroot "$1" -- crema probe /tmp/out.mp4 --json | grep -q "\"codec\": *\"hevc\""' _ "$CTR"
# The default command (entrypoint → crema serve, options from CREMA_*), then
# the HEALTHCHECK command against it.
# An API key handed in as a mounted secret (CREMA_API_KEY_FILE), as a
# deployment would: made here, never read back from the image.
SERVE_CTR=$(buildah from --quiet "$IMAGE")
secret_key="crema_sk_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$secret_key" >"$WORK/api_key" && chmod 0600 "$WORK/api_key"
buildah copy --quiet --chown 10001:10001 "$SERVE_CTR" "$WORK/api_key" /run/secrets/crema_api_key >/dev/null
setsid buildah run --isolation chroot --env CREMA_LISTEN="127.0.0.1:$PORT" --env CREMA_WORKERS=1 \
  --env CREMA_API_KEY_FILE=/run/secrets/crema_api_key "$SERVE_CTR" -- \
  /usr/bin/tini -- /usr/bin/crema-entrypoint serve >"$WORK/image-serve.log" 2>&1 &
SERVER_PID=$!
healthy=0
for _ in $(seq 1 100); do
  if buildah run --isolation chroot --env CREMA_LISTEN="0.0.0.0:$PORT" "$CTR" -- crema-healthcheck 2>/dev/null; then healthy=1; break; fi
  sleep 0.2
done
check "HEALTHCHECK (crema-healthcheck → /readyz) passes against the entrypoint's crema serve" test "$healthy" = 1
check "the entrypoint passed CREMA_LISTEN to crema serve" grep -q "listening on http://127.0.0.1:$PORT" "$WORK/image-serve.log"
code_key=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $secret_key" "http://127.0.0.1:$PORT/v1/jobs" || true)
check "the key from CREMA_API_KEY_FILE (a mounted secret) is accepted ($code_key)" test "$code_key" = 200
check "the key is not in the server's log" bash -c '! grep -qF "${1#crema_sk_}" "$2"' _ "$secret_key" "$WORK/image-serve.log"
kill -- -"$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
took "image"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
