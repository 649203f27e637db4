#!/usr/bin/env bash
# certs/mkpki: the development PKI is complete, usable and protected.
# Usage: test_pki.sh PATH_TO_MKPKI
set -euo pipefail
mkpki=${1:?usage: test_pki.sh MKPKI}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../lib/assert.sh"

d="$work/pki"
check "mkpki runs" "$mkpki" --san DNS:verifier.example "$d"
for f in tls-ca server issuer-root issuer; do
  check "$f.pem exists" test -s "$d/$f.pem"
  perms=$(stat -c %a "$d/$f.key")
  [ "$perms" = 600 ] && ok || bad "$f.key has mode $perms"
  check "$f.key is EC P-256" sh -c "openssl pkey -in '$d/$f.key' -noout -text | grep -q 'NIST CURVE: P-256'"
done
check "server chains to TLS CA" openssl verify -CAfile "$d/tls-ca.pem" "$d/server.pem"
refuse "server must not chain to identity root" openssl verify -CAfile "$d/issuer-root.pem" "$d/server.pem"
check "issuer chains to identity root" openssl verify -CAfile "$d/issuer-root.pem" "$d/issuer.pem"
check "server SAN" sh -c "openssl x509 -in '$d/server.pem' -noout -ext subjectAltName | grep -q 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:verifier.example'"
check "server EKU" sh -c "openssl x509 -in '$d/server.pem' -noout -ext extendedKeyUsage | grep -q 'TLS Web Server Authentication'"
check "issuer is a CA, pathlen 0" sh -c "openssl x509 -in '$d/issuer.pem' -noout -ext basicConstraints | grep -q 'CA:TRUE, pathlen:0'"
check "issuer may sign certs" sh -c "openssl x509 -in '$d/issuer.pem' -noout -ext keyUsage | grep -q 'Certificate Sign'"
check "server key matches cert" sh -c "[ \"\$(openssl x509 -in '$d/server.pem' -noout -pubkey)\" = \"\$(openssl pkey -in '$d/server.key' -pubout)\" ]"
check "issuer-chain = issuer + root" sh -c "cat '$d/issuer.pem' '$d/issuer-root.pem' | cmp -s - '$d/issuer-chain.pem'"
# The issuing CA can really issue: sign a leaf and verify it through the chain.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/leaf.key" 2>/dev/null
openssl req -new -key "$work/leaf.key" -subj /CN=leaf -out "$work/leaf.csr" 2>/dev/null
openssl x509 -req -in "$work/leaf.csr" -CA "$d/issuer.pem" -CAkey "$d/issuer.key" -CAcreateserial \
  -CAserial "$work/srl" -days 1 -out "$work/leaf.pem" 2>/dev/null
check "leaf verifies through the issuer" openssl verify -CAfile "$d/issuer-root.pem" -untrusted "$d/issuer.pem" "$work/leaf.pem"
# Nothing is overwritten by accident.
before=$(sha256sum "$d/issuer.key")
refuse "second run without --force" "$mkpki" "$d"
[ "$(sha256sum "$d/issuer.key")" = "$before" ] && ok || bad "issuer key changed without --force"
check "--force replaces" "$mkpki" --force "$d"
[ "$(sha256sum "$d/issuer.key")" != "$before" ] && ok || bad "--force did not replace the key"
refuse "bad --days" "$mkpki" --days x "$work/p2"
refuse "no directory" "$mkpki"
check "--help" sh -c "'$mkpki' --help | grep -q Usage"
finish test_pki.sh
