#!/usr/bin/env bash
# `cmake --install` honours the prefix: everything lands under it, the
# provider in PREFIX/MODULES_RELDIR (lib/<multiarch>/ossl-modules, OpenSSL's
# own directory when the prefix is /usr), the units in lib/systemd/system
# naming the installed binaries, the man pages in share/man,
# share/rattest/openssl-rattest.cnf loading the installed provider
# (`openssl list -providers` with it as OPENSSL_CONF), the bootstrap's
# network module in PREFIX/PKGLIBDIR where the installed bootstrap finds it.
# Also: the built bootstrap links neither grpc nor libcurl, and loads them
# (its network module, bootstrap/net.h) for no command that does not talk.
# Leaves the install in ROOT for the systemd_units test.
# Usage: test_install.sh BUILD_DIR ROOT MODULES_RELDIR OPENSSL_MODULESDIR PKGLIBDIR
set -euo pipefail
build=${1:?usage} root=${2:?usage} reldir=${3:?usage} sysmodules=${4:?usage} pkglibdir=${5:?usage}
. "$(dirname "$0")/../lib/assert.sh"
B=$build/bin/rattest-bootstrap
needed=$(readelf -d "$B" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
if ! grep -Eq 'grpc|gpr|curl' <<< "$needed"; then ok; else bad "rattest-bootstrap links $needed"; fi
# --help, --version, argument errors, status: the loader's list of files opened.
for args in --help --version 'enroll --verifier h:1' "status --state-dir $root/none"; do
  # shellcheck disable=SC2086 # args holds several words
  opened=$(LD_DEBUG=files "$B" $args 2>&1 > /dev/null | grep -Eo 'file=[^ ]*(grpc|gpr|curl|-net)[^ ]*' |
    sort -u | tr '\n' ' ') || true
  if [ -z "$opened" ]; then ok; else bad "rattest-bootstrap $args loads $opened"; fi
done
OSSL=(openssl)
[ -n "${RATTEST_PRELOAD:-}" ] && OSSL=(env LD_PRELOAD="$RATTEST_PRELOAD" ASAN_OPTIONS=detect_leaks=0 openssl)
rm -rf "$root"
P="$root/prefix"
cmake --install "$build" --prefix "$P" > "$root.log" 2>&1 || { cat "$root.log" >&2; exit 1; }
for f in bin/rattest-verifier bin/rattest-bootstrap; do
  if [ -x "$P/$f" ]; then ok; else bad "not installed: PREFIX/$f"; fi
done
if [ -f "$P/$reldir/rattest.so" ]; then ok; else bad "not installed: PREFIX/$reldir/rattest.so"; fi
net=$pkglibdir/rattest-bootstrap-net.so
if [ -f "$P/$net" ]; then ok; else bad "not installed: PREFIX/$net"; fi
# The installed bootstrap runs and talks: its ping loads the module from
# the prefix and reports the closed port, not a missing module.
ca=$(dirname "$0")/../data/ekcerts/google-vtpm/pca_tpm_rsa_enc_cert.pem
out=$("$P/bin/rattest-bootstrap" ping --verifier 127.0.0.1:1 --ca "$ca" --timeout 100ms 2>&1) || true
if grep -q 'could not reach the verifier at 127.0.0.1:1' <<< "$out"; then ok; else
  bad "installed rattest-bootstrap ping: $out"; fi
# Without its module beside it, a command that talks fails (exit 1) naming
# the path it looked at and the loader's reason.
mkdir -p "$root/lonely/bin"
cp "$P/bin/rattest-bootstrap" "$root/lonely/bin/"
rc=0
out=$("$root/lonely/bin/rattest-bootstrap" ping --verifier 127.0.0.1:1 --ca "$ca" --timeout 100ms 2>&1) || rc=$?
want="rattest-bootstrap ping: cannot load the network module $root/lonely/bin/../$net: "
if [ $rc = 1 ] && [[ $out == "$want"*"No such file"* ]]; then ok; else
  bad "rattest-bootstrap without its module: exit $rc, $out"; fi
# Nothing outside the prefix: every line the install printed names a file in it.
if ! grep -- '-- \(Installing\|Up-to-date\): ' "$root.log" | grep -v -- ": $P/"; then ok; else
  bad "installed outside $P"; fi
for u in rattest-enroll.service rattest-renew.service rattest-renew.timer rattest-verifier.service; do
  if [ -f "$P/lib/systemd/system/$u" ]; then ok; else bad "unit $u not installed"; fi
done
if grep -qx "ExecStart=$P/bin/rattest-verifier serve \$RATTEST_VERIFIER_OPTS" \
  "$P/lib/systemd/system/rattest-verifier.service"; then ok; else bad "the verifier unit does not start PREFIX/bin/rattest-verifier"; fi
if grep -q "^EnvironmentFile=$P/etc/rattest/bootstrap.env$" "$P/lib/systemd/system/rattest-enroll.service"; then ok; else
  bad "the enroll unit's EnvironmentFile is not PREFIX/etc/rattest/bootstrap.env"; fi
for m in man8/rattest-verifier.8.gz man8/rattest-bootstrap.8.gz man7/rattest-provider.7.gz; do
  if [ -f "$P/share/man/$m" ]; then ok; else bad "man page not installed: PREFIX/share/man/$m"; fi
done
# The .cnf loads the installed provider, whatever OPENSSL_MODULES says.
cnf="$P/share/rattest/openssl-rattest.cnf"
if grep -qx "module = $P/$reldir/rattest.so" "$cnf"; then ok; else bad "openssl-rattest.cnf does not name PREFIX/$reldir/rattest.so"; fi
OPENSSL_CONF="$cnf" OPENSSL_MODULES=/nonexistent "${OSSL[@]}" list -providers > "$root.providers" 2>&1 || true
if grep -A3 '^  rattest$' "$root.providers" | grep -q 'status: active'; then ok; else
  bad "openssl list -providers with openssl-rattest.cnf: $(cat "$root.providers")"; fi
# With the prefix /usr (under DESTDIR) the provider lands in OpenSSL's own
# modules directory, and the .cnf names it there.
D="$root/destdir"
DESTDIR="$D" cmake --install "$build" --prefix /usr > "$root.log" 2>&1 || { cat "$root.log" >&2; exit 1; }
if [ -f "$D$sysmodules/rattest.so" ]; then ok; else bad "prefix /usr: not in $sysmodules"; fi
if grep -qx "module = $sysmodules/rattest.so" "$D/usr/share/rattest/openssl-rattest.cnf"; then ok; else
  bad "prefix /usr: the .cnf does not name $sysmodules/rattest.so"; fi
if grep -q "^EnvironmentFile=/etc/rattest/verifier.env$" "$D/usr/lib/systemd/system/rattest-verifier.service"; then ok; else
  bad "prefix /usr: the units' configuration is not in /etc/rattest"; fi
if [ -z "$(find "$D" -mindepth 1 -maxdepth 1 ! -name usr)" ]; then ok; else bad "prefix /usr wrote outside /usr: $(ls "$D")"; fi
finish test_install
