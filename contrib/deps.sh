#!/bin/sh
# Install the Debian 12 packages sealpost needs to build, run and test.
# Only packages that are missing are installed; run as root (or via sudo).
# Usage: contrib/deps.sh [build|test]   (test = build + the lab's servers)
set -eu
mode=${1:-build}

build_pkgs="build-essential cmake pkg-config libssl-dev libuv1-dev libunbound-dev
libevent-dev libcurl4-openssl-dev libsqlite3-dev libsasl2-dev libconfuse-dev
libjansson-dev zlib1g-dev libidn2-dev dns-root-data ca-certificates openssl
sqlite3 libsasl2-modules libopendkim-dev"
test_pkgs="libcmocka-dev nsd ldnsutils iproute2 python3 python3-aiosmtpd
python3-cryptography python3-dkim opendkim-tools swaks libnet-ssleay-perl libio-socket-inet6-perl sasl2-bin clang-14 libclang-rt-14-dev procps psmisc bind9-dnsutils"

pkgs=$build_pkgs
[ "$mode" = test ] && pkgs="$pkgs $test_pkgs"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "deps.sh: missing packages:$missing (run as root to install)" >&2
		exit 1
	}
	SUDO=sudo
fi
echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# nsd's package starts a system service; the lab runs its own instance.
$SUDO apt-get update -q >/dev/null || true
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
