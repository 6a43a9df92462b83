#!/usr/bin/env bash
# make bench-drain: the reporter's drain and report against PostgreSQL's own COPY speed,
# on loopback, measured in one run with its own Redis and PostgreSQL (ports 6399/5449,
# .run/bench-drain; stopped on exit).
#   1. N click entries (default 1,000,000; BENCH_DRAIN_ENTRIES) with every contract field
#      and realistic sizes are loaded into the stream (redis-cli --pipe); the same rows are
#      written as a COPY file. BENCH_DRAIN_PER_ENTRY (default 1) records share one entry,
#      as the edge batches one event-loop cycle's clicks (up to 64).
#   2. linkreport drain --once --count 5000 into an empty migrated database (migrated with
#      --now in 2024-02, so that the visits' monthly partitions exist): clicks/s and
#      peak RSS (/usr/bin/time -f %M).
#   3. The physical limit: TRUNCATE clicks and psql \copy of the COPY file into the same
#      (partitioned) table: rows/s.
#      Ratio drain/COPY (target >= 0.6), drain RSS (target <= 64 MiB).
#   4. The report of one company over one month: linkreport report rows/s and RSS against
#      psql "\copy (same query) TO file" (target >= 0.8).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export LR_REDIS_PORT=${BENCH_REDIS_PORT:-6399} LR_PG_PORT=${BENCH_PG_PORT:-5449} LR_SMTP_PORT=${BENCH_SMTP_PORT:-2599}
entries=${BENCH_DRAIN_ENTRIES:-1000000}
per_entry=${BENCH_DRAIN_PER_ENTRY:-1}
case $per_entry in [1-9]|[1-5][0-9]|6[0-4]) ;; *) echo "bench-drain: BENCH_DRAIN_PER_ENTRY must be 1-64" >&2; exit 64 ;; esac
stream_entries=$(( (entries + per_entry - 1) / per_entry ))
bin=${LINKREPORT_BIN:-$root/build/linkreport}
run="$root/.run/bench-drain"
out="$root/build/bench-drain"
mkdir -p "$out"

cleanup() { bash scripts/services.sh stop "$run" >/dev/null 2>&1 || true; }
cleanup
trap cleanup EXIT
trap 'exit 130' INT TERM
[ -x "$bin" ] || { echo "bench-drain: $bin not built (make reporter)" >&2; exit 1; }
bash scripts/services.sh start "$run" >/dev/null
# shellcheck disable=SC1091
. "$run/env"
export LINKREPORT_STREAM=bench:clicks
psql_=(psql -X -q -v ON_ERROR_STOP=1 -d "$LINKREPORT_DB")
# the bench's visits fall in 2024-02 .. 2024-04: migrate as if then, so that (since schema
# version 4) their monthly partitions exist, as the current months' do in production
"$bin" --now 2024-02-01T00:00:00+00:00 migrate >/dev/null
"$bin" company create --id bench01 --name Bench --timezone Asia/Kolkata --owner-email ops@example.com >/dev/null

cols="click_id, stream_id, company_id, txtly_id, code, recipient, short_url, mobile_number, client_ip, browser, platform, platform_version, engine, country, city, visited_on, device_type, created_on, long_url, channel, message_id, campaign_name, template_id, user_agent, method, non_human"

echo "bench-drain: generating $entries clicks in $stream_entries entries ($per_entry per entry) ..."
# 20 companies; visits spread over 2024-02-15 .. 2024-04-15 (UTC), so bench01 has about
# 1/20 of the rows and half of them fall in March.
perl -e '
  use strict; use warnings; use POSIX qw(strftime);
  my ($n, $stream, $resp, $copy, $per) = @ARGV;
  my @batch;
  open(my $r, ">", $resp) or die; open(my $c, ">", $copy) or die;
  srand(42);
  my @ua = ("Mozilla/5.0 (Linux; Android 10; SM-A505F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.2277.83",
            "WhatsApp/2.23.20.0 A");
  my @br = (["Chrome","AndroidOS","10","WebKit","Phone"], ["Mobile Safari","iOS","17.2","WebKit","Phone"],
            ["Edge","Windows","10","Blink","Desktop"], ["WhatsApp","","","","Bot"]);
  my @city = (["India","Bengaluru"], ["India","Mumbai"], ["India","New Delhi"], ["United Arab Emirates","Dubai"], ["",""]);
  my $start = 1707955200000; my $span = 60 * 86400 * 1000;
  my %esc = ("\\" => "\\\\", "\t" => "\\t", "\n" => "\\n", "\r" => "\\r");
  sub resp { my $s = "*" . @_ . "\r\n"; $s .= "\$" . length($_) . "\r\n$_\r\n" for @_; $s }
  for my $i (1 .. $n) {
    my $click = sprintf("%08x%08x%08x%08x", int(rand(2**32)), int(rand(2**32)), $i, int(rand(2**32)));
    my $company = sprintf("bench%02d", 1 + $i % 20);
    my $code = sprintf("c%05d", $i % 50000); my $tok = ($i % 3) ? "" : sprintf("t%04d", $i % 9973);
    my $visited = $start + int(rand($span)); my $created = 1704067200 + $i % 86400;
    my $k = $i % 4; my $g = $city[$i % 5];
    my %f = (click_id => $click, code => $code, recipient => $tok,
      short_url => "http://klr.bz/$code" . ($tok ne "" ? "/$tok" : ""), txtly_id => 1000000 + $i % 50000,
      company_id => $company, campaign_name => "Spring sale 2024 wave " . ($i % 7),
      template_id => "1107" . ($i % 1000), channel => "SMS", message_id => ($tok ne "" ? "msg-$i" : ""),
      long_url => "https://shop.example.com/offers/spring-2024/item-" . ($i % 50000) . "?utm_source=sms&utm_campaign=spring",
      mobile_number => ($tok ne "" ? "9198" . sprintf("%08d", $i % 100000000) : ""),
      created_on => $created, visited_on => $visited,
      client_ip => join(".", 49, $i % 256, int($i / 256) % 256, 1 + $i % 250),
      country => $g->[0], city => $g->[1], browser => $br[$k][0], platform => $br[$k][1],
      platform_version => $br[$k][2], engine => $br[$k][3], device_type => $br[$k][4],
      user_agent => $ua[$k], method => "GET", non_human => ($k == 3 ? "preview" : ""));
    my $sid = "1700000000000-" . (1 + int(($i - 1) / $per));
    # the record the edge writes, version 2 (docs/data-contract.md): one field, TAB-separated values
    my $record = join("\t", "2", map { my $v = $f{$_}; $v =~ s/([\\\t\n\r])/$esc{$1}/g; $v }
      qw(click_id code recipient short_url txtly_id mobile_number client_ip browser platform
         platform_version engine country city visited_on device_type created_on long_url channel
         message_id company_id campaign_name template_id user_agent method non_human));
    push @batch, $record;
    if (@batch == $per || $i == $n) { print $r resp("XADD", $stream, $sid, "record", join("\n", @batch)); @batch = () }
    my $ts = strftime("%Y-%m-%d %H:%M:%S", gmtime(int($visited / 1000))) . sprintf(".%03d+00", $visited % 1000);
    my $cr = strftime("%Y-%m-%d %H:%M:%S+00", gmtime($created));
    my %row = (%f, stream_id => $sid, visited_on => $ts, created_on => $cr);
    print $c join("\t", map { $row{$_} } qw(click_id stream_id company_id txtly_id code recipient short_url
      mobile_number client_ip browser platform platform_version engine country city visited_on
      device_type created_on long_url channel message_id campaign_name template_id user_agent
      method non_human)), "\n";
  }' "$entries" "$LINKREPORT_STREAM" "$out/entries.resp" "$out/clicks.copy" "$per_entry"

redis-cli -p "$LR_REDIS_PORT" --pipe < "$out/entries.resp" | tail -n1
rm -f "$out/entries.resp"
[ "$(redis-cli -p "$LR_REDIS_PORT" XLEN "$LINKREPORT_STREAM")" = "$stream_entries" ] || { echo "bench-drain: preload incomplete" >&2; exit 1; }

# seconds, with fractions, from GNU time's %e; RSS in KiB from %M
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M %U %S" -o "$out/$label.time" "$@"
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

echo "bench-drain: drain --once --count 5000 ..."
measure drain "$bin" drain --once --count 5000 --consumer bench > "$out/drain.out"
read -r drain_s drain_kb drain_u drain_sys < "$out/drain.time"
echo "drain: ${drain_s} s wall, ${drain_u} s user, ${drain_sys} s system in linkreport"
cat "$out/drain.out"
stored=$("${psql_[@]}" -At -c 'SELECT count(*) FROM clicks')
[ "$stored" = "$entries" ] || { echo "bench-drain: drain stored $stored rows, expected $entries" >&2; exit 1; }

echo "bench-drain: TRUNCATE + \\copy clicks FROM file ..."
"${psql_[@]}" -c 'TRUNCATE clicks' -c 'CHECKPOINT'
measure copy "${psql_[@]}" -c "\\copy clicks ($cols) FROM '$out/clicks.copy'"
read -r copy_s copy_kb _ < "$out/copy.time"
stored=$("${psql_[@]}" -At -c 'SELECT count(*) FROM clicks')
[ "$stored" = "$entries" ] || { echo "bench-drain: COPY stored $stored rows" >&2; exit 1; }
"${psql_[@]}" -c 'VACUUM ANALYZE clicks'

echo "bench-drain: report bench01 2024-03 ..."
measure report "$bin" report --company bench01 --from 2024-03-01 --to 2024-03-31 --out "$out/report.csv" 2> "$out/report.err"
read -r report_s report_kb _ < "$out/report.time"
report_rows=$(grep -o '[0-9]* rows' "$out/report.err" | cut -d' ' -f1)
query="SELECT short_url, txtly_id, mobile_number, client_ip, browser, platform, platform_version, engine, country, city, to_char(visited_on AT TIME ZONE 'Asia/Kolkata', 'FMDD/FMMM/YYYY FMHH12:MI:SS AM'), device_type, to_char(created_on AT TIME ZONE 'Asia/Kolkata', 'FMDD/FMMM/YYYY FMHH12:MI:SS AM'), long_url, channel, message_id, company_id, campaign_name, template_id FROM clicks WHERE company_id = 'bench01' AND visited_on >= ('2024-03-01'::date)::timestamp AT TIME ZONE 'Asia/Kolkata' AND visited_on < ('2024-03-31'::date + 1)::timestamp AT TIME ZONE 'Asia/Kolkata' AND non_human = '' ORDER BY visited_on, click_id"
measure export "${psql_[@]}" -c "\\copy ($query) TO '$out/export.csv' WITH (FORMAT csv, HEADER)"
read -r export_s export_kb _ < "$out/export.time"
export_rows=$(( $(wc -l < "$out/export.csv") - 1 ))
[ "$export_rows" = "$report_rows" ] || echo "bench-drain: WARNING report has $report_rows rows, \\copy $export_rows" >&2

drain_rate=$(rate "$entries" "$drain_s"); copy_rate=$(rate "$entries" "$copy_s")
report_rate=$(rate "$report_rows" "$report_s"); export_rate=$(rate "$export_rows" "$export_s")
echo
printf '%-44s %10s rows/s  %6.2f s  peak RSS %6.1f MiB\n' \
  "linkreport drain --once --count 5000" "$drain_rate" "$drain_s" "$(awk -v k="$drain_kb" 'BEGIN{print k/1024}')" \
  "psql \\copy clicks FROM file (limit)" "$copy_rate" "$copy_s" "$(awk -v k="$copy_kb" 'BEGIN{print k/1024}')" \
  "linkreport report (1 company, 1 month)" "$report_rate" "$report_s" "$(awk -v k="$report_kb" 'BEGIN{print k/1024}')" \
  "psql \\copy (report query) TO file (limit)" "$export_rate" "$export_s" "$(awk -v k="$export_kb" 'BEGIN{print k/1024}')"
awk -v d="$drain_rate" -v c="$copy_rate" -v r="$report_rate" -v e="$export_rate" -v kb="$drain_kb" -v rkb="$report_kb" 'BEGIN {
  printf "drain/COPY ratio   %.2f (target >= 0.60) %s\n", d / c, (d / c >= 0.6 ? "ok" : "BELOW TARGET")
  printf "drain peak RSS     %.1f MiB (target <= 64) %s\n", kb / 1024, (kb <= 65536 ? "ok" : "ABOVE TARGET")
  printf "report/COPY ratio  %.2f (target >= 0.80) %s   report RSS %.1f MiB (%d rows)\n", r / e, (r / e >= 0.8 ? "ok" : "BELOW TARGET"), rkb / 1024, '"$report_rows"'
}'
