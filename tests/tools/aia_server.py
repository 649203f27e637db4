#!/usr/bin/env python3
"""A local "manufacturer" AIA server for test_ek_aia.sh: serves the files of
DIR by name, plus /slow (answers after 10 s), /big (100 KiB), /to-https (a
redirect to an https:// URL). Binds a free loopback port and writes it to
PORT_FILE; with LOG, appends each request's path to it. Also the local
"manufacturer service" of test_ek_cert_url.sh. Usage:
aia_server.py DIR PORT_FILE [LOG]"""
import http.server
import os
import sys
import time

root, port_file = sys.argv[1], sys.argv[2]
log = sys.argv[3] if len(sys.argv) > 3 else None


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, body, status=200):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if log:
            with open(log, "a") as f:
                f.write(self.path + "\n")
        name = self.path.lstrip("/")
        if name == "slow":
            time.sleep(10)
            return self.send(b"late")
        if name == "big":
            return self.send(b"0" * 100 * 1024)
        if name == "to-https":
            self.send_response(302)
            self.send_header("Location", "https://127.0.0.1:1/inter.der")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        path = os.path.join(root, os.path.basename(name))
        if not os.path.isfile(path):
            return self.send(b"not here", 404)
        with open(path, "rb") as f:
            self.send(f.read())


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
