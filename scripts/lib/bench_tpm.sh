#!/usr/bin/env bash
# scripts/bench's TPM sections, on a private swtpm (tests/harness/with-swtpm):
#   Bootstrap: rattest-bootstrap enroll with an RSA EK and with an ECC EK,
#     RUNS times each: TPM commands (pcap TCTI, tests/tools/tpm_pcap_count.py;
#     resends the TPM asked for with TPM_RC_RETRY not counted), ms from exec
#     (stamped in the child just before its execve) to the first TPM command
#     (the capture's timestamp) and wall ms (from before the spawn), median;
#   Provider: TPM commands of one s_client handshake with the enrolled EC key
#     file, and TLS 1.3 handshakes per second (openssl s_time, client
#     certificate required) with that key against a software P-256 key
#     certified by the same issuing CA, measured one after the other.
# Usage: bench_tpm.sh BUILD_DIR [RUNS]  (BUILD_DIR with tests: rt_log_extend)
# Prints the Markdown section on stdout, progress on stderr.
set -euo pipefail
build=$(cd "${1:?usage: bench_tpm.sh BUILD_DIR [RUNS]}" && pwd) runs=${2:-5}
src=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${RATTEST_TPM_DIR:-}" ]; then
  exec "$src/tests/harness/with-swtpm" -- "$0" "$build" "$runs"
fi
V="$build/bin/rattest-verifier" B="$build/bin/rattest-bootstrap"
LOG="$src/tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin"
work=$(mktemp -d)
spid=""
. "$src/tests/lib/verifier.sh"
. "$src/tests/lib/provider.sh"
trap 'stop_verifier; [ -z "$spid" ] || kill "$spid" 2>/dev/null; rm -rf "$work"' EXIT
"$src/certs/mkpki" "$work/pki" > /dev/null
"$build/tests/rt_log_extend" "$LOG" > /dev/null
start_verifier --ek-ca "$RATTEST_EK_CA_BUNDLE"

# A program that does nothing but print the time its main() begins, linked
# to libtss2-esys as any ESYS program is (and through it to libcrypto): the
# least time to an ESYS program's first instruction of its own, the loading
# and relocating of those libraries.
"${CC:-cc}" -x c - -o "$work/esys-nop" -Wl,--no-as-needed -ltss2-esys << 'C'
#include <stdio.h>
#include <time.h>
int main(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  printf("%lld.%09ld\n", (long long)t.tv_sec, t.tv_nsec);
  return 0;
}
C

# enroll_once EK: one enrollment from scratch; prints "commands exec_ms wall_ms
# commands true_ms esys_ms": true_ms is /bin/true from the same stamp to its
# exit, the machine's own price of starting a dynamically linked program
# then, and esys_ms esys-nop's from the same stamp to its main().
enroll_once() {
  rm -rf "$work/s" "$work/e.pcap"
  tpm2_evictcontrol -C o -c 0x81000100 > /dev/null 2>&1 || true
  python3 - "$B" "$port" "$work" "$1" "$LOG" "$RATTEST_TCTI" "$src" <<'PY'
import os, struct, subprocess, sys, time
b, port, work, ek, log, tcti, src = sys.argv[1:]
pcap = work + "/e.pcap"
env = dict(os.environ, RATTEST_TCTI="pcap:" + tcti, TCTI_PCAP_FILE=pcap)
# The clock starts in the child, just before its execve (preexec_fn), not
# before Python's fork: what the bootstrap costs, not what spawning it does.
exec_at = work + "/exec_at"
def stamp():
    with open(exec_at, "w") as f:
        f.write(repr(time.time()))
t0 = time.time()
r = subprocess.run([b, "enroll", "--verifier", "localhost:" + port, "--ca", work + "/pki/tls-ca.pem",
                    "--state-dir", work + "/s", "--key-alg", "ecc-p256", "--ek", ek, "--event-log", log,
                    "--timeout", "30s"], env=env, capture_output=True, text=True, preexec_fn=stamp)
t1 = time.time()
if r.returncode != 0:
    raise SystemExit("enroll failed: " + r.stderr)
data, off, first = open(pcap, "rb").read(), 0, None
while off + 12 <= len(data):  # the first enhanced packet block: the first command
    btype, blen = struct.unpack_from("<II", data, off)
    if btype == 6:
        hi, lo = struct.unpack_from("<II", data, off + 12)
        first = ((hi << 32) | lo) / 1e6
        break
    off += blen
count = subprocess.run([sys.executable, src + "/tests/tools/tpm_pcap_count.py", pcap],
                       capture_output=True, text=True).stdout
n = [l.split(": ")[1] for l in count.splitlines() if l.startswith("commands: ")][0]
cmds = [l[5:] for l in count.splitlines() if l.startswith("all: ")][0]
exec_ms = 1000 * (first - float(open(exec_at).read()))
subprocess.run(["/bin/true"], preexec_fn=stamp)
true_ms = 1000 * (time.time() - float(open(exec_at).read()))
main_at = subprocess.run([work + "/esys-nop"], preexec_fn=stamp, capture_output=True, text=True).stdout
esys_ms = 1000 * (float(main_at) - float(open(exec_at).read()))
print(n, f"{exec_ms:.1f}", f"{1000 * (t1 - t0):.1f}", cmds, f"{true_ms:.1f}", f"{esys_ms:.1f}",
      sep="\t")
PY
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "## Bootstrap and provider on swtpm"
echo
echo "\`scripts/lib/bench_tpm.sh BUILD $runs\` (\`scripts/bench --tpm\`), on swtpm through its TCP"
echo "TCTI; medians of $runs enrollments from scratch per EK kind. Anchors: at most 20 TPM commands"
echo "per enrollment, under 10 ms from exec to the first TPM command (issue 17). The clock"
echo "starts in the child just before its execve; \`/bin/true\` timed the same way, to its exit,"
echo "in the same runs, shows what starting any dynamically linked program cost the machine then;"
echo "a program linked to libtss2-esys (and through it to libcrypto), as any ESYS program is, that"
echo "only reads the clock as its main() begins, timed from the same stamp to that reading, what"
echo "loading those libraries costs before a program's own code runs: the least an ESYS program's"
echo "first TPM command can take, anchor of the ratio in the fourth column."
echo
echo "| EK | TPM commands (anchor 20) | exec → first TPM command ms (anchor 10) | ratio to an ESYS program's exec → main() | ESYS program exec → main() ms | /bin/true exec → exit ms | wall ms |"
echo "|---|---|---|---|---|---|---|"
for ek in rsa ecc; do
  echo "==> bootstrap, $ek EK, $runs runs" >&2
  : > "$work/$ek.runs"
  for _ in $(seq "$runs"); do enroll_once "$ek" >> "$work/$ek.runs"; done
  n=$(cut -f1 "$work/$ek.runs" | median) x=$(cut -f2 "$work/$ek.runs" | median)
  w=$(cut -f3 "$work/$ek.runs" | median) t=$(cut -f5 "$work/$ek.runs" | median)
  e=$(cut -f6 "$work/$ek.runs" | median)
  echo "| $ek | $n ($(awk "BEGIN {printf \"%.2f\", $n / 20}")×) | $x ($(awk "BEGIN {printf \"%.1f\", $x / 10}")×) | $(awk "BEGIN {printf \"%.2f\", $x / $e}")× | $e | $t | $w |"
  cut -f4 "$work/$ek.runs" | tail -1 > "$work/$ek.cmds"
done
echo
for ek in rsa ecc; do echo "- commands, $ek EK: $(cat "$work/$ek.cmds")"; done
echo "- command: \`rattest-bootstrap enroll --verifier ... --ek rsa|ecc --key-alg ecc-p256 --event-log arch-linux-workstation.bin\` with \`RATTEST_TCTI=pcap:swtpm:...\`"
echo

# --- provider ---------------------------------------------------------------
key="$work/s/$(cd "$work/s" && ls *.key.pem | head -1)" cert="${key%.key.pem}.cert.pem"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/sw.key" \
  -subj /CN=software -out "$work/sw.csr" 2> /dev/null
printf 'extendedKeyUsage=clientAuth\n' > "$work/ext"
openssl x509 -req -in "$work/sw.csr" -CA "$work/pki/issuer-chain.pem" -CAkey "$work/pki/issuer.key" \
  -CAcreateserial -days 1 -extfile "$work/ext" -out "$work/sw.pem" 2> /dev/null
cat "$work/pki/issuer-chain.pem" "$work/pki/issuer-root.pem" > "$work/clientca.pem"
sport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl s_server -accept "127.0.0.1:$sport" -cert "$work/pki/server-chain.pem" -key "$work/pki/server.key" \
  -Verify 4 -verify_return_error -CAfile "$work/clientca.pem" -tls1_3 -www -quiet > /dev/null 2>&1 &
spid=$!
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$sport") 2> /dev/null && break; sleep 0.05; done
write_provider_cnf "$work/openssl.cnf"
export OPENSSL_MODULES="$build/lib"
rm -f "$work/h.pcap"
echo Q | RATTEST_STATE_DIR="$work/s" RATTEST_TCTI="pcap:$RATTEST_TCTI" TCTI_PCAP_FILE="$work/h.pcap" \
  openssl s_client -connect "127.0.0.1:$sport" -provider rattest -provider default -key "$key" \
  -cert "$cert" -tls1_3 > /dev/null 2>&1 || true
after=$(python3 "$src/tests/tools/tpm_pcap_count.py" "$work/h.pcap" | sed -n 's/^after-load: //p')
secs=5
# s_time's "N connections in T real seconds" (its other figure is the
# client's CPU time, which leaves out the TPM's work in swtpm).
real_rate() { sed -n 's/^\([0-9]*\) connections in \([0-9]*\) real seconds.*/\1 \2/p' | head -1; }
echo "==> provider: s_time $secs s with each key" >&2
# Alternating 1-second runs, so that both keys see the same load.
n_tpm=0 n_sw=0 t_tpm=0 t_sw=0
for _ in $(seq "$secs"); do
  set -- $(OPENSSL_CONF="$work/openssl.cnf" RATTEST_STATE_DIR="$work/s" \
    RATTEST_TCTI="pcap:$RATTEST_TCTI" TCTI_PCAP_FILE="$work/st.pcap" openssl s_time \
    -connect "127.0.0.1:$sport" -new -time 1 -cert "$cert" -key "$key" 2>&1 | real_rate) 0 0
  n_tpm=$((n_tpm + $1)) t_tpm=$((t_tpm + $2))
  signs=$(python3 "$src/tests/tools/tpm_pcap_count.py" "$work/st.pcap" | sed -n 's/^all: //p' | tr ' ' '\n' | grep -cx Sign || true)
  [ "$signs" -ge "$1" ] || { echo "bench_tpm: s_time made $1 handshakes with $signs TPM signatures" >&2; exit 1; }
  set -- $(openssl s_time -connect "127.0.0.1:$sport" -new -time 1 -cert "$work/sw.pem" \
    -key "$work/sw.key" 2>&1 | real_rate) 0 0
  n_sw=$((n_sw + $1)) t_sw=$((t_sw + $2))
done
r_tpm="$n_tpm $t_tpm" r_sw="$n_sw $t_sw"
hs() { awk "BEGIN {split(\"$1\", a, \" \"); if (a[2] > 0) printf \"%.1f\", a[1] / a[2]; else print \"?\"}"; }
h_tpm=$(hs "$r_tpm") h_sw=$(hs "$r_sw")
echo "| client key | TPM commands per handshake (after the load; the flushes are the SRK's and the key's) | TLS 1.3 handshakes/s | time per handshake, ratio to the software key |"
echo "|---|---|---|---|"
echo "| rattest key file (EC P-256 in swtpm) | $(echo "$after" | tr ' ' '\n' | grep -cvx FlushContext): \`$after\` | $h_tpm | $(awk "BEGIN {if ($h_tpm > 0) printf \"%.2f\", $h_sw / $h_tpm; else print \"?\"}")× |"
echo "| software P-256 key, same issuing CA | 0 | $h_sw | 1 (anchor) |"
echo
echo "- commands: \`openssl s_server -Verify 4 -tls1_3 -www\`; \`openssl s_time -new -time 1 -cert CERT -key KEY\`, $secs runs with each key taking turns (each rattest run checked to have sent a TPM2_Sign per handshake) with \`OPENSSL_CONF\` activating the rattest and default providers (rattest key) or without (software key); the commands counted with one \`s_client -provider rattest -provider default -key KEYFILE\` under the pcap TCTI (\`after-load\`: from the key's load on; \`FlushContext\` entries are the SRK's and the key's own)"
echo
