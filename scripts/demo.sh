#!/usr/bin/env bash
# make demo: the whole pipeline on real input, on loopback only.
#   Redis + PostgreSQL + nginx (Debian's, with our module) start in .run/demo;
#   a company and a track-user link with five recipients are created;
#   1,000 taps with real user agents (uap-core's corpus) and real public addresses
#   (as X-Forwarded-For from the trusted local proxy) hit the edge;
#   the reporter drains the stream into PostgreSQL and writes the day's report.
# Everything started here is stopped on exit, also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export LR_REDIS_PORT=${DEMO_REDIS_PORT:-6391}
export LR_PG_PORT=${DEMO_PG_PORT:-5441}
export LR_SMTP_PORT=${DEMO_SMTP_PORT:-2526}
edge_port=${DEMO_EDGE_PORT:-8088}
clicks=${DEMO_CLICKS:-1000}
run="$root/.run/demo"
out_dir="$root/build/demo"
geoip="$root/.deps/geoip/GeoLite2-City.mmdb"
lr="$root/build/linkreport"

cleanup() {
  [ -f "$run/nginx/nginx.pid" ] && /usr/sbin/nginx -p "$run/nginx" -c "$run/nginx/nginx.conf" -s stop 2>/dev/null || true
  bash scripts/services.sh stop "$run" >/dev/null 2>&1 || true
}
cleanup
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "demo: starting Redis :$LR_REDIS_PORT, PostgreSQL :$LR_PG_PORT, nginx :$edge_port (loopback)"
bash scripts/services.sh start "$run" >/dev/null
# shellcheck disable=SC1091
. "$run/env"
export LINKREPORT_BASE_URL="http://127.0.0.1:$edge_port"

mkdir -p "$run/nginx/logs" "$out_dir"
cat > "$run/nginx/nginx.conf" <<NGINX
load_module $root/build/nginx/objs/ngx_http_linkreport_module.so;
worker_processes 2;
pid $run/nginx/nginx.pid;
error_log $run/nginx/logs/error.log notice;
events { worker_connections 256; }
http {
    access_log $run/nginx/logs/access.log;
    linkreport_redis     127.0.0.1:$LR_REDIS_PORT;
    linkreport_geoip_db  $geoip;

    # the demo's taps arrive through a proxy on loopback that sets X-Forwarded-For
    set_real_ip_from     127.0.0.1;
    real_ip_header       X-Forwarded-For;
    real_ip_recursive    on;

    server {
        listen 127.0.0.1:$edge_port;
        location / { linkreport; }
    }
}
NGINX
/usr/sbin/nginx -p "$run/nginx" -c "$run/nginx/nginx.conf" -e "$run/nginx/logs/error.log"

company=Zc9demo01gb
tz=Asia/Kolkata
"$lr" migrate
"$lr" company create --id "$company" --name "Demo Retail Ltd" --timezone "$tz" \
  --owner-email owner@demo-retail.example >/dev/null
echo "demo: company $company ($tz)"

"$lr" link create --company "$company" --long-url "https://shop.demo-retail.example/sale?utm_source=sms" \
  --campaign "Winter Sale" --template-id 1107161234567890017 --channel SMS \
  --recipient "+919900000001:0e5b2f9d-7a1d-4c2b-8f3c-fc00000000a1:0" \
  --recipient "+919900000002:0e5b2f9d-7a1d-4c2b-8f3c-fc00000000a2:0" \
  --recipient "+919900000003:0e5b2f9d-7a1d-4c2b-8f3c-fc00000000a3:0" \
  --recipient "+919900000004:0e5b2f9d-7a1d-4c2b-8f3c-fc00000000a4:0" \
  --recipient "+919900000005:0e5b2f9d-7a1d-4c2b-8f3c-fc00000000a5:0" > "$run/links.tsv"
"$lr" link create --company "$company" --long-url "https://demo-retail.example/stores" \
  --channel WA >> "$run/links.tsv"
echo "demo: short links created:"
sed 's/^/  /' "$run/links.tsv"

mapfile -t urls < <(cut -f1 "$run/links.tsv")
/usr/bin/python3 scripts/demo_clicks.py "127.0.0.1:$edge_port" "$geoip" "$clicks" "${urls[@]}"

# the edge sends each record right after its redirect; give the last ones a moment
for _ in $(seq 50); do
  [ "$(redis-cli -p "$LR_REDIS_PORT" --eval scripts/count_records.lua linkreport:clicks , -)" -ge "$clicks" ] && break
  sleep 0.1
done
"$lr" drain --once

day=$(TZ=$tz date +%F)
report="$out_dir/links-detailed-report-$company-$day.csv"
"$lr" report --company "$company" --from "$day" --to "$day" --out "$report"

echo
echo "demo: report written to $report ($(($(wc -l < "$report") - 1)) rows); first rows:"
head -n 6 "$report"
