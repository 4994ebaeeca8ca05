#!/usr/bin/env bash
# demo-setup.sh DIR
#
# Sets up the demo once (skipped when DIR/.done exists): DIR/softhsm2.conf
# and a SoftHSM token "signet-demo" (user PIN 1234, SO PIN 5678) holding an
# RSA-2048 and an ECDSA P-256 key with certificates from a demo PKI, and a
# PFX file DIR/pfx/demo.pfx and an E-IMZO-style key file in DIR/eimzo/DSKEYS
# (password "demo" for both), and DIR/config.yaml: an agent
# configuration that runs the example plugin on https://127.0.0.1:8443 and the
# E-IMZO plugin on wss://127.0.0.1:64443 and ws://127.0.0.1:64646, the Cipher
# plugin on https://127.0.0.1:9091 and :9090 (also as local.cipher.kiev.ua), and,
# because a demo has nobody to click "Approve", an unattended policy that
# allows every request and takes the PIN and password from files in DIR
# (mode 0600; never from the configuration itself). `make demo` calls it as
# `softhsm-config/demo-setup.sh .demo BINDIR`; `make clean` removes .demo.
#
# Use the token with SOFTHSM2_CONF=DIR/softhsm2.conf.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 DIR [BINDIR]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)
mkdir -p "${2:-$here/../bin}"
bindir=$(cd "${2:-$here/../bin}" && pwd)

if [ -e "$dir/.done" ]; then
  echo "demo already set up in $dir (remove it to start over)"
  exit 0
fi

"$here/create-token.sh" "$dir" signet-demo 1234 5678
(cd "$here/.." && GOTOOLCHAIN=local CGO_ENABLED=${CGO_ENABLED:-1} "${GO:-go}" run ./softhsm-config/cmd/mkdemo -dir "$dir" -token signet-demo -pin 1234)
(umask 077
 printf '1234' >"$dir/pin"
 printf 'demo' >"$dir/pfx-password")
cat >"$dir/config.yaml" <<CONFIG
# Signet demo configuration, written by softhsm-config/demo-setup.sh.
keystore:
  pkcs11_modules: [/usr/lib/softhsm/libsofthsm2.so]
  pfx_dirs: [$dir/pfx, $dir/eimzo/DSKEYS]
data_dir: $dir/data
plugin_dir: $bindir
plugins:
  - name: example
    path: signet-plugin-example
    listen: ["127.0.0.1:8443"]
  - name: eimzo
    path: signet-plugin-eimzo
  - name: cipher
    path: signet-plugin-cipher
    # Portals written for the Cipher agent call https://local.cipher.kiev.ua:9091
    # (or :9090), a public DNS name that resolves to 127.0.0.1. The local CA may
    # issue a certificate for it only because this configuration names it for
    # this plugin: a plugin cannot widen what the CA vouches for by itself.
    listen:
      - {name: https, bind: "127.0.0.1:9091", names: [local.cipher.kiev.ua]}
      - {name: https9090, bind: "127.0.0.1:9090", names: [local.cipher.kiev.ua]}
  - name: kontur
    # Server mode (confirmed cloud signing) runs apart: make demo-server.
    enabled: false
  - name: cryptoarm
    path: signet-plugin-cryptoarm
    options:
      state_dir: $dir/cryptoarm/state
      signing_key: "pkcs11:token=signet-demo;object=demo-rsa2048"
policy:
  unattended:
    # A demo has nobody to approve requests: allow them all. A real
    # installation leaves this out and asks the person in the consent dialog.
    rules:
      - {origin: "*", action: allow}
    pin_sources:
      - {token: "pkcs11:token=signet-demo", file: $dir/pin}
      - {token: "file://$dir/pfx/demo.pfx", file: $dir/pfx-password}
      - {token: "file://$dir/eimzo/DSKEYS/DS312345678.pfx", file: $dir/pfx-password}
CONFIG
# A local CryptoARM job: sign hello.txt (detached, BASE64) into out/.
mkdir -p "$dir/cryptoarm/out"
printf 'Hello from the Signet demo\n' >"$dir/cryptoarm/hello.txt"
cat >"$dir/cryptoarm/job.json" <<JOB
{"jsonrpc":"2.0","id":"demo-1","result":{"operation":["SIGN"],"props":{
 "headerText":"Demo job","uploader":"file://$dir/cryptoarm/out/",
 "files":[{"name":"hello.txt","url":"file://$dir/cryptoarm/hello.txt","id":"0"}],
 "extra":{"signType":"1","signStandard":"0","signEncoding":"0"}}}}
JOB
touch "$dir/.done"
echo "demo set up in $dir: SOFTHSM2_CONF=$dir/softhsm2.conf, token signet-demo (PIN 1234), $dir/pfx/demo.pfx (password demo)"
