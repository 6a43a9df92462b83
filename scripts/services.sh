#!/usr/bin/env bash
# Starts or stops the servers a test run or the demo needs, all on loopback, each with its
# own data under one run folder:
#   scripts/services.sh start RUNDIR   -> Redis, PostgreSQL (and an SMTP sink), writes RUNDIR/env
#   scripts/services.sh stop RUNDIR
# Ports come from the environment (LR_REDIS_PORT, LR_PG_PORT, LR_SMTP_PORT) so the tests
# and the demo can run side by side. RUNDIR/env is meant to be sourced by callers.
set -euo pipefail
cmd=${1:?usage: services.sh start|stop RUNDIR}
run=${2:?usage: services.sh start|stop RUNDIR}
redis_port=${LR_REDIS_PORT:-6390}
pg_port=${LR_PG_PORT:-5440}
smtp_port=${LR_SMTP_PORT:-2525}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)

start() {
  mkdir -p "$run"
  run=$(cd "$run" && pwd)

  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --daemonize yes --pidfile "$run/redis.pid" --logfile "$run/redis.log" --dir "$run"

  # PostgreSQL refuses to run as root: the cluster belongs to the postgres user and lives
  # in a folder that user can reach whatever the checkout's permissions are (a checkout
  # under a mode-700 folder such as mktemp's is not). The postgres user is handed that
  # folder's real path, never a path through the checkout, and runs from /.
  pgdata="$run/pg"
  if [ "$(id -u)" = 0 ]; then
    pgtmp=$(mktemp -d /tmp/linkreport-pg.XXXXXX)
    chmod 755 "$pgtmp"
    chown postgres: "$pgtmp"
    ln -sfn "$pgtmp" "$pgdata"
    pgdata=$pgtmp
    as_pg=(env -C / runuser -u postgres --)
  else
    mkdir -p "$pgdata"
    as_pg=()
  fi
  "${as_pg[@]}" "$pgbin/initdb" -D "$pgdata/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$run/initdb.log"
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdata/data" -l "$pgdata/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$pgdata -c fsync=off" start >/dev/null
  "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres linkreport

  /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Debugging \
    >"$run/smtp.log" 2>&1 &
  echo $! > "$run/smtp.pid"

  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  cat > "$run/env" <<ENV
export LINKREPORT_DB='postgresql://postgres@127.0.0.1:$pg_port/linkreport'
export LINKREPORT_REDIS='127.0.0.1:$redis_port'
export LR_REDIS_PORT=$redis_port
export LR_PG_PORT=$pg_port
export LR_SMTP_PORT=$smtp_port
export LR_RUN_DIR='$run'
export LR_PG_DIR='$pgdata'
ENV
}

stop() {
  [ -d "$run" ] || return 0
  [ -f "$run/redis.pid" ] && kill "$(cat "$run/redis.pid")" 2>/dev/null || true
  [ -f "$run/smtp.pid" ] && kill "$(cat "$run/smtp.pid")" 2>/dev/null || true
  if [ -d "$run/pg/data" ]; then
    if [ "$(id -u)" = 0 ]; then
      env -C / runuser -u postgres -- "$pgbin/pg_ctl" -D "$(readlink -f "$run/pg")/data" -m fast -w stop >/dev/null 2>&1 || true
      rm -rf "$(readlink -f "$run/pg")"
    else
      "$pgbin/pg_ctl" -D "$run/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
  fi
  rm -rf "$run"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: services.sh start|stop RUNDIR" >&2; exit 64 ;;
esac
