#!/usr/bin/python3
"""The verifier's transport under the abuse of someone without credentials
(docs/protocol.md "Transport limits"):

- gzip bomb: 128 MiB of zeros, gzip-compressed to 130 KiB (under the 4 MiB
  message limit), sent as a Ping by a hand-made HTTP/2 client, is refused
  UNIMPLEMENTED and the verifier's peak RSS grows by less than 64 MiB
  (grpc 1.51 inflated it whole: +132 MiB); a standard client that
  compresses gets the same refusal;
- connection burst: under a descriptor limit of 128:512 the verifier raises
  it to 512; 600 idle TCP connections (more than either) are held, then
  closed, and Ping is answered again within seconds (grpc 1.51 stopped
  accepting for good); below --max-connections, Ping is answered while 150
  idle connections are held;
- a socket that never starts TLS is closed after --handshake-timeout, one
  that finished TLS but sends no HTTP/2 after it too, one that is idle after
  --idle-timeout (and a client reconnects by itself for its next call);
- no TLS session tickets (no client resumes; each costs the handshake);
  the key exchange X25519 (P-256 for a client offering only that); the
  TLS 1.3 suite AES-128-GCM-SHA256 before a client's AES-256-GCM-SHA384
  (each of the three served to a client offering only it);
- a call whose request never ends: the verifier pings after
  --keepalive-time and closes when the ping goes unanswered for
  --keepalive-timeout; when it is answered, it sends GOAWAY at
  --max-connection-age.

Usage: test_abuse_transport.py SOURCE_DIR BUILD_DIR PKI_DIR
"""
import os
import re
import resource
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

src, build, pki = sys.argv[1:4]
CA = os.path.join(pki, "tls-ca.pem")
PING = b"/rattest.v1.Attestation/Ping"
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what, file=sys.stderr)


def wait_for(cond, timeout):
    """Seconds until cond() held, or None if it did not within timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        time.sleep(0.05)
    return None


class Verifier:
    def __init__(self, work, args, nofile=None):
        self.port_file = os.path.join(work, "port")
        self.log = os.path.join(work, "verifier.log")
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        cmd = [os.path.join(build, "bin", "rattest-verifier"), "serve", "-v",
               "--listen", "127.0.0.1:0",
               "--tls-cert", os.path.join(pki, "server-chain.pem"),
               "--tls-key", os.path.join(pki, "server.key"),
               "--ek-ca", CA,
               "--issuer-cert", os.path.join(pki, "issuer-chain.pem"),
               "--issuer-key", os.path.join(pki, "issuer.key"),
               "--port-file", self.port_file] + args
        if nofile:
            cmd = ["prlimit", "--nofile=%d:%d" % nofile, "--"] + cmd
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        if wait_for(lambda: os.path.exists(self.port_file), 10) is None:
            raise SystemExit("verifier did not start: " + open(self.log).read())
        self.port = int(open(self.port_file).read())

    def memory_kib(self, field):
        with open("/proc/%d/status" % self.proc.pid) as f:
            return int(re.search(field + r":\s+(\d+) kB", f.read()).group(1))

    def log_text(self):
        return open(self.log).read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


# ---- a hand-made HTTP/2 client: it sends bytes a grpc library would not --

def compressed_zeros(mib, encoding):
    """mib MiB of zeros in gzip or deflate (zlib) form, cheaply: after a full
    flush every MiB compresses to the same bytes."""
    chunk = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    same = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    body = first + same * (mib - 1) + c.flush(zlib.Z_FINISH)
    if encoding == b"deflate":
        adler = 1
        for _ in range(mib):
            adler = zlib.adler32(chunk, adler)
        return b"\x78\xda" + body + struct.pack(">I", adler)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body +
            struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF))


def frame(kind, flags, stream, payload):
    return (struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) +
            struct.pack(">I", stream) + payload)


def literal(name, value):
    """HPACK literal header field without indexing, short strings."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        more = s.recv(n - len(data))
        if not more:
            raise EOFError("connection closed")
        data += more
    return data


def read_frame(s):
    head = recv_exact(s, 9)
    return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, \
        recv_exact(s, int.from_bytes(head[:3], "big"))


def tls_connect(port):
    ctx = ssl.create_default_context(cafile=CA)
    ctx.set_alpn_protocols(["h2"])
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                           server_hostname="localhost")


class H2Call:
    """One gRPC call on a fresh connection: HEADERS, then DATA as flow
    control allows; the answer's grpc-status and grpc-message are read from
    the trailers (grpc sends them as plain literals on a new connection)."""

    def __init__(self, port, path, message, encoding, compressed_flag):
        self.s = tls_connect(port)
        self.s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b""))
        headers = (b"\x83\x87" + literal(b":path", path) + literal(b":authority", b"localhost") +
                   literal(b"content-type", b"application/grpc") + literal(b"te", b"trailers"))
        if encoding:
            headers += literal(b"grpc-encoding", encoding)
        self.s.sendall(frame(1, 4, 1, headers))
        self.windows = {"conn": 65535, "stream": 65535, "initial": 65535}
        self.blocks, self.done = [], False
        body = bytes([compressed_flag]) + struct.pack(">I", len(message)) + message
        try:
            self.send(body)
            while not self.done:
                self.handle(*read_frame(self.s))
        except (EOFError, OSError):
            pass
        self.s.close()

    def send(self, body):
        off = 0
        while off < len(body) and not self.done:
            n = min(16384, len(body) - off, self.windows["conn"], self.windows["stream"])
            if n <= 0:
                self.handle(*read_frame(self.s))
                continue
            end = 1 if off + n == len(body) else 0
            self.s.sendall(frame(0, end, 1, body[off:off + n]))
            off += n
            self.windows["conn"] -= n
            self.windows["stream"] -= n

    def handle(self, kind, flags, stream, payload):
        w = self.windows
        if kind == 4 and not flags & 1:  # SETTINGS: the initial window, then ACK
            for i in range(0, len(payload), 6):
                ident, value = struct.unpack(">HI", payload[i:i + 6])
                if ident == 4:
                    w["stream"] += value - w["initial"]
                    w["initial"] = value
            self.s.sendall(frame(4, 1, 0, b""))
        elif kind == 8:  # WINDOW_UPDATE
            w["conn" if stream == 0 else "stream"] += int.from_bytes(payload, "big") & 0x7FFFFFFF
        elif kind == 6 and not flags & 1:  # PING
            self.s.sendall(frame(6, 1, 0, payload))
        elif kind == 1:  # HEADERS: the trailers end the stream
            self.blocks.append(payload)
            self.done = bool(flags & 1)
        elif kind in (3, 7):  # RST_STREAM, GOAWAY
            self.done = True

    def field(self, name):
        m = re.search(re.escape(name) + rb"(.)", b"".join(self.blocks), re.S)
        if not m:
            return None
        start = m.end()
        return b"".join(self.blocks)[start:start + m.group(1)[0]]


# ---- a standard client --------------------------------------------------

def stubs(work):
    subprocess.run(
        ["protoc", "--proto_path=" + os.path.join(src, "proto"),
         "--python_out=" + work, "--grpc_out=" + work,
         "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
         os.path.join(src, "proto", "rattest.proto")],
        check=True)
    sys.path.insert(0, work)


def ping(port, timeout=2, compression=None, channel=None, message="x"):
    """The status code's name of a Ping ("OK" when answered)."""
    import grpc
    import rattest_pb2
    import rattest_pb2_grpc
    with open(CA, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    own = channel is None
    ch = channel or grpc.secure_channel("localhost:%d" % port, creds)
    try:
        rattest_pb2_grpc.AttestationStub(ch).Ping(rattest_pb2.PingRequest(message=message),
                                                  timeout=timeout, compression=compression)
        return "OK"
    except grpc.RpcError as e:
        return e.code().name
    finally:
        if own:
            ch.close()


def test_gzip_bomb(work):
    import grpc
    v = Verifier(work, [])
    try:
        check(ping(v.port) == "OK", "Ping before the bomb")
        for encoding in (b"gzip", b"deflate"):
            body = compressed_zeros(128, encoding)
            check(len(body) < 4 << 20, "the bomb is under the message limit")
            before = v.memory_kib("VmHWM")
            call = H2Call(v.port, PING, body, encoding, 1)
            grown = (v.memory_kib("VmHWM") - before) // 1024
            print("%s bomb (%d KiB for 128 MiB): grpc-status %s %r, peak RSS +%d MiB" % (
                encoding.decode(), len(body) // 1024, call.field(b"grpc-status"),
                call.field(b"grpc-message"), grown))
            check(call.field(b"grpc-status") == b"12", "%s bomb: status %r, not UNIMPLEMENTED"
                  % (encoding, call.field(b"grpc-status")))
            check(call.field(b"grpc-message") == b"compressed requests are not accepted",
                  "%s bomb: message %r" % (encoding, call.field(b"grpc-message")))
            check(grown < 64, "%s bomb: peak RSS grew by %d MiB" % (encoding, grown))
        # A standard client that compresses gets the same refusal.
        # (A message gzip cannot shrink would go uncompressed.)
        check(ping(v.port, compression=grpc.Compression.Gzip, message="x" * 1000) ==
              "UNIMPLEMENTED",
              "gzip Ping from grpcio not refused UNIMPLEMENTED")
        check(ping(v.port) == "OK", "Ping after the bombs")
        check(v.proc.poll() is None, "verifier died")
    finally:
        v.stop()


def hold(port, n):
    """n idle TCP connections (as many as connect), never sending a byte."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            break
        socks.append(s)
    return socks


def test_connection_burst(work):
    # Room in this process for the connections it opens.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    v = Verifier(work, ["--handshake-timeout", "1m", "--max-connections", "200"],
                 nofile=(128, 512))
    try:
        check("descriptor limit 512 (was 128)" in v.log_text(),
              "the soft descriptor limit was not raised to the hard one")
        socks = hold(v.port, 150)
        check(len(socks) == 150, "only %d connections" % len(socks))
        check(ping(v.port) == "OK", "Ping not answered while 150 idle connections are held")
        socks += hold(v.port, 450)
        time.sleep(0.5)  # let the verifier accept what it will
        print("held %d connections, verifier at %d descriptors" % (
            len(socks), len(os.listdir("/proc/%d/fd" % v.proc.pid))))
        check(len(os.listdir("/proc/%d/fd" % v.proc.pid)) < 512 - 32,
              "connections took the descriptors meant for calls")
        for s in socks:
            s.close()
        took = wait_for(lambda: ping(v.port, timeout=1) == "OK", 10)
        print("Ping answered %s after the connections closed" % (
            "%.2f s" % took if took is not None else "never"))
        check(took is not None, "Ping not answered after the burst")
        check("connections refused" in v.log_text(), "no warning about refused connections")
    finally:
        v.stop()


def closed_after(s, timeout):
    """Seconds until the peer closed s, None if it did not within timeout."""
    s.settimeout(timeout)
    start = time.monotonic()
    try:
        while True:
            data = s.recv(4096)
            if not data:
                break
    except (ConnectionResetError, ssl.SSLError, ssl.SSLEOFError):
        pass
    except socket.timeout:
        return None
    return time.monotonic() - start


def sends_ticket(port):
    """Whether the verifier sends TLS session tickets (none: no client
    resumes, common/rpc/rt_tls_server_conf.c): judged once its first HTTP/2
    frame is read, which it writes after the tickets of the handshake."""
    s = tls_connect(port)
    try:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b""))
        read_frame(s)
        return s.session is not None and s.session.has_ticket
    finally:
        s.close()


def s_client(port, *args):
    """openssl s_client's report of a handshake with the verifier (ALPN h2,
    its CA), "" when it failed."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-alpn", "h2",
                        "-CAfile", CA, *args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)  # stdout: text, then HTTP/2 bytes
    return r.stdout.decode(errors="replace") if r.returncode == 0 else ""


def key_share(port, group):
    """The server's key share with a client offering only group, "" when
    the handshake failed."""
    m = re.search(r"Server Temp Key: ([^,\n]+)", s_client(port, "-groups", group))
    return m.group(1) if m else ""


def suite(port, offered):
    """The TLS 1.3 cipher suite the server picks from a client offering
    offered, in that order (common/rpc/rt_tls_server_conf.c)."""
    m = re.search(r"Cipher is (\S+)", s_client(port, "-ciphersuites", offered))
    return m.group(1) if m else ""


def test_timeouts(work):
    import grpc
    v = Verifier(work, ["--handshake-timeout", "1s", "--idle-timeout", "1s"])
    try:
        check(not sends_ticket(v.port), "the verifier sent a TLS session ticket")
        # X25519 where grpc 1.51 allowed P-256 alone (common/rpc/rt_tls_groups.h),
        # P-256 still served.
        shares = (key_share(v.port, "X25519"), key_share(v.port, "P-256"))
        check(shares == ("X25519", "ECDH"), "key shares X25519, P-256: %s" % (shares,))
        # AES-128-GCM-SHA256 by the server's order, whatever the client's
        # (OpenSSL's own puts AES-256-GCM-SHA384 first); the others still served.
        picked = (suite(v.port, "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"),
                  suite(v.port, "TLS_AES_256_GCM_SHA384"),
                  suite(v.port, "TLS_CHACHA20_POLY1305_SHA256"))
        check(picked == ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                         "TLS_CHACHA20_POLY1305_SHA256"), "TLS 1.3 suites picked: %s" % (picked,))
        def silent():  # no TLS at all
            return closed_after(socket.create_connection(("127.0.0.1", v.port)), 5)

        def tls_only():  # TLS, then no HTTP/2
            return closed_after(tls_connect(v.port), 5)

        def idle():  # HTTP/2 set up, then no call
            h2 = tls_connect(v.port)
            h2.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b""))
            return closed_after(h2, 5)

        with ThreadPoolExecutor() as pool:
            runs = [pool.submit(f) for f in (silent, tls_only, idle)]
            took = [r.result() for r in runs]
        print("closed after: no TLS %s s, TLS without HTTP/2 %s s, idle %s s" % tuple(took))
        check(took[0] is not None and 0.5 < took[0] < 3, "silent socket closed after %s s" % took[0])
        check(took[1] is not None and took[1] < 3, "TLS without HTTP/2 closed after %s s" % took[1])
        check(took[2] is not None and 0.5 < took[2] < 4, "idle connection closed after %s s" % took[2])
        # A client whose connection went idle reconnects for its next call.
        with open(CA, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        with grpc.secure_channel("localhost:%d" % v.port, creds) as ch:
            check(ping(v.port, channel=ch) == "OK", "first Ping")
            time.sleep(2)  # the idle timeout closes the connection meanwhile
            # On a loaded machine the client may send before its I/O thread
            # has read the verifier's GOAWAY: grpc then says UNAVAILABLE,
            # which clients retry (the bootstrap does), and the retry must
            # get through on a new connection. The deadline leaves room for
            # that connection's handshakes on a busy machine.
            got = [ping(v.port, timeout=10, channel=ch)]
            if got[0] == "UNAVAILABLE":
                got.append(ping(v.port, timeout=10, channel=ch))
            check(got[-1] == "OK", "Ping after the idle timeout: %s" % " then ".join(got))
    finally:
        v.stop()


def stalled_call(port, answer_pings, timeout):
    """A call whose request never ends, on a connection of its own: the
    seconds until the verifier's first PING, its GOAWAY and the end of the
    connection (None: not within timeout)."""
    s = tls_connect(port)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") +
              frame(1, 4, 1, b"\x83\x87" + literal(b":path", PING) +
                    literal(b":authority", b"localhost") +
                    literal(b"content-type", b"application/grpc") + literal(b"te", b"trailers")))
    seen = {"ping": None, "goaway": None, "closed": None}
    start = time.monotonic()
    s.settimeout(timeout)
    try:
        while time.monotonic() - start < timeout:
            kind, flags, _, payload = read_frame(s)
            at = time.monotonic() - start
            if kind == 4 and not flags & 1:
                s.sendall(frame(4, 1, 0, b""))
            elif kind == 6 and not flags & 1:
                seen["ping"] = seen["ping"] or at
                if answer_pings:
                    s.sendall(frame(6, 1, 0, payload))
            elif kind == 7:
                seen["goaway"] = seen["goaway"] or at
                break
    except (EOFError, OSError):
        seen["closed"] = time.monotonic() - start
    s.close()
    return seen


def test_keepalive_age(work):
    v = Verifier(work, ["--keepalive-time", "1s", "--keepalive-timeout", "1s",
                        "--max-connection-age", "3s"])
    try:
        with ThreadPoolExecutor() as pool:
            deaf = pool.submit(stalled_call, v.port, False, 6)
            alive = pool.submit(stalled_call, v.port, True, 6)
            deaf, alive = deaf.result(), alive.result()
        print("stalled call, pings unanswered: %s" % deaf)
        check(deaf["ping"] is not None and 0.5 < deaf["ping"] < 2.5,
              "keepalive ping at %s s" % deaf["ping"])
        check(deaf["closed"] is not None and deaf["closed"] < 2.8 and deaf["goaway"] is None,
              "unanswered keepalive: closed at %s s" % deaf["closed"])
        print("stalled call, pings answered: %s" % alive)
        check(alive["goaway"] is not None and 2.5 < alive["goaway"] < 4.5,
              "max connection age: GOAWAY at %s s" % alive["goaway"])
    finally:
        v.stop()


with tempfile.TemporaryDirectory() as work:
    stubs(work)
    start = time.monotonic()
    for test in (test_gzip_bomb, test_connection_burst, test_timeouts, test_keepalive_age):
        t = time.monotonic()
        test(work)
        print("%s: %.1f s" % (test.__name__, time.monotonic() - t))
    print("%d passed, %d failed in %.1f s" % (passed, failed, time.monotonic() - start))
sys.exit(1 if failed else 0)
