#!/usr/bin/env python3
"""TPM commands in a capture of tpm2-tss's pcap TCTI (TCTI_PCAP_FILE).

The pcap TCTI writes pcapng with one IPv4/TCP packet per transmission: a
command goes to the TPM's port 2321, the response comes back from it. Each
command's code sits at bytes 6..10 of the TPM payload (tag, size, code).

Prints three lines:
  all: NAME NAME ...            every command, in order
  after-load: NAME NAME ...     the commands after the last TPM2_Load
  objects-left: N               objects and sessions created (CreatePrimary,
                                Load, CreateLoaded, StartAuthSession) minus FlushContext:
                                what the process left behind
  commands: N                   the commands, less those the TPM answered
                                TPM_RC_RETRY (ESYS sends them again: the TPM's
                                choice, not the program's)
Usage: tpm_pcap_count.py FILE.pcap
"""
import struct
import sys

TPM_PORT = 2321
# TPM command codes (TPM 2.0 Part 2, TPM_CC) of what our programs send: the
# one table, also read by tests/e2e/test_faults.py.
NAMES = {
    0x120: "EvictControl", 0x131: "CreatePrimary", 0x13E: "SequenceComplete", 0x144: "Startup",
    0x147: "ActivateCredential", 0x148: "Certify", 0x14E: "NV_Read", 0x151: "PolicySecret",
    0x153: "Create", 0x155: "HMAC", 0x156: "Import", 0x157: "Load", 0x158: "Quote",
    0x159: "RSA_Decrypt", 0x15C: "SequenceUpdate", 0x15D: "Sign", 0x15E: "Unseal",
    0x161: "ContextLoad", 0x162: "ContextSave", 0x165: "FlushContext", 0x169: "NV_ReadPublic",
    0x173: "ReadPublic", 0x176: "StartAuthSession", 0x17A: "GetCapability", 0x17B: "GetRandom",
    0x17E: "PCR_Read", 0x17F: "PolicyPCR", 0x186: "HashSequenceStart", 0x189: "PolicyGetDigest",
    0x18A: "TestParms", 0x191: "CreateLoaded",
}
TPM_RC_RETRY = 0x922


def commands(data, retried=None):
    if len(data) < 12 or struct.unpack_from("<I", data, 0)[0] != 0x0A0D0D0A:
        raise SystemExit("not a pcapng file")
    if struct.unpack_from("<I", data, 8)[0] != 0x1A2B3C4D:
        raise SystemExit("pcapng not little-endian")
    off, out = 0, []
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if blen < 12 or off + blen > len(data):
            raise SystemExit(f"truncated pcapng block at {off}")
        if btype == 6:  # enhanced packet block
            caplen = struct.unpack_from("<I", data, off + 20)[0]
            pkt = data[off + 28:off + 28 + caplen]
            ihl = (pkt[0] & 0x0F) * 4
            tcp = pkt[ihl:]
            dport = struct.unpack_from(">H", tcp, 2)[0]
            payload = tcp[(tcp[12] >> 4) * 4:]
            if dport == TPM_PORT and len(payload) >= 10:
                cc = struct.unpack_from(">I", payload, 6)[0]
                out.append(NAMES.get(cc, f"0x{cc:x}"))
            elif retried is not None and len(payload) >= 10:
                retried.append(struct.unpack_from(">I", payload, 6)[0] == TPM_RC_RETRY)
        off += blen
    return out


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: tpm_pcap_count.py FILE.pcap")
    retried = []
    cmds = commands(open(sys.argv[1], "rb").read(), retried)
    last = max((i for i, c in enumerate(cmds) if c == "Load"), default=-1)
    made = sum(c in ("CreatePrimary", "Load", "CreateLoaded", "ContextLoad", "StartAuthSession") for c in cmds)
    print("all: " + " ".join(cmds))
    print("after-load: " + (" ".join(cmds[last + 1:]) if last >= 0 else "(no Load)"))
    print(f"objects-left: {made - cmds.count('FlushContext')}")
    print(f"commands: {len(cmds) - sum(retried)}")


if __name__ == "__main__":
    main()
