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
#   CREMA_API_KEY_FILE    a file holding an API key (a mounted secret, e.g.
#                         /run/secrets/crema_api_key): imported before the
#                         server starts (`crema keys import`; a no-op when
#                         already present, refused when revoked)
#   CREMA_API_KEY         the key itself (an orchestrator's secret variable):
#                         imported the same way, then removed from the
#                         server's environment
#   CREMA_API_KEY_NAME    the name they are stored under (default "container")
# read by crema itself: CREMA_DATA_DIR (/var/lib/crema, the volume), CREMA_LOG,
# CREMA_FFMPEG_LOG, CREMA_UI_DIR, CREMA_PROFILE_DIR.
set -eu

[ "${1:-}" = "crema" ] && shift
if [ "${1:-serve}" != "serve" ]; then
    exec /usr/bin/crema "$@"
fi
[ $# -gt 0 ] && shift

key_name=${CREMA_API_KEY_NAME:-container}
if [ -n "${CREMA_API_KEY_FILE:-}" ]; then
    /usr/bin/crema keys import "$key_name" --key-file "$CREMA_API_KEY_FILE"
fi
if [ -n "${CREMA_API_KEY:-}" ]; then
    printf '%s\n' "$CREMA_API_KEY" | /usr/bin/crema keys import "$key_name" --key-file -
fi
unset CREMA_API_KEY

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
