#!/usr/bin/env bash
# certs/update-manufacturers: CA certificates (PEM and DER) added and
# reported, duplicates (also across encodings) and non-CA certificates and
# garbage skipped with their reason, a name clash renamed.
# Usage: test_update_manufacturers.sh SRC_DIR
set -euo pipefail
src=${1:?usage}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"
cd "$work"
mkdir in target
mk() { # NAME CA:TRUE|CA:FALSE
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -subj "/CN=$1" -addext "basicConstraints=critical,$2" -days 1 -out "$1.pem" 2> /dev/null
}
mk old CA:TRUE
mk new CA:TRUE
mk leaf CA:FALSE
cp old.pem target/old.pem
openssl x509 -in old.pem -outform der -out in/old-again.der
openssl x509 -in new.pem -outform der -out in/new.der
cp new.pem in/z-new-twice.pem
cp leaf.pem in/leaf.pem
head -c 300 /dev/urandom > in/garbage.bin
mk clash CA:TRUE
cp clash.pem in/old.pem
"$src/certs/update-manufacturers" in target > out
check "new DER CA added" grep -q '^added new.der: CN=new$' out
check "the same CA in PEM is a duplicate" grep -q '^skipped z-new-twice.pem: already there as new.der$' out
check "a CA already in the target is a duplicate" grep -q '^skipped old-again.der: already there as old.pem$' out
check "a leaf is skipped" grep -q '^skipped leaf.pem: not a CA certificate$' out
check "garbage is skipped" grep -q '^skipped garbage.bin: not a certificate$' out
check "a name clash gets a suffix" grep -q '^added old-1.pem: CN=clash$' out
check "the count" grep -q '^2 added$' out
check "the target holds exactly these" test "$(ls target | tr '\n' ' ')" = "new.der old-1.pem old.pem "
if "$src/certs/update-manufacturers" > /dev/null 2>&1; then bad "no DIR accepted"; else ok; fi
finish test_update_manufacturers
