"""servelib.py: what the Python tests of `shelf serve` share (test_serve.py,
test_serve_docs.py): the checks' output ("ok NAME" / "FAIL NAME: why"),
the servers they start (killed on the way out, however it comes) and the
summary line with the exit status."""
import ctypes
import signal
import sys

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
