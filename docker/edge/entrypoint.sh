#!/bin/bash
# shellcheck disable=SC2034  # the *_DIRECTIVE variables are read through ${!v}
# Entrypoint of the edge image: renders the nginx configuration from the environment,
# checks it, and runs nginx in the foreground as PID 1 (the image's STOPSIGNAL is SIGQUIT:
# `docker stop` is nginx's graceful shutdown, in which workers hand their queued click
# records to Redis before they exit). Any other command is run as given.
set -euo pipefail
if [ "${1:-}" != nginx ]; then
  exec "$@"
fi

fail() { echo "linkreport-edge: $*" >&2; exit 64; }
run=/tmp/linkreport-edge
template=${LINKREPORT_NGINX_TEMPLATE:-/etc/linkreport/nginx.conf.template}
mkdir -p "$run"

# The secret goes into secure_link_md5 between double quotes: the reporter's own rules
# (at least 16 characters, no space or quote) keep it from breaking the configuration.
secret=${LINKREPORT_DOWNLOAD_SECRET:-}
[ ${#secret} -ge 16 ] || fail "LINKREPORT_DOWNLOAD_SECRET must be set (at least 16 characters; the reporter's value)"
case $secret in *[[:space:]\"\'\;\\\$]*) fail "LINKREPORT_DOWNLOAD_SECRET must not contain spaces, quotes, ';', '\\' or '\$'" ;; esac

# optional directives: present only when their setting is
LINKREPORT_REDIS_PASSWORD_DIRECTIVE=
if [ -n "${LINKREPORT_REDIS_PASSWORD:-}" ]; then
  case $LINKREPORT_REDIS_PASSWORD in *[\"\\\$]*) fail "LINKREPORT_REDIS_PASSWORD must not contain '\"', '\\' or '\$'" ;; esac
  LINKREPORT_REDIS_PASSWORD_DIRECTIVE="linkreport_redis_password \"$LINKREPORT_REDIS_PASSWORD\";"
fi
LINKREPORT_GEOIP_DIRECTIVE=
if [ -n "${LINKREPORT_GEOIP_DB:-}" ] && [ -e "$LINKREPORT_GEOIP_DB" ]; then
  LINKREPORT_GEOIP_DIRECTIVE="linkreport_geoip_db       $LINKREPORT_GEOIP_DB;"
else
  echo "linkreport-edge: no GeoIP database at '${LINKREPORT_GEOIP_DB:-}': COUNTRY and CITY stay empty" >&2
fi

LINKREPORT_STREAM_MAXLEN=${LINKREPORT_STREAM_MAXLEN:-0}
case $LINKREPORT_STREAM_MAXLEN in *[!0-9]*) fail "LINKREPORT_STREAM_MAXLEN must be a number of entries (0: no bound)" ;; esac

vars=(LINKREPORT_EDGE_LISTEN LINKREPORT_EDGE_WORKERS LINKREPORT_REDIS LINKREPORT_STREAM
      LINKREPORT_STREAM_MAXLEN LINKREPORT_KEY_PREFIX
      LINKREPORT_REDIS_PASSWORD_DIRECTIVE LINKREPORT_GEOIP_DIRECTIVE
      LINKREPORT_REAL_IP_FROM LINKREPORT_DOWNLOAD_SECRET LINKREPORT_REPORTS_DIR)
conf=$(<"$template")
for v in "${vars[@]}"; do
  # quoted pattern and replacement: no glob, and no '&' expansion (bash 5.2's patsub_replacement)
  conf=${conf//"\${$v}"/"${!v-}"}
done
# the rendered file holds the download secret and any Redis password: owner only
(umask 077 && printf '%s\n' "$conf" > "$run/nginx.conf")

# -e: the error log nginx opens before it reads the configuration
nginx -e stderr -t -q -c "$run/nginx.conf"
exec nginx -e stderr -c "$run/nginx.conf" -g 'daemon off;'
