# Sourced by scripts/test and scripts/demo: installs the Debian 12 packages
# rattest needs to build and test, only when something is missing, with one
# `apt-get update` first (and neither when all is present).

RATTEST_PACKAGES=(
  # build
  build-essential cmake pkg-config
  libssl-dev libtss2-dev libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libjansson-dev
  libcurl4-openssl-dev libmicrohttpd-dev
  # the machine registry's engines (verifier/registry); the PostgreSQL server
  # for the tests (tests/harness/with-postgres)
  libsqlite3-dev libpq-dev postgresql
  # software TPM and the peers that judge our output
  swtpm swtpm-tools gnutls-bin tpm2-tools tpm2-openssl tpm2-abrmd libtss2-tcti-tabrmd0 dbus
  openssl curl nginx-light
  # judges the metrics exposition (promtool)
  prometheus
  # standard gRPC in another language, stubs generated from proto/
  python3 python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc
  # the upstream health.proto the verifier serves, and the Python stubs the
  # tests generate from it (grpc_tools.protoc)
  grpc-proto python3-grpc-tools
  # used by the test harness (ss, pkill) and the format check
  iproute2 procps clang-format
  # systemd-analyze verify checks the installed units
  systemd
  # groff renders the man pages (docs_help), man finds them (systemd-analyze
  # verify of the units' Documentation=, ctest package); cpack's DEB
  # generator runs dpkg-shlibdeps
  groff-base man-db dpkg-dev
  # scripts/fuzz: clang and its libFuzzer runtime
  clang libclang-rt-14-dev
)

rattest_missing_packages() {
  local p status
  for p in "${RATTEST_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || printf '%s\n' "$p"
  done
}

rattest_install_deps() {
  local missing
  mapfile -t missing < <(rattest_missing_packages)
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "==> dependencies: all ${#RATTEST_PACKAGES[@]} Debian packages present"
    return 0
  fi
  echo "==> dependencies: installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; return 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Configures and builds into $1 (default build/) with extra cmake arguments.
rattest_build() {
  local dir=${1:-build}; shift || true
  echo "==> building in $dir"
  cmake -S "$RATTEST_ROOT" -B "$RATTEST_ROOT/$dir" "$@" > /dev/null
  cmake --build "$RATTEST_ROOT/$dir" -j "$(nproc)"
}
