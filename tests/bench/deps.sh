#!/bin/sh
# Install what tests/bench/run.sh needs: Debian's postfix package (for
# Postfix itself, smtp-sink and smtp-source), procps/iproute2, and a C
# compiler with OpenSSL for the load generator and the sink.
#
# Postfix is installed as a tool, not as this machine's MTA:
#   - debconf is preseeded with "No configuration", so the package writes
#     no working /etc/postfix/main.cf and sets up nothing;
#   - a policy-rc.d that exits 101 keeps invoke-rc.d from starting the
#     postfix service during the install.  If /usr/sbin/policy-rc.d
#     already exists it is left alone (and used); if this script creates
#     it, it removes it again afterwards, also on failure.
# Idempotent: when everything is installed it does nothing and exits 0.
# Run as root.  Usage: tests/bench/deps.sh
set -eu

# libssl-dev/openssl: tests/bench/load.c and tlssink.c, the sink's
# certificate.  --mx-lab also needs the integration lab's tools (nsd,
# ldns-utils, python3-cryptography: contrib/deps.sh test).
pkgs="postfix procps iproute2 cmake build-essential libssl-dev openssl"
missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "bench deps.sh: all installed ($pkgs)"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "bench deps.sh: missing:$missing; run as root" >&2
	exit 1
fi

policy=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
	if [ "$created_policy" = 1 ]; then
		rm -f "$policy"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# temporary, from sealpost tests/bench/deps.sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	created_policy=1
fi

echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "bench deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || true
apt-get install -y -q --no-install-recommends $missing >/dev/null

# Belt and braces: nothing from the package may be left running.
if command -v postfix >/dev/null 2>&1 && postfix status >/dev/null 2>&1; then
	echo "bench deps.sh: warning: a system postfix is running; stopping it" >&2
	postfix stop >/dev/null 2>&1 || true
fi
for f in /usr/sbin/smtp-sink /usr/sbin/smtp-source /usr/sbin/postfix /usr/sbin/postconf; do
	[ -x "$f" ] || { echo "bench deps.sh: $f missing after install" >&2; exit 1; }
done
echo "bench deps.sh: ok"
