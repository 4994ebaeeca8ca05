#!/usr/bin/env bash
# create-token.sh DIR LABEL USERPIN SOPIN
#
# Creates DIR/softhsm2.conf (from softhsm2.conf.in, token directory
# DIR/tokens) if it is missing, and a SoftHSM token labelled LABEL with the
# given user PIN and SO PIN. Idempotent: if a token with that label exists
# already under DIR, it does nothing. Never touches the system token
# directory. Prints the token's serial number.
#
# SoftHSM moves an initialised token to a random slot id: select it by
# label (pkcs11-tool --token-label LABEL) or serial, never by slot number.
set -euo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 DIR LABEL USERPIN SOPIN" >&2
  exit 2
fi
dir=$1 label=$2 userpin=$3 sopin=$4
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "$label" ] || [ ${#label} -gt 32 ]; then
  echo "$0: token label must be 1-32 characters" >&2
  exit 2
fi
if [ ${#userpin} -lt 4 ] || [ ${#sopin} -lt 4 ]; then
  echo "$0: SoftHSM PINs need at least 4 characters" >&2
  exit 2
fi
command -v softhsm2-util >/dev/null || { echo "$0: softhsm2-util not found (make deps)" >&2; exit 1; }

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
mkdir -p "$dir/tokens"
chmod 700 "$dir/tokens"
if [ ! -e "$dir/softhsm2.conf" ]; then
  sed "s|@TOKENDIR@|$dir/tokens|" "$here/softhsm2.conf.in" > "$dir/softhsm2.conf"
  chmod 600 "$dir/softhsm2.conf"
fi
export SOFTHSM2_CONF="$dir/softhsm2.conf"

# Serial of the initialised token labelled $1, empty if none.
token_serial() {
  softhsm2-util --show-slots | awk -v want="$1" '
    /^Slot /              { intok = 0; serial = "" }
    /^ *Token info:/      { intok = 1 }
    intok && /^ *Serial number:/ { sub(/^ *Serial number: */, ""); sub(/ *$/, ""); serial = $0 }
    intok && /^ *Label:/  { sub(/^ *Label: */, ""); sub(/ *$/, ""); if ($0 == want && serial != "") { print serial; exit } }'
}

serial=$(token_serial "$label")
if [ -n "$serial" ]; then
  echo "token \"$label\" exists (serial $serial) in $dir"
  exit 0
fi
softhsm2-util --init-token --free --label "$label" --pin "$userpin" --so-pin "$sopin" >/dev/null
serial=$(token_serial "$label")
if [ -z "$serial" ]; then
  echo "$0: token \"$label\" not listed after softhsm2-util --init-token" >&2
  exit 1
fi
echo "token \"$label\" created (serial $serial) in $dir"
