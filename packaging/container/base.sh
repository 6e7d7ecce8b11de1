#!/usr/bin/env bash
# A clean Debian 12 root without any registry (scripts/package.sh and
# scripts/package-test.sh):
#   base.sh tarball CACHE       → prints CACHE/bookworm-minbase.tar, made once
#                                 with `debootstrap --variant=minbase bookworm`
#   base.sh image CACHE NAME    → imports it into podman as NAME (once), with
#                                 what debian:bookworm-slim leaves out removed
#                                 (docs, man pages, locales; dpkg-slim.cfg)
# The mirror is debootstrap's default unless CREMA_DEBIAN_MIRROR is set.
# Needs root (debootstrap).
set -euo pipefail
what=$1 cache=$2
tarball=$cache/bookworm-minbase.tar
if [ ! -s "$tarball" ]; then
  mkdir -p "$cache"
  root=$(mktemp -d "$cache/root.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "base: debootstrap --variant=minbase bookworm (once; cached in $tarball)" >&2
  debootstrap --variant=minbase bookworm "$root" ${CREMA_DEBIAN_MIRROR:+"$CREMA_DEBIAN_MIRROR"} >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  chmod 0755 "$root"   # mktemp made it 0700: "/" of the root must be searchable
  tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$root"
  trap - EXIT
fi
case "$what" in
  tarball) echo "$tarball" ;;
  image)
    name=$3
    if ! podman image exists "$name"; then
      slim=$(mktemp -d "$cache/slim.XXXXXX")
      trap 'rm -rf "$slim"' EXIT
      tar -C "$slim" -xf "$tarball"
      chmod 0755 "$slim"
      here=$(dirname "$0")
      install -m 0644 "$here/dpkg-slim.cfg" "$slim/etc/dpkg/dpkg.cfg.d/crema-slim"
      find "$slim/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
      rm -rf "$slim"/usr/share/man/* "$slim"/usr/share/info/* "$slim"/usr/share/locale/*
      tar -C "$slim" -c . | podman import --quiet - "$name" >/dev/null
      echo "base: imported $name" >&2
    fi
    ;;
  *) echo "base: usage: base.sh tarball|image CACHE [NAME]" >&2; exit 2 ;;
esac
