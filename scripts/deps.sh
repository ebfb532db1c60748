#!/bin/sh
# Installs the Debian 12 packages tlsrptd needs for a purpose, skipping what is
# already installed. Usage: scripts/deps.sh build|test|bench ...
# Each list is exactly what that purpose needs; `test` and `bench` include `build`.
set -eu

build_pkgs="g++ cmake make pkg-config libboost1.81-dev libssl-dev zlib1g-dev libsqlite3-dev
libsimdjson-dev libfmt-dev libidn2-dev libcli11-dev libtomlplusplus-dev libgmime-3.0-dev
libc-ares-dev libcurl4-openssl-dev libopendkim-dev libsystemd-dev libpsl-dev publicsuffix"
test_pkgs="libgtest-dev sqlite3 python3 curl openssl ca-certificates swaks libnet-ssleay-perl dnsmasq-base
python3-dkim python3-aiosmtpd strace procps clang libclang-rt-14-dev slowhttptest wrk clang-16
libclang-rt-16-dev ccache"
bench_pkgs="nginx-light wrk libbenchmark-dev sqlite3 python3 curl openssl dnsmasq-base python3-dkim
python3-cryptography"

want=""
for purpose in "$@"; do
  case "$purpose" in
    build) want="$want $build_pkgs" ;;
    test) want="$want $build_pkgs $test_pkgs" ;;
    bench) want="$want $build_pkgs $bench_pkgs" ;;
    *) echo "usage: $0 build|test|bench ..." >&2; exit 64 ;;
  esac
done

missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "installing:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install:$missing" >&2; exit 77; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
