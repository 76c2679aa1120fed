#!/bin/sh
# Build sealpost and run the daemon in the foreground with a working
# default configuration under ./trial (spool, sqlite queue, config).
# No root needed, except to install missing Debian packages.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

contrib/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

mkdir -p trial
if [ ! -f trial/sealpost.conf ]; then
	cat > trial/sealpost.conf <<'CONF'
# sealpost trial configuration: see docs/configuration.md for every key.
# Relative paths are relative to this file's directory.
spool_directory = "spool"
log = stderr
CONF
	echo "trial.sh: wrote trial/sealpost.conf" >&2
fi
cat >&2 <<MSG
trial.sh: starting sealpostd in the foreground (Ctrl-C stops it).
  submit:  SEALPOST_CONFIG=$top/trial/sealpost.conf $top/build/mta/sendmail -t < message.txt
  queue:   SEALPOST_CONFIG=$top/trial/sealpost.conf $top/build/mta/sendmail -bp
MSG
exec build/mta/sealpostd -c trial/sealpost.conf
