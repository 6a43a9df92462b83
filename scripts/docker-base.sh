#!/usr/bin/env bash
# Builds a local Debian bookworm "slim" base image from Debian's own packages, for machines
# that reach a Debian mirror but no image registry: debootstrap (minbase) into a folder,
# then `docker import`. The Dockerfiles take it through their BASE_IMAGE build argument.
#   scripts/docker-base.sh [TAG]      (default linkreport/debian:bookworm-slim)
# Like the official debian:bookworm-slim: minbase, apt sources for bookworm,
# bookworm-updates and bookworm-security, no documentation, man pages or translations,
# apt's caches cleaned after every install. An existing TAG is kept (DOCKER_BASE_REBUILD=1
# builds it again). Mirror: DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
tag=${1:-linkreport/debian:bookworm-slim}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm

if [ "${DOCKER_BASE_REBUILD:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "docker-base: $tag already present"
  exit 0
fi
command -v debootstrap >/dev/null || {
  echo "docker-base: installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}

root=$(mktemp -d /tmp/linkreport-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
start=$(date +%s)
echo "docker-base: debootstrap $suite (minbase) from $mirror"
# what slim leaves out, excluded before the first package is unpacked
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
cat > "$root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
DPKG
debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
  "$suite" "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 30 "$root.log"; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# apt inside an image: no cache kept, no translations, no recommends pulled by accident
cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'APT::Install-Recommends "false";' > "$root/etc/apt/apt.conf.d/docker-no-recommends"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log \
  "$root"/usr/share/doc/*/[!c]* "$root"/usr/share/man/* "$root"/usr/share/locale/[!l]* \
  "$root"/tmp/* "$root"/etc/machine-id
: > "$root/etc/hostname"

tar -C "$root" --numeric-owner -c . | docker import --change 'CMD ["bash"]' - "$tag" >/dev/null
echo "docker-base: $tag built in $(( $(date +%s) - start ))s," \
  "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
