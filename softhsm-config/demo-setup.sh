#!/usr/bin/env bash
# demo-setup.sh DIR
#
# Sets up the demo once (skipped when DIR/.done exists): DIR/softhsm2.conf
# and a SoftHSM token "signet-demo" (user PIN 1234, SO PIN 5678) holding an
# RSA-2048 and an ECDSA P-256 key with certificates from a demo PKI, and a
# PFX file DIR/pfx/demo.pfx (password "demo"). `make demo` calls it as
# `softhsm-config/demo-setup.sh .demo`; `make clean` removes .demo.
#
# Use the token with SOFTHSM2_CONF=DIR/softhsm2.conf.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)

if [ -e "$dir/.done" ]; then
  echo "demo already set up in $dir (remove it to start over)"
  exit 0
fi

"$here/create-token.sh" "$dir" signet-demo 1234 5678
(cd "$here/.." && GOTOOLCHAIN=local CGO_ENABLED=${CGO_ENABLED:-1} "${GO:-go}" run ./softhsm-config/cmd/mkdemo -dir "$dir" -token signet-demo -pin 1234)
touch "$dir/.done"
echo "demo set up in $dir: SOFTHSM2_CONF=$dir/softhsm2.conf, token signet-demo (PIN 1234), $dir/pfx/demo.pfx (password demo)"
