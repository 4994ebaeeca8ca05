#!/usr/bin/env bash
# demo-server.sh DIR BINDIR
#
# Runs Signet's server mode (confirmed cloud signing, the kontur plugin) on
# the demo token that demo-setup.sh made in DIR: a throw-away PostgreSQL
# cluster on 127.0.0.1:55432 (data in DIR/server/pg, or, as root, in
# /var/tmp/signet-demo-pg owned by the postgres user, since PostgreSQL
# refuses to run as root), the plugin's configuration DIR/server/kontur.yaml
# (account "demo" signing with the token's RSA key, codes written to
# DIR/server/codes.jsonl and readable from the test-tools endpoint, an API
# key in DIR/server/api-key), and `signet serve` with the API on
# http://127.0.0.1:9095. Ctrl-C stops the agent and the database.
# `make demo-server` calls it; plugins/kontur/README.md shows a session.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 DIR BINDIR" >&2
  exit 2
fi
dir=$(cd "$1" && pwd)
bindir=$(cd "$2" && pwd)
srv="$dir/server"
module=/usr/lib/softhsm/libsofthsm2.so
export SOFTHSM2_CONF="$dir/softhsm2.conf"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pgbin" ]; then
  echo "PostgreSQL is not installed (make demo-server installs the postgresql package)" >&2
  exit 1
fi
port=55432

mkdir -p "$srv"
pgdata="$srv/pg"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  pgdata=/var/tmp/signet-demo-pg
  as_pg=(runuser -u postgres --)
fi

if [ ! -e "$srv/.done" ]; then
  uri=$("$bindir/signet" keys --json --module "$module" |
    tr -d '\n' | grep -o '"uri": *"pkcs11:[^"]*object=demo-rsa2048[^"]*"' | head -1 | sed -E 's/"uri": *"(.*)"/\1/')
  if [ -z "$uri" ]; then
    echo "no demo-rsa2048 key on the demo token: run make demo-setup first" >&2
    exit 1
  fi
  (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$srv/api-key")
  keyhash=$(tr -d '\n' <"$srv/api-key" | sha256sum | cut -c1-64)
  cat >"$srv/kontur.yaml" <<YAML
# Server-mode (kontur plugin) demo configuration, written by demo-server.sh.
database: {dsn: "postgres://signet@127.0.0.1:$port/signet?sslmode=disable"}
replica: demo-1
# The test-tools endpoint hands out codes: for demonstrations and tests only.
test_tools: true
notifier: {file: $srv/codes.jsonl}
accounts:
  - id: demo
    keys: ["$uri"]
    recipient: "+998900000000"
    api_key_sha256: [$keyhash]
YAML
  cat >"$srv/config.yaml" <<YAML
# Signet server-mode demo: the kontur plugin on http://127.0.0.1:9095.
keystore:
  pkcs11_modules: [$module]
data_dir: $srv/data
plugin_dir: $srv/no-plugins
plugins:
  - name: kontur
    path: $bindir/signet-plugin-kontur
    listen: ["127.0.0.1:9095"]
    options: {config: $srv/kontur.yaml}
policy:
  unattended:
    # Server mode: the person's one-time code is the consent, so the
    # administrator lets the kontur plugin (a local caller) use the key.
    rules:
      - {origin: local, plugin: kontur, action: allow}
    pin_sources:
      - {token: "pkcs11:token=signet-demo", file: $dir/pin}
YAML
  rm -rf "$pgdata"
  mkdir -p "$pgdata"
  [ ${#as_pg[@]} -eq 0 ] || chown postgres: "$pgdata"
  "${as_pg[@]}" "$pgbin/initdb" -D "$pgdata/data" -U signet --auth=trust -E UTF8 --locale=C >/dev/null
  touch "$srv/.done"
fi

"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdata/data" -l "$pgdata/log" -w \
  -o "-p $port -h 127.0.0.1 -k $pgdata" start >/dev/null
trap '"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdata/data" -m fast stop >/dev/null' EXIT
"${as_pg[@]}" "$pgbin/psql" -h 127.0.0.1 -p $port -U signet -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'signet'" | grep -q 1 ||
  "${as_pg[@]}" "$pgbin/createdb" -h 127.0.0.1 -p $port -U signet signet

echo "PostgreSQL on 127.0.0.1:$port; the cloud-signing API on http://127.0.0.1:9095 (account demo)."
echo "API key in $srv/api-key; codes arrive in $srv/codes.jsonl. See plugins/kontur/README.md. Ctrl-C stops."
"$bindir/signet" serve --config "$srv/config.yaml"
