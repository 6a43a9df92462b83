#!/usr/bin/env bash
# make bench-ua: accuracy and speed of the edge's user-agent and GeoIP enrichment.
#   1. uap-core's own corpus through our classifier: browser family, OS family and OS
#      major agreement, every disagreement listed (ua_bench);
#   2. speed: uncached and cached classification, GeoIP lookups per second (ua_bench);
#   3. engine and device type against ua-parser-js (npm, MIT-licensed 1.x), an
#      independent parser, on the same strings.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/build/bench-ua"
mkdir -p "$out"
src=ngx_http_linkreport_module
cc=(cc -std=gnu11 -O2 -Wall -Wextra -Werror -I"$src")

"${cc[@]}" -o "$out/ua_bench" "$src/tools/ua_bench.c" "$src/linkreport_ua.c" -lpcre2-8 -lyaml -lmaxminddb
"${cc[@]}" -o "$out/ua_classify" "$src/tools/ua_classify.c" "$src/linkreport_ua.c" -lpcre2-8 -lyaml

"$out/ua_bench" /usr/share/uap-core/regexes.yaml /usr/share/uap-core/tests/test_ua.yaml \
  /usr/share/uap-core/tests/test_os.yaml "$root/.deps/geoip/GeoLite2-City.mmdb" \
  "$out/agents.txt" | tee "$out/ua_bench.txt"

if [ ! -d "$root/.deps/ua-parser-js/node_modules/ua-parser-js" ]; then
  mkdir -p "$root/.deps/ua-parser-js"
  (cd "$root/.deps/ua-parser-js" && npm install --silent --no-audit --no-fund ua-parser-js@1 >/dev/null)
fi
echo "== engine and device type against ua-parser-js $(node -p "require('$root/.deps/ua-parser-js/node_modules/ua-parser-js/package.json').version")"
"$out/ua_classify" < "$out/agents.txt" > "$out/ours.tsv"
NODE_PATH="$root/.deps/ua-parser-js/node_modules" node scripts/bench/ua_parser_js.js \
  < "$out/agents.txt" > "$out/theirs.tsv"
/usr/bin/python3 scripts/bench/ua_compare.py "$out/agents.txt" "$out/ours.tsv" "$out/theirs.tsv" \
  | tee "$out/compare.txt"
