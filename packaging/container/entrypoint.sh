#!/bin/sh
# The image's entrypoint (under tini): `serve` (the default command) runs
# `crema serve` with its options taken from the environment; anything else
# runs `crema ARGS...` (`keys create NAME`, `encoders`, `--version`, `encode …`).
#
# Environment (README "Install" → "Container image"; each is one `crema
# serve` flag, unset means the flag's default):
#   CREMA_LISTEN          --listen (image default 0.0.0.0:8080)
#   CREMA_WORKERS         --workers
#   CREMA_MAX_ATTEMPTS    --max-attempts
#   CREMA_OUTPUT_DIR      --output-dir
#   CREMA_RETENTION_HOURS --retention-hours
#   CREMA_GRACE_SECONDS   --grace-seconds
#   CREMA_SOURCE_ROOTS    --source-root, one per entry of a colon-separated list
#   CREMA_WEBHOOK_ALLOW   --webhook-allow, one per entry of a comma-separated list
#   CREMA_TLS_CERT, CREMA_TLS_KEY  --tls-cert/--tls-key: PEM files, e.g. mounted secrets
# read by crema itself: CREMA_DATA_DIR (/var/lib/crema, the volume), CREMA_LOG,
# CREMA_FFMPEG_LOG, CREMA_UI_DIR, CREMA_PROFILE_DIR.
set -eu

[ "${1:-}" = "crema" ] && shift
if [ "${1:-serve}" != "serve" ]; then
    exec /usr/bin/crema "$@"
fi
[ $# -gt 0 ] && shift

set -- serve --listen "${CREMA_LISTEN:-0.0.0.0:8080}" "$@"
[ -n "${CREMA_WORKERS:-}" ] && set -- "$@" --workers "$CREMA_WORKERS"
[ -n "${CREMA_MAX_ATTEMPTS:-}" ] && set -- "$@" --max-attempts "$CREMA_MAX_ATTEMPTS"
[ -n "${CREMA_OUTPUT_DIR:-}" ] && set -- "$@" --output-dir "$CREMA_OUTPUT_DIR"
[ -n "${CREMA_RETENTION_HOURS:-}" ] && set -- "$@" --retention-hours "$CREMA_RETENTION_HOURS"
[ -n "${CREMA_GRACE_SECONDS:-}" ] && set -- "$@" --grace-seconds "$CREMA_GRACE_SECONDS"
if [ -n "${CREMA_TLS_CERT:-}" ] || [ -n "${CREMA_TLS_KEY:-}" ]; then
    set -- "$@" --tls-cert "${CREMA_TLS_CERT:-}" --tls-key "${CREMA_TLS_KEY:-}"
fi
old_ifs=$IFS
IFS=:
for root in ${CREMA_SOURCE_ROOTS:-}; do
    [ -n "$root" ] && set -- "$@" --source-root "$root"
done
IFS=,
for cidr in ${CREMA_WEBHOOK_ALLOW:-}; do
    [ -n "$cidr" ] && set -- "$@" --webhook-allow "$cidr"
done
IFS=$old_ifs
exec /usr/bin/crema "$@"
