#!/usr/bin/env bash
# make docker-test: the deployment smoke test. Builds the edge and reporter images, runs
# docker/compose.yaml (edge, reporter, Redis, PostgreSQL) with the host's network only
# (every packet on loopback, no bridge network) on non-default ports, taps a link and
# follows the click into PostgreSQL, into a report written inside the reporter container
# and out again through the edge's signed download location.
#   - installs what it lacks from Debian (docker.io, docker-compose; debootstrap when offline)
#   - starts dockerd (--bridge=none --iptables=false) when no daemon answers, and stops it
#     at the end only then
#   - with no image registry in reach (the usual case here) the base image is built from
#     Debian's packages (scripts/docker-base.sh) and so are Redis and PostgreSQL images
#     (docker/redis, docker/postgres) that compose.yaml is pointed at
#   - fresh volumes; containers and volumes it created are removed on exit, also on
#     failure (after printing the containers' logs); images are kept as the build cache
# Ports: DOCKER_TEST_EDGE_PORT (18090), DOCKER_TEST_REDIS_PORT (16390),
# DOCKER_TEST_PG_PORT (15440). DOCKER_TEST_OFFLINE=1 skips the registry probe.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$(date +%s)

edge_port=${DOCKER_TEST_EDGE_PORT:-18090}
redis_port=${DOCKER_TEST_REDIS_PORT:-16390}
pg_port=${DOCKER_TEST_PG_PORT:-15440}
project=linkreport-smoke
logs="$root/build/docker-test"
geoip_dir="$root/../shared/testdata/maxmind"
company=ZcSmoke01
long_url="https://shop.smoke.example/sale?utm_source=sms"
ua='Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1'
client_ip=81.2.69.160   # London, United Kingdom in MaxMind's test database

passed=0
say() { echo "docker-test: $*"; }
ok() { passed=$((passed + 1)); say "ok $passed - $*"; }
fail() { say "FAILED: $*" >&2; exit 1; }

rm -rf "$logs"
mkdir -p "$logs"
[ -s "$geoip_dir/GeoIP2-City-Test.mmdb" ] || fail "no $geoip_dir/GeoIP2-City-Test.mmdb (the shared/ folder beside the checkout)"
geoip_dir=$(cd "$geoip_dir" && pwd)

# --- tools --------------------------------------------------------------------------
missing=()
command -v docker >/dev/null && command -v dockerd >/dev/null || missing+=(docker.io)
if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
else
  compose_cmd=(docker-compose)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
fi
for tool in curl openssl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$logs/apt.log" 2>&1 ||
    { tail -n 20 "$logs/apt.log"; fail "apt-get install ${missing[*]}"; }
fi

# --- the daemon -----------------------------------------------------------------------
dockerd_pid=
compose_up=
compose() { "${compose_cmd[@]}" --env-file "$logs/compose.env" -p "$project" -f docker/compose.yaml "$@"; }

cleanup() {
  local status=$?
  set +e
  if [ -n "$compose_up" ]; then
    if [ "$status" != 0 ]; then
      say "containers and their logs:"
      compose ps
      compose logs --no-color --tail=60
    fi
    compose down -v --remove-orphans >"$logs/down.log" 2>&1 && say "containers and volumes removed"
  fi
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    say "dockerd (pid $dockerd_pid, started here) stopped"
  fi
  say "took $(( $(date +%s) - started ))s"
  [ "$status" = 0 ] || say "$passed passed, 1 failed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! docker info >/dev/null 2>&1; then
  say "starting dockerd --bridge=none --iptables=false (log: $logs/dockerd.log)"
  dockerd --bridge=none --iptables=false >"$logs/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || { tail -n 20 "$logs/dockerd.log"; dockerd_pid=; fail "dockerd exited"; }
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -n 20 "$logs/dockerd.log"; fail "dockerd did not answer in 60s"; }
fi

# --- images ---------------------------------------------------------------------------
build() { # TAG DOCKERFILE, on $base
  local t0
  t0=$(date +%s)
  docker build --network host --build-arg "BASE_IMAGE=$base" -f "$2" -t "$1" . >"$logs/build-${1//[\/:]/-}.log" 2>&1 ||
    { tail -n 30 "$logs/build-${1//[\/:]/-}.log"; fail "docker build $1"; }
  say "built $1 in $(( $(date +%s) - t0 ))s"
}

if [ "${DOCKER_TEST_OFFLINE:-0}" != 1 ] && timeout 30 docker pull -q debian:bookworm-slim >"$logs/pull.log" 2>&1; then
  say "an image registry answers: official base, Redis and PostgreSQL images"
  base=debian:bookworm-slim
  redis_image=redis:7.0-bookworm
  postgres_image=postgres:15-bookworm
  docker pull -q "$redis_image" >/dev/null && docker pull -q "$postgres_image" >/dev/null || fail "docker pull"
else
  say "no image registry in reach: base image from Debian's packages (scripts/docker-base.sh)"
  base=linkreport/debian:bookworm-slim
  t0=$(date +%s)
  bash scripts/docker-base.sh "$base"
  say "base image ready in $(( $(date +%s) - t0 ))s"
  redis_image=linkreport/redis-local:7.0
  postgres_image=linkreport/postgres-local:15
  build "$redis_image" docker/redis/Dockerfile
  build "$postgres_image" docker/postgres/Dockerfile
fi
build linkreport/edge:latest docker/edge/Dockerfile
build linkreport/reporter:latest docker/reporter/Dockerfile

# --- the pipeline, from fresh volumes -------------------------------------------------
secret=$(openssl rand -hex 24)
cat > "$logs/compose.env" <<ENV
BASE_IMAGE=$base
REDIS_IMAGE=$redis_image
POSTGRES_IMAGE=$postgres_image
LINKREPORT_EDGE_IMAGE=linkreport/edge:latest
LINKREPORT_REPORTER_IMAGE=linkreport/reporter:latest
EDGE_LISTEN=127.0.0.1:$edge_port
REDIS_PORT=$redis_port
POSTGRES_PORT=$pg_port
POSTGRES_PASSWORD=$(openssl rand -hex 12)
LINKREPORT_BASE_URL=http://127.0.0.1:$edge_port
LINKREPORT_DOWNLOAD_BASE_URL=http://127.0.0.1:$edge_port/reports
LINKREPORT_DOWNLOAD_SECRET=$secret
LINKREPORT_MAIL_FROM=reports@smoke.example
LINKREPORT_SMTP_URL=smtp://127.0.0.1:25
LINKREPORT_SMTP_TLS=
LINKREPORT_SMTP_USER=
LINKREPORT_SMTP_PASSWORD=
GEOIP_DIR=$geoip_dir
GEOIP_FILE=GeoIP2-City-Test.mmdb
REAL_IP_FROM=127.0.0.1
STREAM_MAXLEN=1000000
ENV
# the file alone configures compose: a value in the caller's environment would win
while IFS='=' read -r name _; do unset "$name"; done < "$logs/compose.env"

for port in "$edge_port" "$redis_port" "$pg_port"; do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && fail "port $port on 127.0.0.1 is taken"
done
compose_up=1
compose down -v --remove-orphans >/dev/null 2>&1 || true   # leftovers of an interrupted run
compose up -d --no-build >"$logs/up.log" 2>&1 || { cat "$logs/up.log"; fail "compose up"; }

services=(redis postgres reporter edge)
declare -A cid
for s in "${services[@]}"; do cid[$s]=$(compose ps -q "$s"); [ -n "${cid[$s]}" ] || fail "no $s container"; done
deadline=$(( $(date +%s) + 180 ))
for s in "${services[@]}"; do
  until [ "$(docker inspect -f '{{.State.Health.Status}}' "${cid[$s]}")" = healthy ]; do
    [ "$(docker inspect -f '{{.State.Running}}' "${cid[$s]}")" = true ] || fail "$s exited"
    [ "$(date +%s)" -lt "$deadline" ] || fail "$s not healthy within 180s"
    sleep 1
  done
done
ok "all four containers healthy (their own health checks)"

for s in "${services[@]}"; do
  [ "$(docker inspect -f '{{.HostConfig.NetworkMode}}' "${cid[$s]}")" = host ] || fail "$s is not on the host network"
  uids=$(docker top "${cid[$s]}" -o pid,uid | awk 'NR > 1 { print $2 }' | sort -u | tr '\n' ' ')
  [ -n "$uids" ] && ! grep -qw 0 <<<"$uids" || fail "$s runs a process as root (uids: $uids)"
done
bridges=$(docker network ls --filter driver=bridge -q)
[ -z "$bridges" ] || fail "a bridge network exists: $(docker network ls --filter driver=bridge)"
ok "every container on the host network, every process non-root, no bridge network"

rexec() { compose exec -T reporter "$@"; }
rexec linkreport company create --id "$company" --name "Smoke Test Ltd" --timezone Asia/Kolkata \
  --owner-email owner@smoke.example >/dev/null
links=$(rexec linkreport link create --company "$company" --long-url "$long_url" --campaign "Smoke" \
  --template-id 1107 --channel SMS --recipient "+919900000001:smoke-msg-1")
url=$(head -n1 <<<"$links" | cut -f1)
[[ $url == "http://127.0.0.1:$edge_port/"* ]] || fail "link create printed '$links'"
code=${url#"http://127.0.0.1:$edge_port/"}
code=${code%%/*}
ok "company and track-user link created in the reporter container: $url"

tap() {
  curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -A "$ua" -H "X-Forwarded-For: $client_ip" "$url"
}
answer=$(tap)
[ "$answer" = "302 $long_url" ] || fail "tap answered '$answer', not '302 $long_url'"
ok "tap on the edge: 302 to the long URL"
maxlen=$(compose exec -T edge grep -c '^ *linkreport_stream_maxlen *1000000;' /tmp/linkreport-edge/nginx.conf | tr -d '\r' || true)
[ "$maxlen" = 1 ] || fail "STREAM_MAXLEN=1000000 did not reach the edge's linkreport_stream_maxlen"
ok "STREAM_MAXLEN reaches the edge's configuration (linkreport_stream_maxlen 1000000)"

psql_q() { compose exec -T postgres psql -U linkreport -d linkreport -tA -F '|' -c "$1"; }
wait_clicks() { # N: the reporter daemon drains them into PostgreSQL
  local n=0
  for _ in $(seq 60); do
    n=$(psql_q "SELECT count(*) FROM clicks WHERE company_id = '$company'" | tr -d '\r')
    [ "$n" -ge "$1" ] && return 0
    sleep 1
  done
  fail "$n clicks in PostgreSQL after 60s, expected $1"
}
wait_clicks 1
row=$(psql_q "SELECT mobile_number, client_ip, country, city, browser, platform, device_type, code
              FROM clicks WHERE company_id = '$company'" | tr -d '\r')
[ "$row" = "+919900000001|$client_ip|United Kingdom|London|Safari|iOS|Phone|$code" ] ||
  fail "click in PostgreSQL: '$row'"
ok "the click reached PostgreSQL, enriched: $row"

# the day in the company's time zone, with a day either side (a run across midnight)
from=$(TZ=Asia/Kolkata date -d yesterday +%F)
to=$(TZ=Asia/Kolkata date -d tomorrow +%F)
report=/var/lib/linkreport/reports/$company/smoke-$to.csv
rexec mkdir -p "/var/lib/linkreport/reports/$company"
rexec linkreport report --company "$company" --from "$from" --to "$to" --out "$report"
rexec cat "$report" > "$logs/report.csv"
rows=$(($(wc -l < "$logs/report.csv") - 1))
[ "$rows" = 1 ] || fail "the report has $rows rows, expected 1 ($logs/report.csv)"
grep -q "+919900000001" "$logs/report.csv" && grep -q "United Kingdom" "$logs/report.csv" &&
  grep -q "London" "$logs/report.csv" && grep -qF "$url" "$logs/report.csv" ||
  fail "the report's row lacks the recipient, country, city or short URL: $(tail -n1 "$logs/report.csv")"
ok "report generated inside the reporter container holds the click ($logs/report.csv)"

# the edge serves it from the shared reports volume, behind secure_link (docs/nginx-download.conf)
path=/reports/$company/smoke-$to.csv
expires=$(( $(date +%s) + 600 ))
md5=$(printf '%s%s%s %s' "$expires" "$path" smoke "$secret" | openssl md5 -binary | openssl base64 | tr '+/' '-_' | tr -d '=')
got=$(curl -s -o "$logs/downloaded.csv" -w '%{http_code}' "http://127.0.0.1:$edge_port$path?r=smoke&expires=$expires&md5=$md5")
[ "$got" = 200 ] && cmp -s "$logs/report.csv" "$logs/downloaded.csv" || fail "signed download: $got"
got=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$edge_port$path?r=other&expires=$expires&md5=$md5")
[ "$got" = 403 ] || fail "download signed for another recipient answered $got, not 403"
ok "the edge serves the report on a signed link (200, the same bytes), 403 for another recipient"

# Redis keeps the link when killed (SIGKILL: no save at shutdown, only the append-only
# file on its volume); the edge and the reporter reconnect by themselves and the next tap
# is stored too (from the edge's cache and spool if it comes before the reconnection)
compose kill -s SIGKILL redis >/dev/null 2>&1
compose start redis >/dev/null 2>&1
until [ "$(docker inspect -f '{{.State.Health.Status}}' "${cid[redis]}")" = healthy ]; do
  [ "$(date +%s)" -lt $(( deadline + 120 )) ] || fail "redis not healthy again after its start"
  sleep 1
done
[ "$(compose exec -T redis redis-cli -p "$redis_port" EXISTS "linkreport:link:$code" | tr -d '\r')" = 1 ] ||
  fail "the link is gone after Redis was killed and started again"
for _ in $(seq 30); do answer=$(tap); [ "$answer" = "302 $long_url" ] && break; sleep 1; done
[ "$answer" = "302 $long_url" ] || fail "tap after the Redis restart answered '$answer'"
wait_clicks 2
ok "Redis killed and started again: link kept (append-only file), second tap redirected and stored"

say "image sizes:"
docker image ls --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' |
  grep -E "linkreport/(edge|reporter):latest|$base|$redis_image|$postgres_image" | sort -u
say "$passed passed, 0 failed"
