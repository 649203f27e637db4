#!/usr/bin/env bash
# The Debian packages (`cpack -G DEB`, the CPack block of CMakeLists.txt):
# four packages of the built version, each with its files under /usr and
# nothing else (no conffiles, no maintainer scripts), Depends computed by
# dpkg-shlibdeps (the provider without gRPC), the units naming /usr/bin and
# documents the doc package ships. Installed together into a scratch root
# with `dpkg --root` (no file in two packages), the binaries print their
# version, openssl loads the provider from there, man finds the pages.
# dpkg-shlibdeps costs 2-3 s of CPU a package: by default it runs for the
# provider only (the Depends of the other two stay empty here), --long runs
# it for all three, as `cpack -G DEB` does.
# The bootstrap's network module goes with it (PKGLIBDIR, /usr/lib/<multiarch>/rattest),
# and the bootstrap finds it in the scratch root.
# Usage: test_package.sh [--long] BUILD_DIR OUT_DIR OPENSSL_MODULESDIR PKGLIBDIR
set -euo pipefail
long=false
[ "${1:-}" = --long ] && long=true && shift
build=${1:?usage} out=${2:?usage} modules=${3:?usage} pkglibdir=${4:?usage}
. "$(dirname "$0")/../lib/assert.sh"
rm -rf "$out"
mkdir -p "$out"
version=$("$build/bin/rattest-verifier" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
# The build is complete when ctest runs: CPACK_CMAKE_GENERATOR=Ninja has no
# "preinstall" target, so cpack installs without make re-checking every
# target of the build (20 s on a loaded machine) first.
shlibdeps=()
$long || shlibdeps=(-D CPACK_DEBIAN_VERIFIER_PACKAGE_SHLIBDEPS=OFF -D CPACK_DEBIAN_BOOTSTRAP_PACKAGE_SHLIBDEPS=OFF)
if ! (cd "$build" && cpack -G DEB -B "$out/debs" -D CPACK_CMAKE_GENERATOR=Ninja "${shlibdeps[@]}") \
  > "$out/cpack.log" 2>&1; then
  cat "$out/cpack.log" >&2
  bad "cpack failed"
  finish test_package || exit 1
fi
deb() { echo "$out/debs/$1_${version}_$2.deb"; }
for p in rattest-verifier rattest-bootstrap rattest-provider; do
  if [ -f "$(deb $p "$arch")" ]; then ok; else bad "no $(basename "$(deb $p "$arch")")"; fi
done
if [ -f "$(deb rattest-doc all)" ]; then ok; else bad "no rattest-doc_${version}_all.deb"; fi
if [ "$(find "$out/debs" -maxdepth 1 -name '*.deb' | wc -l)" = 4 ]; then ok; else
  bad "not four packages: $(ls "$out/debs")"; fi

# field PACKAGE ARCH FIELD: one control field.
field() { dpkg-deb -f "$(deb "$1" "$2")" "$3"; }
# has_files PACKAGE ARCH PATH...: the package holds each PATH, and nothing
# outside /usr.
has_files() {
  local p=$1 a=$2 list
  shift 2
  list=$(dpkg-deb -c "$(deb "$p" "$a")" | awk '{print substr($6, 2)}')
  for f in "$@"; do
    if grep -qx -- "$f" <<< "$list"; then ok; else bad "$p does not hold $f"; fi
  done
  if ! grep -v '^/usr/\?' <<< "$list" | grep -v '^/$'; then ok; else bad "$p holds files outside /usr"; fi
  # Only control and md5sums: no conffiles, no maintainer scripts.
  if [ "$(dpkg-deb --ctrl-tarfile "$(deb "$p" "$a")" | tar -t | grep -v '/$' | sort | tr '\n' ' ')" = \
    "./control ./md5sums " ]; then ok; else bad "$p has control members besides control and md5sums"; fi
}
# depends PACKAGE ARCH FIELD REGEX...: FIELD names a package matching each REGEX.
depends() {
  local p=$1 a=$2 f=$3 value
  shift 3
  value=$(field "$p" "$a" "$f")
  for re in "$@"; do
    if grep -Eq "(^|, )$re( |,|$)" <<< "$value"; then ok; else bad "$p $f has no $re: $value"; fi
  done
}
for p in rattest-verifier rattest-bootstrap rattest-provider; do
  if [ "$(field $p "$arch" Package) $(field $p "$arch" Version)" = "$p $version" ]; then ok; else
    bad "$p: not Package $p, Version $version"; fi
done
has_files rattest-verifier "$arch" /usr/bin/rattest-verifier \
  /usr/lib/systemd/system/rattest-verifier.service /usr/share/man/man8/rattest-verifier.8.gz
has_files rattest-bootstrap "$arch" /usr/bin/rattest-bootstrap \
  /usr/lib/systemd/system/rattest-enroll.service /usr/lib/systemd/system/rattest-renew.service \
  /usr/lib/systemd/system/rattest-renew.timer /usr/share/man/man8/rattest-bootstrap.8.gz \
  "$pkglibdir/rattest-bootstrap-net.so"
has_files rattest-provider "$arch" "$modules/rattest.so" /usr/share/rattest/openssl-rattest.cnf \
  /usr/share/man/man7/rattest-provider.7.gz
has_files rattest-doc all /usr/share/doc/rattest/cli.md /usr/share/doc/rattest/operations.md
tss='libtss2-esys-[0-9.]+-0' ssl='libssl3' jansson='libjansson4'
if $long; then
  depends rattest-verifier "$arch" Depends 'libgrpc[0-9]+' "$tss" "$jansson" "$ssl" 'libprotobuf-c1' \
    'libpq5' 'libsqlite3-0' 'libmicrohttpd12' 'libcurl4'
  depends rattest-bootstrap "$arch" Depends 'libgrpc[0-9]+' "$tss" "$jansson" "$ssl" 'libcurl4'
fi
depends rattest-bootstrap "$arch" Recommends "rattest-provider \(= $version\)"
depends rattest-bootstrap "$arch" Suggests tpm2-abrmd
depends rattest-provider "$arch" Depends "$tss" "$jansson" "$ssl"
depends rattest-provider "$arch" Recommends openssl
# The module links no gRPC (provider/CMakeLists.txt), so neither may its package.
if ! field rattest-provider "$arch" Depends | grep -q grpc; then ok; else bad "rattest-provider depends on gRPC"; fi
if [ "$(field rattest-doc all Architecture)" = all ]; then ok; else bad "rattest-doc is not Architecture: all"; fi

# All four into a scratch root, in one dpkg run: a file in two packages
# fails it. --force-depends: the root has none of the libraries' packages.
R="$out/root"
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
if dpkg --root="$R" --force-depends --force-not-root --force-script-chrootless -i "$out"/debs/*.deb \
  > "$out/dpkg.log" 2>&1; then ok; else bad "dpkg -i into $R: $(tail -5 "$out/dpkg.log")"; fi
for p in rattest-verifier rattest-bootstrap rattest-provider rattest-doc; do
  s=$(dpkg --root="$R" -s $p 2> /dev/null | sed -n 's/^Status: //p')
  if [ "$s" = "install ok installed" ]; then ok; else bad "$p in $R: status '$s'"; fi
done
for b in rattest-verifier rattest-bootstrap; do
  v=$("$R/usr/bin/$b" --version 2>&1) || true
  if [ "$v" = "$b $version" ]; then ok; else bad "$R/usr/bin/$b --version: $v"; fi
done
ca=$(dirname "$0")/../data/ekcerts/google-vtpm/pca_tpm_rsa_enc_cert.pem
v=$("$R/usr/bin/rattest-bootstrap" ping --verifier 127.0.0.1:1 --ca "$ca" --timeout 100ms 2>&1) || true
if grep -q 'could not reach the verifier at 127.0.0.1:1' <<< "$v"; then ok; else
  bad "$R/usr/bin/rattest-bootstrap ping (its network module): $v"; fi
openssl list -providers -provider-path "$R$modules" -provider rattest > "$out/providers" 2>&1 || true
if grep -A3 '^  rattest$' "$out/providers" | grep -q 'status: active'; then ok; else
  bad "openssl does not load $R$modules/rattest.so: $(cat "$out/providers")"; fi
if grep -qx "module = $modules/rattest.so" "$R/usr/share/rattest/openssl-rattest.cnf"; then ok; else
  bad "the packaged .cnf does not load $modules/rattest.so"; fi
unit=$R/usr/lib/systemd/system/rattest-verifier.service
if grep -qx 'ExecStart=/usr/bin/rattest-verifier serve $RATTEST_VERIFIER_OPTS' "$unit"; then ok; else
  bad "the packaged verifier unit does not start /usr/bin/rattest-verifier"; fi
# Every page a packaged unit's Documentation= names is installed.
for doc in $(sed -n 's/^Documentation=//p' "$R"/usr/lib/systemd/system/rattest-*); do
  case $doc in
  file:*) f=$R${doc#file:} ;;
  man:*)
    n=${doc#man:} s=${doc#*(}
    f=$(man -M "$R/usr/share/man" -w "${s%)}" "${n%(*}" 2> /dev/null) || f=/missing
    ;;
  esac
  if [ -f "$f" ]; then ok; else bad "Documentation=$doc is not installed"; fi
done
if [ "$(man -M "$R/usr/share/man" -w 7 rattest-provider 2> /dev/null)" = "$R/usr/share/man/man7/rattest-provider.7.gz" ]; then
  ok; else bad "man does not find rattest-provider(7) in $R"; fi
finish test_package
