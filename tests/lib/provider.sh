# shellcheck shell=bash
# Sourced by tests that run OpenSSL programs (curl, nginx) with the rattest
# provider configured in a file.
#
# write_provider_cnf FILE: an openssl.cnf activating default and rattest
# only (no default_properties), as a user would write it for curl.
write_provider_cnf() {
  cat > "$1" << CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
rattest = rattest_sect
[default_sect]
activate = 1
[rattest_sect]
activate = 1
CNF
}
