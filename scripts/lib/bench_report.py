#!/usr/bin/python3
"""scripts/bench's arithmetic and report, from the files it left in WORK:
speed.txt (openssl speed -mr), NAME.json and NAME.cmd per load run.

  bench_report.py --half-max WORK EK    half the highest enrollments/s of
                                        the closed-loop runs with EK (rsa, ecc)
  bench_report.py --report WORK --quick 0|1 --speed-cmd CMD
                                        docs/performance.md on stdout

The floor of one enrollment is the public-key work the protocol cannot do
without, priced by openssl speed in the same run (docs/performance.md says
which operations and why)."""
import argparse
import datetime
import glob
import json
import os
import platform
import subprocess


def speed(work):
    """{name: ms per operation} from openssl speed -mr."""
    ops = {}
    for line in open(os.path.join(work, "speed.txt")):
        f = line.strip().split(":")
        if f[0] == "+F2":  # RSA: bits, sign/s, verify/s
            ops[f"rsa{f[2]}_sign"] = 1000 / float(f[3])
            ops[f"rsa{f[2]}_public"] = 1000 / float(f[4])
        elif f[0] == "+F4" and f[2] == "256":  # ECDSA P-256: sign/s, verify/s
            ops["p256_sign"] = 1000 / float(f[3])
            ops["p256_verify"] = 1000 / float(f[4])
        elif f[0] == "+F5":  # ECDH: bits, ops/s
            ops["x25519" if f[2] == "253" else f"ecdh_p{f[2]}"] = 1000 / float(f[3])
    return ops


# What the verifier must compute for one enrollment, besides which nothing
# in the protocol can be cheaper (the operation, how many, why): the TLS
# server's part of every connection, then the handlers' part.
TLS = [
    ("p256_sign", 1, "the TLS server's CertificateVerify (ECDSA P-256)"),
    ("x25519", 2, "the TLS key share: key generation and derivation (X25519)"),
]
COMMON = [
    ("rsa3072_public", 2, "EK chain: the EK certificate's and the intermediate's RSA-3072 signatures"),
    ("p256_verify", 3, "quote, Certify and possession signatures (ECDSA P-256)"),
    ("p256_sign", 2, "the key's and the AK's certificates (issuer key ECDSA P-256)"),
] + TLS
EK = {
    "rsa": [("rsa2048_public", 1, "MakeCredential: RSA-OAEP encryption of the seed to the RSA 2048 EK")],
    "ecc": [("ecdh_p384", 2, "MakeCredential: an ephemeral P-384 key and ECDH with the EK")],
}


def floor(ops, ek):
    return sum(ops[op] * n for op, n, _ in COMMON + EK[ek])


def runs(work):
    out = []
    # In the order they ran.
    for path in sorted(glob.glob(os.path.join(work, "*.json")), key=os.path.getmtime):
        name = os.path.basename(path)[:-5]
        try:
            r = json.load(open(path))
        except ValueError:
            r = None
        cmd = open(os.path.join(work, name + ".cmd")).read().strip()
        out.append((name, r, cmd))
    return out


def half_max(work, ek):
    # At the default thread count, as the open loop runs.
    rates = [r["enrollments_per_s"] for name, r, _ in runs(work)
             if r and not r["rate"] and ek_of(r) == ek and "-threads" not in name]
    return f"{max(rates) / 2:.1f}" if rates else "1"


def cmd_out(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def header(quick, long):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    commit = cmd_out("git", "-C", root, "rev-parse", "--short", "HEAD")
    load = os.getloadavg()[0]
    return [
        "# Performance",
        "",
        "Written by `scripts/bench" + (" --quick" if quick else "") + (" --long" if long else "") +
        "`: do not edit by hand, run it "
        "again. Every figure below was measured in one run on one machine: absolute times on a shared "
        "machine are noise, so each is given with its ratio to an anchor measured in the same run "
        "(the verifier's CPU per enrollment to its public-key floor, priced by `openssl speed`).",
        "",
        f"- run: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}, "
        f"{os.cpu_count()} CPUs ({platform.machine()}), load average {load:.1f} at the end, "
        f"{cmd_out('openssl', 'version')}",
        "- verifier: `build-release/bin/rattest-verifier serve` (Release), development PKI from "
        "`certs/mkpki` (ECDSA P-256 TLS and issuing keys), `--ek-ca` the load generator's test "
        "manufacturer CA (RSA-3072 root and intermediate), development policy (sha256 PCRs 0-7 "
        "replayed from the event log), default threads, rate limits off (`--rate-peer 0 --rate-ek 0 "
        "--rate-finish 0`: the machines share one address and enroll again and again)",
        "- load: `build-release/bin/rattest-loadgen` ([cli.md](cli.md)) on the same machine: each "
        "enrollment a new TLS connection, Begin and Finish exactly as rattest-bootstrap sends them, "
        "ECC P-256 AK and key, the arch-linux-workstation event log",
        "",
    ]


def floor_section(ops, speed_cmd):
    lines = ["## The floor", "", f"`{speed_cmd}`", "",
             "| operation | ms each | per enrollment | for |", "|---|---|---|---|"]
    for op, n, why in COMMON:
        lines.append(f"| {op} | {ops[op]:.3f} | {n} | {why} |")
    for ek in ("rsa", "ecc"):
        for op, n, why in EK[ek]:
            lines.append(f"| {op} | {ops[op]:.3f} | {n} ({ek.upper()} EK) | {why} |")
    lines += ["", f"Floor per enrollment: **{floor(ops, 'rsa'):.3f} ms** with an RSA 2048 EK, "
              f"**{floor(ops, 'ecc'):.3f} ms** with an ECC P-384 EK.", ""]
    return lines


def ek_of(r):
    if r.get("mode") == "ping":
        return "ping"
    mix = r["ek_mix"]
    if mix["rsa"] and mix["ecc"]:
        return "mixed"
    return "rsa" if mix["rsa"] else "ecc"


def run_row(ops, name, r, cmd):
    if r is None:
        return f"| {name} | (no report) | | | | | | | | |", cmd
    ek = ek_of(r)
    v = r.get("verifier") or {}
    cpu = v.get("cpu_ms_per_enrollment")
    # A ping run has no floor of its own: it is set against the RSA EK's.
    fl = ((floor(ops, "rsa") + floor(ops, "ecc")) / 2 if ek == "mixed"
          else floor(ops, "rsa" if ek == "ping" else ek))
    ratio = f"**{cpu / fl:.1f}×**" if cpu else "-"
    lat = r["latency_ms"]
    own = f"{r['loadgen_cpu_ms'] / r['accepted']:.1f} ms" if r["accepted"] else "-"
    errs = ", ".join(f"{k} {n}" for k, n in r["errors_by_code"].items()) or "0"
    mode = f"open {r['rate']:.1f}/s" if r["rate"] else "closed"
    return (f"| {name} | {ek} | {r['concurrency']} {mode} | {r['accepted']} | "
            f"{r['enrollments_per_s']:.1f} | {lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} | "
            f"{errs} | {cpu if cpu is None else round(cpu, 2)} ms, {ratio} | "
            f"{v.get('rss_kib_max_sampled', 0) / 1024:.1f} MiB in {v.get('rss_samples', 0)} / "
            f"{v.get('rss_kib_peak', 0) / 1024:.1f} MiB | {own} |"), cmd


def runs_section(ops, work):
    lines = ["## The verifier under load", "",
             "CPU is the verifier's utime + stime (`/proc/PID/stat`) over the run divided by the "
             "accepted enrollments; the ratio is to the floor of the run's EK kind (their mean for a "
             "mixed run). RSS: the largest VmRSS of samples taken every 0.5 s during the run (before "
             "and after included; how many) / the peak, VmHWM since the verifier started (kept lazily by "
             "the kernel: a sample can exceed it a little, which is why both are shown). Latency "
             "is of accepted "
             "enrollments, from the start of each (open loop: from when it was due), and includes "
             "the load generator's own work on the same cores: its CPU per enrollment (key "
             "generation excluded, an ECDH P-384 activation included) is the last column, and "
             "it competes with the verifier for the machine's cores, so the rates are a lower "
             "bound of what the verifier alone would reach.", "",
             "The `transport-c4` run (EK `ping`, `rattest-loadgen --ping`) enrolls nothing: each "
             "of its iterations opens a new TLS connection, makes two Ping calls and closes it, so its "
             "verifier CPU per iteration is the per-connection cost of gRPC, TLS and the kernel with no "
             "verifier work, the part of every enrollment's CPU that is the stack's; its ratio is to "
             "the RSA EK's floor. `rsa-c4-threadsN` is `rsa-c4` again against a second verifier "
             "started with `--threads N`, N this machine's CPUs (every other run: the default, 8).", "",
             "| run | EK | machines | accepted | enrollments/s | p50 / p95 / p99 ms | errors | "
             "verifier CPU per enrollment, ratio to floor | RSS sampled max in N / peak | load "
             "generator CPU per "
             "enrollment |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    cmds = []
    for name, r, cmd in runs(work):
        row, c = run_row(ops, name, r, cmd)
        lines.append(row)
        cmds.append(f"- {name}: `{c}`")
    return lines + ["", "Commands (CA, PORT, PID: the run's own):", ""] + cmds + [""]


def tls_bare(work):
    """(handshakes, server CPU ms, command) of scripts/bench's tls-bare, or None."""
    try:
        n, cpu = (float(x) for x in open(os.path.join(work, "tls-bare.txt")).read().split())
        cmd = open(os.path.join(work, "tls-bare.cmd")).read().strip()
    except (OSError, ValueError):
        return None
    return (n, cpu, cmd) if n > 0 else None


def split_section(ops, work):
    """Where an RSA EK enrollment's verifier CPU goes, from the runs of this
    report: a bare TLS 1.3 handshake (tls-bare), gRPC and HTTP/2 over it
    (transport-c4 less tls-bare), the handlers and everything else (rsa-c4
    less transport-c4); each beside the part of the floor it holds. The
    parts come from different runs of one report, so they are estimates:
    the second one above all, which also holds the two programs' own
    overheads (s_server against the verifier's gRPC server)."""
    cpu = {name: (r.get("verifier") or {}).get("cpu_ms_per_enrollment")
           for name, r, _ in runs(work) if r}
    bare = tls_bare(work)
    if bare is None or not cpu.get("transport-c4") or not cpu.get("rsa-c4"):
        return []
    fl = floor(ops, "rsa")
    tls_floor = sum(ops[op] * n for op, n, _ in TLS)
    hs = bare[1] / bare[0]
    trans, rsa = cpu["transport-c4"], cpu["rsa-c4"]
    rows = [("a bare TLS 1.3 handshake in `openssl s_server` (tls-bare)", hs, tls_floor),
            ("gRPC and HTTP/2 over it: transport-c4 less tls-bare", trans - hs, 0.0),
            ("the handlers, and what an enrollment's larger messages and its pause between "
             "Begin and Finish add to the transport: rsa-c4 less transport-c4", rsa - trans,
             fl - tls_floor),
            ("rsa-c4, the whole", rsa, fl)]
    lines = ["## Where an RSA EK enrollment's CPU goes", "",
             f"tls-bare: `{bare[2]}` (the verifier's certificate chain and key), the server's "
             f"utime + stime over {bare[0]:.0f} handshakes. Each part's share of the floor is the "
             "public-key work in it (the TLS server's signature and key share; the handlers' "
             "EK chain, MakeCredential, quote, Certify, possession and two certificates).", "",
             "| part | verifier CPU ms per enrollment | ratio to the RSA EK's floor | its share of "
             "the floor, ms | ratio to that share |", "|---|---|---|---|---|"]
    for what, ms, share in rows:
        lines.append(f"| {what} | {ms:.3f} | {ms / fl:.1f}× | {share:.3f} | "
                     f"{f'{ms / share:.1f}×' if share else '-'} |")
    best = trans + fl - tls_floor
    lines += ["", f"With handlers that did nothing but their public-key work, an RSA EK enrollment "
              f"would cost transport-c4 plus {fl - tls_floor:.3f} ms: {best:.3f} ms, "
              f"**{best / fl:.1f}×** the floor, against the target of 4× ({4 * fl:.3f} ms).", ""]
    return lines


CURVES = {"p384": "P-384", "p256": "P-256"}


def kill_verdict(work):
    """The kill-restart target, judged from its run; None without it."""
    try:
        r = json.load(open(os.path.join(work, "kill-restart", "run.json")))
    except (OSError, ValueError):
        return None
    rec = r["recovery"]
    met = r["errors"] == 0 and r["accepted"] == r["attempted"] > 0
    return (f"{'met' if met else 'NOT met'}: {r['accepted']} of {r['attempted']} accepted, "
            f"{r['errors']} errors, {rec['retries']} calls retried and {rec['restarts']} runs begun "
            f"again, the longest recovery {rec['max_ms']:.0f} ms")


def kill_section(work):
    """The kill-restart run (--long): WORK/kill-restart/run.json (the load
    generator's report), run.cmd, kill.json (how long enrollments were
    started, when the verifier was killed, how long until it served again,
    the registry's identities)."""
    d = os.path.join(work, "kill-restart")
    try:
        r = json.load(open(os.path.join(d, "run.json")))
        k = json.load(open(os.path.join(d, "kill.json")))
        cmd = open(os.path.join(d, "run.cmd")).read().strip()
    except (OSError, ValueError):
        return []
    rec = r["recovery"]
    errs = ", ".join(f"{c} {n}" for c, n in r["errors_by_code"].items()) or "0"
    return ["## SIGKILL and restart mid-load", "",
            f"{r['concurrency']} machines (RSA 2048 and ECC {CURVES[r['ek_mix']['ecc_curve']]} EKs, "
            f"{r['ek_mix']['rsa']}:{r['ek_mix']['ecc']}) in a closed loop starting enrollments for "
            f"{k['duration_s']} s against a verifier of their own with `--token-key` and `--db` "
            "(SQLite), SIGKILLed a third into the load and started again at once on the same port "
            "with the same key and registry. The machines retry as the bootstrap does, and begin "
            "again from Begin after a lost Finish ([cli.md](cli.md), rattest-loadgen). Recovery: "
            "the longest accepted enrollment that needed a retry or a new run, from its start. The "
            "registry holds at least one identity per certificate received, and at most one more "
            "per run begun again (a Finish recorded before the kill whose answer was lost).", "",
            "| killed at | down (kill to serving) | accepted | errors | calls retried | runs begun "
            "again | recovered | longest recovery | registry identities |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {k['kill_at_s']:.1f} s | {k['down_ms']} ms | {r['accepted']} | {errs} | "
            f"{rec['retries']} | {rec['restarts']} | {rec['recovered']} | {rec['max_ms']:.0f} ms | "
            f"{k['identities']} |", "",
            f"Command: `{cmd}`, the verifier killed with `kill -9` and started again by the "
            "script.", ""]


def c200_verdict(work):
    """The 200-machine target, judged from c200-mixed; None without it."""
    for name, r, _ in runs(work):
        if name == "c200-mixed" and r and r.get("verifier"):
            v = r["verifier"]
            top = max(v["rss_kib_max_sampled"], v["rss_kib_peak"]) / 1024
            met = r["errors"] == 0 and top < 100
            return (f"{'met' if met else 'NOT met'}: {r['errors']} errors, RSS at most "
                    f"{v['rss_kib_max_sampled'] / 1024:.1f} MiB over {v['rss_samples']} samples "
                    f"(every 0.5 s), peak {v['rss_kib_peak'] / 1024:.1f} MiB")
    return None


def targets_section(work):
    return ["## Targets (issue 17)", "",
            "- verifier CPU per enrollment at most 4× its floor, RSA and ECC EKs: the ratios above;",
            "- maximum enrollments/s on this 2-core machine and p99 at half that rate: the highest "
            "closed-loop rate of each EK kind above and the open-loop runs at half of it (`open-half-*`, full runs only);",
            "- 200 clients for 60 s with zero errors and RSS under 100 MiB throughout: `c200-mixed` "
            "(with `--long`)" + (f", {c200_verdict(work)};" if c200_verdict(work) else ";"),
            "- SIGKILL and restart mid-load with the same token key, every client completing "
            "through retries: `kill-restart` (with `--long`)" +
            (f", {kill_verdict(work)};" if kill_verdict(work) else ";"),
            "- bootstrap TPM commands and start-up, provider handshake ratios: the section on swtpm "
            "above (`scripts/bench --tpm` runs it alone); the `enroll_*` tests keep the 20-command "
            "check, the `provider_*` tests the one-command-per-handshake check.", ""]


TPM_HEADING = "## Bootstrap and provider on swtpm"


def tpm_section(path):
    """scripts/lib/bench_tpm.sh's section, if it ran."""
    text = open(path).read().strip() if path and os.path.exists(path) else ""
    return text.splitlines() + [""] if text.startswith(TPM_HEADING) else []


def splice(report, path):
    """The TPM section of REPORT replaced (or appended) by PATH's."""
    new = tpm_section(path)
    if not new:
        return
    lines = open(report).read().split("\n")
    start = next((i for i, l in enumerate(lines) if l == TPM_HEADING), None)
    if start is None:
        lines = lines + [""] + new
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines = lines[:start] + new + lines[end:]
    open(report, "w").write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--half-max", nargs=2, metavar=("WORK", "EK"))
    ap.add_argument("--report")
    ap.add_argument("--quick", default="0")
    ap.add_argument("--long", default="0")
    ap.add_argument("--speed-cmd", default="openssl speed")
    ap.add_argument("--tpm-section", default="")
    ap.add_argument("--splice", default="")
    a = ap.parse_args()
    if a.splice:
        splice(a.splice, a.tpm_section)
        return 0
    if a.half_max:
        print(half_max(*a.half_max))
        return 0
    ops = speed(a.report)
    lines = (header(a.quick == "1", a.long == "1") + floor_section(ops, a.speed_cmd) +
             runs_section(ops, a.report) + split_section(ops, a.report) + kill_section(a.report) +
             tpm_section(a.tpm_section) +
             targets_section(a.report))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
