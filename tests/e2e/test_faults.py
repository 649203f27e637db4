#!/usr/bin/python3
"""Fault injection in rattest-bootstrap (run under tests/harness/with-swtpm).

The bootstrap reaches swtpm through tests/tools/tcti_faults.c, a TCTI that
fails, loses or kills at its k-th TPM command. For each fault the driver
checks:
  - the bootstrap exits non-zero and its message names the step that was
    running (a step the faulted command belongs to) and the TPM error, or it
    finished a complete enrollment anyway (a fault it may tolerate: a failed
    FlushContext, the NV buffer size query);
  - no transient object or session is left in the TPM (tpm2_getcap), but
    for the object a faulted FlushContext kept; after a kill or a vanished
    TPM the process could not flush, and a resource manager would have: the
    driver counts what is left, then flushes it;
  - every persistent owner handle holds what state.json records there, and
    the identity is the old one or the new one, nothing else;
  - a rerun without fault succeeds (and receives the secrets).

Flows: enroll (first enrollment), renew (enroll --renew), secrets (first
enrollment with delivered secrets), verifier-kill (the verifier killed
between Begin and Finish). Usage:
  test_faults.py BUILD_DIR FLOW rsa|ecc [--long] [--modes M,M] [--k K,K]
Without --long, a sample: one k for each kind of TPM command of the flow,
modes alternating; --long: every k with fail, disappear and kill.
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOG = os.path.join(SRC, "tests/data/eventlogs/arch-linux-workstation/arch-linux-workstation.bin")
HANDLE = 0x81000100
sys.path.insert(0, os.path.join(SRC, "tests/tools"))
from tpm_pcap_count import NAMES as CC  # noqa: E402 (the path above first)
# The steps rattest-bootstrap names ("rattest-bootstrap enroll: STEP: ..."),
# in the order they run, each with the TPM commands it sends. A fault must be
# reported by a step that sends the faulted command, and steps never go back.
STEPS = [
    ("state", set()),
    ("restoring the recorded key", {0x173, 0x131, 0x157, 0x165, 0x120}),
    ("--handle", {0x173}),
    ("EK", {0x169, 0x17A, 0x14E, 0x173, 0x131}),
    ("EK chain", {0x17A, 0x169, 0x14E}),
    ("platform certificate", {0x169, 0x17A, 0x14E}),
    ("AK", {0x131, 0x165}),
    ("challenge", {0x176, 0x151, 0x147, 0x165}),
    ("quote", {0x158}),
    ("PCR values", {0x17E}),
    ("identity key", {0x131, 0x191, 0x153, 0x157, 0x165, 0x148, 0x15D}),
    ("persisting the key", {0x173, 0x120, 0x131, 0x157, 0x165}),
    ("secret", {0x176, 0x151, 0x156, 0x157, 0x15E, 0x165, 0x173, 0x120, 0x15D, 0x17F, 0x189,
                0x155, 0x131, 0x17A}),
]
# Faults the bootstrap may finish after (it says so on stderr): a FlushContext
# that failed (only that object stays), the NV buffer size query (a safe
# default replaces it).
TOLERATED = {0x165, 0x17A}
FAULT_TEXT = {"fail": "0x00000101", "ioerr": "0x000a000a", "disappear": "0x000a000a",
              "lose": "0x000a000a"}


class Failures:
    def __init__(self):
        self.passed, self.failed = 0, 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}", file=sys.stderr)
        return cond


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def tools(*args):
    """tpm2-tools straight to swtpm (TPM2TOOLS_TCTI from with-swtpm)."""
    return run(["tpm2_" + args[0], *args[1:]])


class Tpm:
    @staticmethod
    def handles(kind):
        out = tools("getcap", kind).stdout
        return [int(h, 16) for h in re.findall(r"0x[0-9a-fA-F]+", out)]

    def leftovers(self):
        return {k: len(self.handles(k)) for k in
                ("handles-transient", "handles-loaded-session", "handles-saved-session")}

    @staticmethod
    def flush_all():
        for flag in ("-t", "-l", "-s"):
            tools("flushcontext", flag)

    def owner_persistent(self):
        return sorted(h for h in self.handles("handles-persistent") if 0x81000000 <= h < 0x81010000)

    @staticmethod
    def public(handle, work):
        """The marshalled TPM2B_PUBLIC and the PEM public key at a handle."""
        pub, pem = os.path.join(work, "h.pub"), os.path.join(work, "h.pem")
        r = tools("readpublic", "-c", hex(handle), "-o", pub)
        r2 = tools("readpublic", "-c", hex(handle), "-f", "pem", "-o", pem) if r.returncode == 0 else r
        if r.returncode != 0 or r2.returncode != 0:
            return None
        return open(pub, "rb").read(), open(pem).read()

    def evict(self, handle):
        tools("evictcontrol", "-C", "o", "-c", hex(handle))


def der_items(data):
    """Top-level items of a DER SEQUENCE: (tag, value) pairs."""
    def length(buf, off):
        n = buf[off]
        if n < 0x80:
            return n, off + 1
        k = n & 0x7F
        return int.from_bytes(buf[off + 1:off + 1 + k], "big"), off + 1 + k
    assert data[0] == 0x30
    total, off = length(data, 1)
    end, items = off + total, []
    while off < end:
        tag = data[off]
        n, voff = length(data, off + 1)
        items.append((tag, data[voff:voff + n]))
        off = voff + n
    return items


def key_file_public(path):
    """The TPM2B_PUBLIC in a TSS2 PRIVATE KEY file (the first top-level
    OCTET STRING: pubkey)."""
    text = open(path).read()
    b64 = "".join(line for line in text.splitlines() if line and not line.startswith("-----"))
    return next(v for t, v in der_items(base64.b64decode(b64)) if t == 0x04)


def cert_public_pem(path):
    return run(["openssl", "x509", "-in", path, "-pubkey", "-noout"]).stdout


class Rig:
    """One swtpm (from with-swtpm), a verifier, the bootstrap."""

    def __init__(self, build, ek, work, policy=None):
        self.build, self.ek, self.work = build, ek, work
        self.boot = os.path.join(build, "bin/rattest-bootstrap")
        self.tcti = os.environ["RATTEST_TCTI"]
        self.faults = os.path.join(build, "tests/libtss2-tcti-faults.so")
        self.policy = policy
        self.verifier = None
        self.tpm = Tpm()
        run([os.path.join(SRC, "certs/mkpki"), os.path.join(work, "pki")], check=True)
        run([os.path.join(build, "tests/rt_log_extend"), LOG], check=True)

    def start_verifier(self):
        self.stop_verifier()
        pki, port_file = os.path.join(self.work, "pki"), os.path.join(self.work, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        args = [os.path.join(self.build, "bin/rattest-verifier"), "serve", "--listen",
                f"127.0.0.1:{getattr(self, 'port', 0)}",
                "--tls-cert", f"{pki}/server-chain.pem", "--tls-key", f"{pki}/server.key",
                "--issuer-cert", f"{pki}/issuer-chain.pem", "--issuer-key", f"{pki}/issuer.key",
                "--port-file", port_file, "--ek-ca", os.environ["RATTEST_EK_CA_BUNDLE"]]
        if self.policy:
            args += ["--policy", self.policy]
        log = open(os.path.join(self.work, "verifier.log"), "a")
        self.verifier = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        for _ in range(400):
            if os.path.exists(port_file) and open(port_file).read().strip():
                self.port = int(open(port_file).read())
                return
            if self.verifier.poll() is not None:
                break
            time.sleep(0.025)
        raise SystemExit("the verifier did not start: " +
                         open(os.path.join(self.work, "verifier.log")).read()[-2000:])

    def stop_verifier(self, sig=signal.SIGTERM):
        if self.verifier is not None:
            self.verifier.send_signal(sig)
            self.verifier.wait()
        self.verifier = None

    def enroll_args(self, state, renew, fault, timeout="20s"):
        tcti = self.tcti
        if fault is not None:
            mode, k, log = fault
            tcti = f"{self.faults}:mode={mode},k={k},log={log},next={self.tcti}"
        args = [self.boot, "enroll", "--tcti", tcti, "--verifier", f"localhost:{self.port}",
                "--ca", os.path.join(self.work, "pki/tls-ca.pem"), "--state-dir", state,
                "--ek", self.ek, "--event-log", LOG, "--timeout", timeout]
        return args + (["--renew"] if renew else [])

    def enroll(self, state, renew=False, fault=None, timeout="20s"):
        return run(self.enroll_args(state, renew, fault, timeout))

    def commands(self, state, renew):
        """The TPM commands of a fault-free run, in order."""
        log = os.path.join(self.work, "baseline.log")
        open(log, "w").close()
        r = self.enroll(state, renew, ("none", 1, log))
        if r.returncode != 0:
            raise SystemExit("the fault-free run failed: " + r.stdout)
        return [int(line.split()[1], 16) for line in open(log)]


def load_state(state):
    path = os.path.join(state, "state.json")
    if not os.path.exists(path):
        return {"identities": {}, "secrets": {}}
    return json.load(open(path))


def identity_of(state):
    """The identity state.json records, as (cert public PEM, key file pub)."""
    ids = load_state(state).get("identities", {})
    if "default" not in ids:
        return None
    i = ids["default"]
    return cert_public_pem(i["cert_file"]), key_file_public(i["key_file"]), i["cert_file"]


class Driver:
    def __init__(self, rig, flow, res):
        self.rig, self.flow, self.res = rig, flow, res
        self.state = os.path.join(rig.work, "state")
        self.renew = flow == "renew"
        self.secret_names = set()
        self.leftover_report = []
        self.windows = 0  # runs that stopped between the two EvictControls
        self.orphans = 0  # delivered keys persisted, not recorded, when a run stopped
        self.secrets_redone = 0  # reruns that enrolled again for the secrets
        self.progress = False  # a line per faulted run (--long)

    # --- the machine before each run ---------------------------------------
    def reset(self):
        """A machine never enrolled: no state, no owner persistent key."""
        shutil.rmtree(self.state, ignore_errors=True)
        for h in self.rig.tpm.owner_persistent():
            self.rig.tpm.evict(h)

    def prepare(self):
        if self.renew:
            if identity_of(self.state) is None:
                r = self.rig.enroll(self.state)
                if r.returncode != 0:
                    raise SystemExit("enrolling before --renew failed: " + r.stdout)
        else:
            self.reset()

    # --- judging one run ------------------------------------------------------
    def recorded_handles(self):
        st = load_state(self.state)
        hs = [int(i["handle"], 16) for i in st.get("identities", {}).values()]
        hs += [int(s["handle"], 16) for s in st.get("secrets", {}).values()
               if s.get("type") == "rsa-key"]
        return sorted(set(hs))  # a delivered RSA key is an identity too

    def consistent(self, what, window=False, stopped=False):
        """Every owner persistent handle holds what state.json records
        there; returns the identity recorded (None when none). window: the
        fault hit an EvictControl of a renewal and the process could not go
        on, so the handle may also be empty between the old key going out
        and the new one coming in (the next run puts the old one back).
        stopped: the process stopped without its error path (killed, TPM
        gone), so a delivered key may be persisted but not yet recorded."""
        res, tpm, work = self.res, self.rig.tpm, self.rig.work
        if window and HANDLE not in tpm.owner_persistent():
            self.windows += 1
            return identity_of(self.state)
        persistent = tpm.owner_persistent()
        if stopped:
            # A delivered key persisted but not recorded yet when the run
            # stopped: the next run takes its handle back.
            orphans = [h for h in persistent if h >= 0x81000200 and h not in self.recorded_handles()]
            self.orphans += len(orphans)
            persistent = [h for h in persistent if h not in orphans]
        res.check(persistent == self.recorded_handles(),
                  f"{what}: persistent handles {[hex(h) for h in tpm.owner_persistent()]}, "
                  f"state records {[hex(h) for h in self.recorded_handles()]}")
        ident = identity_of(self.state)
        at = tpm.public(HANDLE, work)
        if ident is None:
            res.check(at is None, f"{what}: no identity recorded, but a key at {hex(HANDLE)}")
            return None
        res.check(at is not None and at[0] == ident[1],
                  f"{what}: the key at {hex(HANDLE)} is not the key file's")
        res.check(at is not None and at[1] == ident[0],
                  f"{what}: the key at {hex(HANDLE)} is not the certificate's")
        st = load_state(self.state)
        for name, s in st.get("secrets", {}).items():
            if s.get("type") == "rsa-key":
                at = tpm.public(int(s["handle"], 16), work)
                ids = st["identities"].get(name)
                res.check(at is not None and ids is not None and
                          at[1] == cert_public_pem(ids["cert_file"]),
                          f"{what}: secret {name}: its handle does not hold its certificate's key")
            for f in ("pub_file", "priv_file"):
                res.check(os.path.exists(s[f]), f"{what}: secret {name}: {s[f]} missing")
        return ident

    def leftovers(self, what, allowed):
        left = self.rig.tpm.leftovers()
        n = sum(left.values())
        if allowed is None:  # counted, then flushed as a resource manager would
            self.leftover_report.append(n)
        else:
            self.res.check(n <= allowed, f"{what}: left in the TPM: {left}")
        if n:
            self.rig.tpm.flush_all()

    def message(self, what, out, cc, mode):
        """The step named in the error is one that sends the faulted command
        (any step after a tolerated one), and the TPM error is given."""
        steps = [m.group(1) for m in
                 re.finditer(r"^rattest-bootstrap enroll: ([^:]+): ", out, re.M)]
        step = steps[0] if steps else None
        if step in self.secret_names:
            step = "secret"
        known = dict(STEPS)
        ok = step in known and (cc in known[step] or cc in TOLERATED)
        self.res.check(ok, f"{what}: the error names step {step!r}, which does not send "
                           f"{CC.get(cc, hex(cc))}: {out.strip()[-400:]}")
        # After a tolerated fault, a later command reports what followed.
        self.res.check(FAULT_TEXT[mode] in out or cc in TOLERATED,
                       f"{what}: the TPM error is not reported: {out.strip()[-400:]}")

    def rerun(self, what):
        r = self.rig.enroll(self.state, self.renew)
        self.res.check(r.returncode == 0, f"{what}: the rerun failed: {r.stdout.strip()[-600:]}")
        if "secrets delivered with it were not all received" in r.stdout:
            self.secrets_redone += 1
        ident = self.consistent(what + ", after the rerun")
        self.res.check(ident is not None, f"{what}: no identity after the rerun")
        secrets = set(load_state(self.state).get("secrets", {}))
        self.res.check(secrets == self.secret_names,
                       f"{what}: secrets after the rerun {sorted(secrets)}, "
                       f"delivered {sorted(self.secret_names)}")
        self.leftovers(what + ", after the rerun", 0)

    def one(self, mode, k):
        self.prepare()
        before = identity_of(self.state)
        flog = os.path.join(self.rig.work, "fault.log")
        open(flog, "w").close()
        r = self.rig.enroll(self.state, self.renew, (mode, k, flog))
        if self.progress:
            print(f"{self.flow} {self.rig.ek} {mode} k={k}: rc={r.returncode}", flush=True)
        # Under ASan+UBSan, error paths are where leaks and bad reads hide.
        self.res.check("Sanitizer" not in r.stdout, f"{mode} k={k}: {r.stdout[-1500:]}")
        lines = [line.split() for line in open(flog)]
        hit = [line for line in lines if len(line) == 3]
        cc = int(hit[0][1], 16) if hit else None
        what = f"{self.flow} {self.rig.ek} {mode} k={k} ({CC.get(cc, cc)})"
        if cc is None:
            # A TPM may ask for a command again (TPM_RC_RETRY, resent by
            # ESYS), so runs differ by a command or two: a k past the end of
            # this one is no fault, and the run must have succeeded.
            self.res.check(r.returncode == 0 and k > len(lines),
                           f"{what}: no fault in {len(lines)} commands: {r.stdout[-400:]}")
            self.consistent(what)
            return
        # Counted (and flushed) first: a TPM whose object slots the process
        # left full cannot load a persistent key for tpm2_readpublic.
        tolerant = mode in ("fail", "ioerr")
        self.leftovers(what, (1 if cc == 0x165 else 0) if tolerant else None)
        ident = self.consistent(what, cc == 0x120 and mode != "fail", mode != "fail")
        same = (ident is None and before is None) or (
            ident is not None and before is not None and ident[2] == before[2])
        if mode == "kill":
            self.res.check(r.returncode == -signal.SIGKILL, f"{what}: rc={r.returncode}")
        elif r.returncode == 0:
            # A lost answer to the EvictControl that put the new key in:
            # the bootstrap asks the TPM, finds the key there and goes on.
            tolerated = cc in TOLERATED or (mode == "lose" and cc == 0x120)
            self.res.check(tolerated and ident is not None and not same,
                           f"{what}: exit 0 after the fault: {r.stdout.strip()[-400:]}")
        else:
            self.message(what, r.stdout, cc, mode)
        self.rerun(what)

    # --- the flows -------------------------------------------------------------
    def baseline(self):
        self.prepare()
        cmds = self.rig.commands(self.state, self.renew)
        self.secret_names = set(load_state(self.state).get("secrets", {}))
        return cmds


def repairs(drv, rig, res):
    """A renewal stopped between its two EvictControls leaves the handle
    empty: the next run puts the recorded key back from its key file and
    has nothing else to do. Without the key file it enrolls again."""
    rig.tpm.evict(HANDLE)
    r = rig.enroll(drv.state)
    res.check(r.returncode == 0 and "restored the key" in r.stdout and "nothing to do" in r.stdout,
              f"handle emptied: rc={r.returncode}: {r.stdout.strip()[-500:]}")
    drv.consistent("handle emptied, after the run")
    rig.tpm.evict(HANDLE)
    key = load_state(drv.state)["identities"]["default"]["key_file"]
    os.rename(key, key + ".gone")
    r = rig.enroll(drv.state)
    res.check(r.returncode == 0 and "enrolled identity" in r.stdout,
              f"handle emptied, key file gone: rc={r.returncode}: {r.stdout.strip()[-500:]}")
    drv.consistent("handle emptied, key file gone, after the run")
    os.unlink(key + ".gone")


def sample(cmds, start):
    """A few k from start on: the first of each kind of command that marks a
    step, every EvictControl, the last command; modes alternate."""
    marks = {0x153, 0x147, 0x148, 0x156, 0x15E}
    seen, ks = set(), []
    for i, c in enumerate(cmds[start:], start + 1):
        if (c in marks and c not in seen) or c == 0x120:
            seen.add(c)
            ks.append(i)
    return sorted(set(ks + [start + 1]))


def verifier_kill(drv, rig, cmds, res, restart):
    """The verifier dies between Begin and Finish (the bootstrap is stopped
    at the first command after Begin); with restart, a new verifier is up
    before the bootstrap goes on, else none is until its deadline."""
    k = cmds.index(0x147) + 1
    while k > 1 and cmds[k - 2] in (0x176, 0x151):
        k -= 1
    drv.prepare()
    before = identity_of(drv.state)
    flog = os.path.join(rig.work, "fault.log")
    p = subprocess.Popen(rig.enroll_args(drv.state, drv.renew, ("stop", k, flog), "4s"),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(2000):
        st = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[0]
        if st == "T" or p.poll() is not None:
            break
        time.sleep(0.01)
    rig.stop_verifier(signal.SIGKILL)
    if restart:
        rig.start_verifier()
    p.send_signal(signal.SIGCONT)
    out = p.communicate()[0]
    what = f"verifier killed after Begin ({'restarted' if restart else 'down'}) {rig.ek}"
    if restart:
        ok = p.returncode != 0 and re.search(r"^rattest-bootstrap enroll: .*Finish", out, re.M)
    else:
        ok = p.returncode != 0 and "UNAVAILABLE" in out
    res.check(bool(ok), f"{what}: rc={p.returncode}: {out.strip()[-500:]}")
    ident = drv.consistent(what)
    res.check((ident is None) == (before is None) and (ident is None or ident[2] == before[2]),
              f"{what}: the identity changed")
    drv.leftovers(what, 0)
    if not restart:
        rig.start_verifier()
    drv.rerun(what)


def secrets_policy(work):
    """A sealed secret bound to PCR 7 and an RSA key with its certificate."""
    with open(os.path.join(work, "disk.secret"), "w") as f:
        f.write("disk-key-" + os.urandom(16).hex())
    os.chmod(os.path.join(work, "disk.secret"), 0o600)
    key, crt = os.path.join(work, "legacy.key"), os.path.join(work, "legacy.pem")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=legacy", "-addext", "extendedKeyUsage=clientAuth", "-keyout", key, "-out", crt],
        check=True)
    os.chmod(key, 0o600)
    policy = os.path.join(work, "policy.json")
    with open(policy, "w") as f:
        json.dump({"secrets": [
            {"name": "disk", "type": "sealed", "file": os.path.join(work, "disk.secret"),
             "pcrs": {"sha256": [7]}},
            {"name": "legacy", "type": "rsa-key", "key_file": key, "cert_file": crt}]}, f)
    return policy


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("flow", choices=["enroll", "renew", "secrets", "verifier-kill"])
    ap.add_argument("ek", choices=["rsa", "ecc"])
    ap.add_argument("--long", action="store_true", help="every k, modes fail, disappear, kill")
    ap.add_argument("--modes", help="comma-separated modes (default: by --long)")
    ap.add_argument("--k", help="comma-separated k (default: by --long)")
    a = ap.parse_args()
    t0 = time.monotonic()
    work = tempfile.mkdtemp()
    res = Failures()
    rig = None
    try:
        policy = secrets_policy(work) if a.flow == "secrets" else None
        rig = Rig(os.path.abspath(a.build), a.ek, work, policy)
        rig.start_verifier()
        drv = Driver(rig, "renew" if a.flow == "verifier-kill" else a.flow, res)
        cmds = drv.baseline()
        drv.progress = a.long
        if a.flow == "renew":
            repairs(drv, rig, res)
        n_runs = 0
        if a.flow == "verifier-kill":
            for restart in (False, True):
                verifier_kill(drv, rig, cmds, res, restart)
                n_runs += 1
        else:
            start = cmds.index(0x120) + 1 if a.flow == "secrets" and not a.long else 0
            ks = [int(k) for k in a.k.split(",")] if a.k else (
                list(range(1, len(cmds) + 1)) if a.long else sample(cmds, start))
            modes = a.modes.split(",") if a.modes else (
                ["fail", "disappear", "kill"] if a.long else None)
            for i, k in enumerate(ks):
                for mode in modes or [("fail", "disappear")[i % 2]]:
                    drv.one(mode, k)
                    n_runs += 1
            if not a.long and not a.modes:
                for k in [i for i, c in enumerate(cmds, 1) if c == 0x120][-1:]:
                    drv.one("kill", k)
                    n_runs += 1
        left = drv.leftover_report
        print(f"{a.flow} {a.ek}: {len(cmds)} TPM commands, {n_runs} faulted runs, "
              f"{sum(1 for n in left if n)} of {len(left)} kills/vanished TPMs left objects "
              f"(max {max(left, default=0)}), {drv.windows} stopped between the two EvictControls, "
              f"{drv.orphans} delivered keys left unrecorded, {drv.secrets_redone} reruns "
              f"enrolled again for the secrets, "
              f"{time.monotonic() - t0:.0f} s")
    finally:
        if rig is not None:
            rig.stop_verifier()
        shutil.rmtree(work, ignore_errors=True)
    print(f"test_faults.py ({a.flow}, {a.ek}): {res.passed} passed, {res.failed} failed")
    return 0 if res.failed == 0 and res.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
