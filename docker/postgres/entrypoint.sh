#!/bin/bash
# First start into an empty PGDATA: initdb with POSTGRES_USER as the superuser and
# POSTGRES_PASSWORD (required; scram-sha-256 over TCP, trust on the container's own unix
# socket), then POSTGRES_DB created in single-user mode (no server listening meanwhile).
# Then the command runs (`postgres ...` by default), as the official image does.
set -euo pipefail
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    # an identifier in double quotes, its own quotes doubled
    echo "CREATE DATABASE \"${db//\"/\"\"}\" OWNER \"${user//\"/\"\"}\"" |
      postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  echo "docker-entrypoint: database cluster created, database \"$db\" owned by \"$user\""
fi
exec "$@"
