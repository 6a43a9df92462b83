#!/bin/bash
# Entrypoint of the reporter image. Before the daemon (`linkreport run`) starts, the schema
# is brought up to date (`linkreport migrate` is idempotent and safe with several
# reporters starting at once); LINKREPORT_MIGRATE=off leaves that to the operator.
# Any other command (`linkreport report ...`, `bash`) runs as given.
set -euo pipefail
if [ "${1:-}" = linkreport ] && [ "${2:-}" = run ] && [ "${LINKREPORT_MIGRATE:-on}" != off ]; then
  # PostgreSQL may still be starting: retry while it is unavailable (exit 69)
  for attempt in $(seq 30); do
    status=0
    linkreport migrate || status=$?
    [ "$status" = 69 ] || break
    echo "linkreport-entrypoint: PostgreSQL unavailable, retrying ($attempt/30)" >&2
    sleep 2
  done
  [ "$status" = 0 ] || exit "$status"
fi
exec "$@"
