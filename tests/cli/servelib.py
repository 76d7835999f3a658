"""servelib.py: what the Python tests of `shelf serve` share (test_serve.py,
test_serve_docs.py, test_serve_dupes.py, test_serve_restore.py): the
checks' output ("ok NAME" / "FAIL NAME: why"), the servers they start (killed on the way out, however it comes), a client
for the API and the summary line with the exit status."""
import ctypes
import http.client
import json
import os
import select
import signal
import subprocess
import sys
import time

counts = {"passed": 0, "failed": 0}
servers = []            # every server started, killed on the way out


def ok(name):
    counts["passed"] += 1
    print("ok   " + name)


def fail(name, why=""):
    counts["failed"] += 1
    print("FAIL %s%s" % (name, ": " + why if why else ""), file=sys.stderr)


def check(name, cond, why=""):
    (ok if cond else lambda n: fail(n, why))(name)


def kill_all():
    for p in servers:
        if p.poll() is None:
            p.kill()
            p.wait()


def _on_signal(sig, frame):
    kill_all()
    sys.exit(1)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def die_with_parent():
    """In the child: be killed when this script dies, however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)    # PR_SET_PDEATHSIG


def finish():
    print("%d passed, %d failed" % (counts["passed"], counts["failed"]))
    sys.exit(1 if counts["failed"] else 0)


def spawn(shelf, lib, *args, env=None):
    """Start `shelf -L lib serve ARGS` (killed on the way out); returns
    (process, its first line of standard output)."""
    p = subprocess.Popen([shelf, "-L", lib, "serve"] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, preexec_fn=die_with_parent)
    servers.append(p)
    line = b""
    deadline = time.time() + 60         # preloading under the sanitizers takes a while
    while not line.endswith(b"\n") and time.time() < deadline and p.poll() is None:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            b = os.read(p.stdout.fileno(), 1)
            if not b:
                break
            line += b
    return p, line.decode("utf-8", "replace")


class Server:
    """`shelf -L lib serve --port 0 --json` started, and requests to it: the
    token as a header, mutations with the exact Origin too."""

    def __init__(self, shelf, lib, *args, env=None):
        p, line = spawn(shelf, lib, "--port", "0", "--json", *args, env=env)
        start = json.loads(line)
        self.proc = p
        self.port, self.token = start["port"], start["token"]
        self.host = "127.0.0.1:%d" % self.port
        self.origin = "http://" + self.host
        self.mut = {"X-Shelf-Token": self.token, "Origin": self.origin, "Content-Type": "application/json"}
        self.seen = []          # every answer's headers and body, to look for what must never be sent
        self.wait_index()

    def wait_index(self):
        """Wait until the index built in the background is taken (searches
        before that are SQL's)."""
        deadline = time.time() + 60
        while time.time() < deadline:
            st, v = self.get("/api/session")
            if st != 200 or not v["index"]["building"]:
                return
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM):
        """Signal the server; its exit status and standard error."""
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode, self.proc.stderr.read().decode("utf-8", "replace")

    def req(self, method, path, headers=None, body=None, host=None):
        """One request on its own connection (Host: host, else the server's):
        (status, the body as JSON, else bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", host or self.host)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        if body is not None:
            body = body.encode() if isinstance(body, str) else body
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        c.close()
        self.seen.append(b"".join(("%s: %s\n" % h).encode() for h in r.getheaders()) + data)
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data

    def get(self, path):
        return self.req("GET", path, {"X-Shelf-Token": self.token})

    def post(self, path, obj, headers=None):
        return self.req("POST", path, self.mut if headers is None else headers,
                        obj if isinstance(obj, (str, bytes)) else json.dumps(obj))
