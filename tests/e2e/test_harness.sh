#!/bin/bash
#
# test_harness.sh - checks that the TPM given by tests/harness/with-swtpm is
# what the rest of the test suite assumes: EK certificates chaining to the
# exported CA files (and only to them), EK keys matching their certificates,
# a platform certificate, sha1+sha256 PCR banks, and the TCTI of the mode.
#
# Run as:  tests/harness/with-swtpm [--abrmd] -- tests/test_harness.sh
#
# Checks use explicit `|| fail` instead of `set -e`: errexit is disabled
# inside functions called from `if`, which is how every check is run.

set -uo pipefail

prog=test_harness

for v in RATTEST_TPM_DIR RATTEST_TPM_MODE RATTEST_TCTI RATTEST_TCTI_DIRECT \
	RATTEST_SWTPM_PORT RATTEST_EK_CA_ROOT RATTEST_EK_CA_INTERMEDIATE \
	RATTEST_EK_CA_BUNDLE TPM2TOOLS_TCTI; do
	if [[ -z ${!v:-} ]]; then
		printf '%s: %s is not set; run me under tests/harness/with-swtpm\n' "$prog" "$v" >&2
		exit 2
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/test_harness.XXXXXX") || exit 2
trap 'rm -rf -- "$work"' EXIT

passed=0
failed=0

# Print why a check failed, with the captured output of the last command.
fail() {
	printf '    %s\n' "$*" >&2
	if [[ -s $work/out ]]; then
		sed 's/^/    | /' "$work/out" | head -n 20 >&2
	fi
	return 1
}

# Run a command with its output kept in $work/out for fail().
run() {
	"$@" >"$work/out" 2>&1
}

check() {
	local name=$1
	shift
	: >"$work/out"
	if "$@"; then
		passed=$((passed + 1))
		printf 'ok   - %s\n' "$name"
	else
		failed=$((failed + 1))
		printf 'FAIL - %s\n' "$name" >&2
	fi
}

# Self-signed CA that has nothing to do with the TPM but carries the same
# subject as the real root, so that a verifier matching issuers by name alone
# would pick it up.
make_unrelated_ca() {
	local subject
	subject=$(openssl x509 -in "$RATTEST_EK_CA_ROOT" -noout -subject -nameopt compat) ||
		fail "cannot read subject of $RATTEST_EK_CA_ROOT" || return 1
	subject=${subject#subject=}
	run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "$subject" -days 2 \
		-keyout "$work/unrelated-ca.key" -out "$work/unrelated-ca.pem" ||
		fail "cannot generate an unrelated CA" || return 1
}

# ek_cert_checks NAME NV_INDEX KEY_DESCRIPTION_REGEX
# Read an EK certificate from NV, then verify it chains correctly, and that
# the same check fails without the intermediate or with a foreign root.
ek_cert_checks() {
	local name=$1 index=$2 keyre=$3 der=$work/$1.der pem=$work/$1.pem

	run tpm2_nvread "$index" -o "$der" ||
		fail "tpm2_nvread $index failed (TCTI $TPM2TOOLS_TCTI)" || return 1
	[[ -s $der ]] || fail "NV index $index is empty" || return 1
	run openssl x509 -inform der -in "$der" -out "$pem" ||
		fail "NV index $index does not hold a DER X.509 certificate" || return 1
	run openssl x509 -in "$pem" -noout -text ||
		fail "openssl cannot print $pem" || return 1
	grep -Eq "$keyre" "$work/out" ||
		fail "$index: public key is not /$keyre/" || return 1
	# TCG EK credential profile: EKU tcg-kp-EKCertificate.
	grep -q '2\.23\.133\.8\.1' "$work/out" ||
		fail "$index: no tcg-kp-EKCertificate (2.23.133.8.1) extended key usage" || return 1

	run openssl verify -CAfile "$RATTEST_EK_CA_ROOT" \
		-untrusted "$RATTEST_EK_CA_INTERMEDIATE" "$pem" ||
		fail "$index: does not verify against root + intermediate" || return 1
	run openssl verify -CAfile "$RATTEST_EK_CA_ROOT" \
		-untrusted "$RATTEST_EK_CA_BUNDLE" "$pem" ||
		fail "$index: does not verify with RATTEST_EK_CA_BUNDLE as the untrusted chain" || return 1

	# Negative checks.  The "OK" test makes sure openssl really looked at
	# the certificate rather than failing for an unrelated reason.
	if run openssl verify -CAfile "$RATTEST_EK_CA_ROOT" "$pem"; then
		fail "$index: verified against the root alone, without the intermediate" || return 1
	fi
	grep -q 'unable to get local issuer certificate' "$work/out" ||
		fail "$index: root-only verification failed for an unexpected reason" || return 1
	if run openssl verify -CAfile "$work/unrelated-ca.pem" \
		-untrusted "$RATTEST_EK_CA_INTERMEDIATE" "$pem"; then
		fail "$index: verified against an unrelated CA" || return 1
	fi
	if run openssl verify -CAfile "$work/unrelated-ca.pem" "$pem"; then
		fail "$index: verified against an unrelated CA without intermediate" || return 1
	fi
	: >"$work/out"
}

# ek_key_check NAME PERSISTENT_HANDLE
# The persistent EK must be the key the certificate (from ek_cert_checks) is for.
ek_key_check() {
	local name=$1 handle=$2 pem=$work/$1.pem
	[[ -s $pem ]] || fail "no certificate from the previous check" || return 1
	run tpm2_readpublic -c "$handle" -f pem -o "$work/$name.tpm-pub.pem" ||
		fail "tpm2_readpublic -c $handle failed" || return 1
	run openssl pkey -pubin -in "$work/$name.tpm-pub.pem" -outform der -out "$work/$name.tpm-pub.der" ||
		fail "cannot parse the public key of $handle" || return 1
	run openssl x509 -in "$pem" -noout -pubkey -out "$work/$name.cert-pub.pem" ||
		fail "cannot extract the public key of the certificate" || return 1
	run openssl pkey -pubin -in "$work/$name.cert-pub.pem" -outform der -out "$work/$name.cert-pub.der" ||
		fail "cannot parse the certificate's public key" || return 1
	cmp -s "$work/$name.tpm-pub.der" "$work/$name.cert-pub.der" ||
		fail "public key of persistent EK $handle differs from its certificate's" || return 1
}

check_platform_cert() {
	local der=$work/platform.der first
	run tpm2_nvread 0x01c08000 -o "$der" ||
		fail "tpm2_nvread 0x01c08000 failed" || return 1
	[[ -s $der ]] || fail "platform certificate NV index 0x01c08000 is empty" || return 1
	# An attribute certificate, which openssl x509 cannot parse; it must at
	# least be a DER SEQUENCE.
	first=$(od -An -tx1 -N1 "$der" | tr -d ' \n')
	[[ $first == 30 ]] || fail "0x01c08000 does not start with a DER SEQUENCE (got 0x$first)" || return 1
}

check_pcr_banks() {
	local bank
	run tpm2_getcap pcrs || fail "tpm2_getcap pcrs failed" || return 1
	for bank in sha1 sha256; do
		grep -Eq "^ *- $bank: \[ *0, *1," "$work/out" ||
			fail "PCR bank $bank is not active" || return 1
	done
	# swtpm_setup must have dropped the other banks.
	for bank in sha384 sha512; do
		if grep -Eq "^ *- $bank: \[ *[0-9]" "$work/out"; then
			fail "PCR bank $bank is active but only sha1,sha256 were requested" || return 1
		fi
	done
	# tpm2_pcrread succeeds even for an inactive bank, so look at the values.
	run tpm2_pcrread sha1:0+sha256:0 || fail "tpm2_pcrread sha1:0+sha256:0 failed" || return 1
	grep -Eq '^ *0 *: *0x[0-9A-Fa-f]{40}$' "$work/out" ||
		fail "no sha1 value for PCR 0" || return 1
	grep -Eq '^ *0 *: *0x[0-9A-Fa-f]{64}$' "$work/out" ||
		fail "no sha256 value for PCR 0" || return 1
}

check_ca_files() {
	local f n
	for f in "$RATTEST_EK_CA_ROOT" "$RATTEST_EK_CA_INTERMEDIATE" "$RATTEST_EK_CA_BUNDLE"; do
		[[ -s $f ]] || fail "$f missing or empty" || return 1
	done
	n=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$RATTEST_EK_CA_BUNDLE")
	[[ $n == 2 ]] || fail "bundle holds $n certificates, expected 2" || return 1
	cat -- "$RATTEST_EK_CA_INTERMEDIATE" "$RATTEST_EK_CA_ROOT" | cmp -s - "$RATTEST_EK_CA_BUNDLE" ||
		fail "bundle is not intermediate followed by root" || return 1
	run openssl verify -CAfile "$RATTEST_EK_CA_ROOT" "$RATTEST_EK_CA_INTERMEDIATE" ||
		fail "intermediate is not signed by the root" || return 1
	if cmp -s "$RATTEST_EK_CA_ROOT" "$RATTEST_EK_CA_INTERMEDIATE"; then
		fail "root and intermediate are the same certificate" || return 1
	fi
}

check_mode() {
	local direct="swtpm:host=127.0.0.1,port=$RATTEST_SWTPM_PORT"
	[[ $RATTEST_TCTI_DIRECT == "$direct" ]] ||
		fail "RATTEST_TCTI_DIRECT='$RATTEST_TCTI_DIRECT', expected '$direct'" || return 1
	[[ $TPM2TOOLS_TCTI == "$RATTEST_TCTI" ]] ||
		fail "TPM2TOOLS_TCTI='$TPM2TOOLS_TCTI' differs from RATTEST_TCTI='$RATTEST_TCTI'" || return 1
	case $RATTEST_TPM_MODE in
	abrmd)
		[[ $TPM2TOOLS_TCTI == tabrmd* ]] ||
			fail "abrmd mode but TPM2TOOLS_TCTI='$TPM2TOOLS_TCTI'" || return 1
		[[ -n ${DBUS_SESSION_BUS_ADDRESS:-} ]] ||
			fail "abrmd mode but DBUS_SESSION_BUS_ADDRESS is unset" || return 1
		;;
	direct)
		[[ $TPM2TOOLS_TCTI == "$direct" ]] ||
			fail "direct mode but TPM2TOOLS_TCTI='$TPM2TOOLS_TCTI'" || return 1
		;;
	*) fail "RATTEST_TPM_MODE='$RATTEST_TPM_MODE', expected direct or abrmd" || return 1 ;;
	esac
	run tpm2_getrandom 8 --hex || fail "tpm2_getrandom via $TPM2TOOLS_TCTI failed" || return 1
}

printf '%s: mode %s, TCTI %s\n' "$prog" "$RATTEST_TPM_MODE" "$TPM2TOOLS_TCTI"

if ! make_unrelated_ca; then
	printf '%s: cannot create the negative-test CA\n' "$prog" >&2
	exit 1
fi

check "TCTI matches mode $RATTEST_TPM_MODE" check_mode
check "EK CA root/intermediate/bundle files" check_ca_files
check "RSA EK cert 0x01c00002 chains to EK CA (and only with intermediate)" \
	ek_cert_checks ek-rsa 0x01c00002 'Public-Key: \(2048 bit\)'
check "RSA EK cert matches persistent EK 0x81010001" ek_key_check ek-rsa 0x81010001
check "ECC EK cert 0x01c00016 chains to EK CA (and only with intermediate)" \
	ek_cert_checks ek-ecc 0x01c00016 'NIST CURVE: P-384|ASN1 OID: secp384r1'
check "ECC EK cert matches persistent EK 0x81010016" ek_key_check ek-ecc 0x81010016
check "platform cert NV 0x01c08000 readable" check_platform_cert
check "PCR banks sha1+sha256 active, others not" check_pcr_banks

printf '%s: %d passed, %d failed\n' "$prog" "$passed" "$failed"
((failed == 0))
