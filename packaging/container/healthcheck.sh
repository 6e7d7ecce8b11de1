#!/bin/sh
# HEALTHCHECK of the image: GET /readyz on the port of $CREMA_LISTEN (200 when
# the queue, database and disk are fine; 503 while draining or not ready).
# HTTPS when CREMA_TLS_CERT is set (-k: the certificate names the host, not 127.0.0.1).
set -eu
port=${CREMA_LISTEN:-0.0.0.0:8080}
port=${port##*:}
scheme=http
[ -n "${CREMA_TLS_CERT:-}" ] && scheme=https
exec curl -fsS -k -o /dev/null --max-time 4 "$scheme://127.0.0.1:$port/readyz"
