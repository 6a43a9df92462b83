#!/usr/bin/env bash
# make test: every suite against real servers on loopback, then one pass/fail summary.
#   1. edge: the Test::Nginx suites in t/ (Debian's nginx loading our module)
#   2. edge under valgrind: the same suites, failing on any valgrind report
#   3. reporter: unit tests and CLI tests against PostgreSQL and Redis
#   4. reporter under AddressSanitizer and UndefinedBehaviorSanitizer
# LINKREPORT_SKIP_VALGRIND=1 skips stage 2 for a quick local run (reported as skipped).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# MaxMind's test databases and the seed live in ../shared beside the checkout (CI has it
# there too); LINKREPORT_SHARED points elsewhere if needed.
export LINKREPORT_SHARED=${LINKREPORT_SHARED:-$(cd "$root/.." && pwd)/shared}
if [ ! -f "$LINKREPORT_SHARED/testdata/maxmind/GeoLite2-City-Test.mmdb" ]; then
  echo "test: MaxMind test databases not found in $LINKREPORT_SHARED/testdata/maxmind;" \
       "put shared/ beside the checkout or set LINKREPORT_SHARED" >&2
  exit 1
fi

export LR_REDIS_PORT=${LR_REDIS_PORT:-6390}
export LR_PG_PORT=${LR_PG_PORT:-5440}
export LR_SMTP_PORT=${LR_SMTP_PORT:-2525}
run="$root/.run/test"
logs="$root/build/test-logs"
rm -rf "$logs" && mkdir -p "$logs"

bash scripts/services.sh stop "$run" >/dev/null 2>&1 || true
bash scripts/services.sh start "$run" >"$logs/services.log" 2>&1 \
  || { cat "$logs/services.log"; echo "test: cannot start Redis/PostgreSQL"; exit 1; }
trap 'bash scripts/services.sh stop "$run" >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM
# shellcheck disable=SC1091
. "$run/env"

export TEST_NGINX_BINARY=/usr/sbin/nginx
export LINKREPORT_MODULE="$root/build/nginx/objs/ngx_http_linkreport_module.so"
export LINKREPORT_BIN="$root/build/linkreport"
export LINKREPORT_BUILD="$root/build"

passed=0; failed=0; skipped=0
declare -a summary

stage() {   # stage NAME LOGFILE COMMAND...
  local name=$1 log=$2; shift 2
  echo "== $name"
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1)); summary+=("PASS  $name")
    grep -a -E '^(Files=|All tests successful)' "$log" | sed 's/^/   /'
  else
    failed=$((failed + 1)); summary+=("FAIL  $name (log: ${log#"$root"/})")
    tail -n 40 "$log"
  fi
}

# valgrind's reports go to nginx's stderr, which Test::Nginx passes through: any
# "==PID==" line that the suppressions did not remove is a failure.
prove_valgrind() {
  TEST_NGINX_USE_VALGRIND=1 prove t/ 2>&1 | tee "$logs/edge-valgrind.raw"
  local rc=${PIPESTATUS[0]}
  if grep -a -q -E '^==[0-9]+==' "$logs/edge-valgrind.raw"; then
    echo "valgrind reported errors or leaks:"; grep -a -E '^==[0-9]+==' "$logs/edge-valgrind.raw" | head -n 40
    return 1
  fi
  return "$rc"
}

stage "edge: Test::Nginx suites" "$logs/edge.log" prove t/

if [ "${LINKREPORT_SKIP_VALGRIND:-0}" = 1 ]; then
  skipped=$((skipped + 1)); summary+=("SKIP  edge under valgrind (LINKREPORT_SKIP_VALGRIND=1)")
else
  stage "edge: Test::Nginx suites under valgrind" "$logs/edge-valgrind.log" prove_valgrind
fi

stage "reporter: unit and CLI tests" "$logs/reporter.log" prove reporter/tests/

stage "reporter: under ASan/UBSan" "$logs/reporter-asan.log" \
  env LINKREPORT_BIN="$root/build/asan/linkreport" ASAN_OPTIONS=detect_leaks=1 \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 prove reporter/tests/

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
echo "test: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
