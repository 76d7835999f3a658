#!/usr/bin/env python3
# test_http_origin.py: the origin server of tests/unit/test_http.c
# (python3 http.server, HTTP/1.1 keep-alive, one thread per connection).
#
#   test_http_origin.py [--tls CERT KEY]      prints "ready PORT" on 127.0.0.1
#
# Paths (KEY makes per-test counters):
#   /flaky/KEY/N/CODE    the first N requests answer CODE, then 200 "ok"
#   /retry-after/KEY/V   the first request answers 429 with Retry-After: V
#   /code/CODE           answers CODE (3xx: Location: http://elsewhere.example/x)
#   /data/N              N bytes (byte i is i % 251); honours Range: bytes=A-B
#   /count/KEY           how many requests KEY's counters saw
#   /conns               how many TCP connections were accepted so far
#   /echo                body: "METHOD\n" then the request headers, then the body
#   PUT /upload          reads the body, answers 201, ETag: "<sha256 hex>"
import hashlib
import http.server
import socketserver
import ssl
import sys
import threading

lock = threading.Lock()
counts = {}
conns = [0]


def bump(key):
    with lock:
        counts[key] = counts.get(key, 0) + 1
        return counts[key]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        with lock:
            conns[0] += 1
        super().setup()

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        h = hashlib.sha256()
        data = bytearray()
        while n > 0:
            chunk = self.rfile.read(min(n, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            if len(data) < 65536:
                data += chunk[:65536 - len(data)]
            n -= len(chunk)
        return h.hexdigest(), bytes(data)

    def any(self):
        sha, data = self.body()
        p = self.path.split("/")
        if p[1] == "flaky":
            n = bump(p[2])
            if n <= int(p[3]):
                return self.reply(int(p[4]), b"busy\n")
            return self.reply(200, b"ok")
        if p[1] == "retry-after":
            if bump(p[2]) == 1:
                return self.reply(429, b"slow down\n", [("Retry-After", p[3].replace("%20", " "))])
            return self.reply(200, b"ok")
        if p[1] == "code":
            code = int(p[2])
            hdr = [("Location", "http://elsewhere.example/x")] if 300 <= code < 400 else []
            return self.reply(code, b"code\n", hdr)
        if p[1] == "data":
            n = int(p[2])
            blob = bytes(i % 251 for i in range(n))
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                a, b = rng[6:].split("-")
                a, b = int(a), int(b) if b else n - 1
                b = min(b, n - 1)
                return self.reply(206, blob[a:b + 1],
                                  [("Content-Range", "bytes %d-%d/%d" % (a, b, n)), ("ETag", '"d%d"' % n)])
            return self.reply(200, blob, [("ETag", '"d%d"' % n)])
        if p[1] == "count":
            with lock:
                return self.reply(200, str(counts.get(p[2], 0)).encode())
        if p[1] == "conns":
            with lock:
                return self.reply(200, str(conns[0]).encode())
        if p[1] == "echo":
            out = (self.command + "\n" + str(self.headers)).encode() + data
            return self.reply(200, out)
        if p[1] == "upload" and self.command == "PUT":
            return self.reply(201, sha.encode(), [("ETag", '"%s"' % sha)])
        return self.reply(404, b"not found\n")

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = any
    do_PROPFIND = do_MKCOL = do_MOVE = any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass    # a client that hung up on purpose (max_out, cut tests)


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) >= 4 and sys.argv[1] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("ready %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


main()
