#!/usr/bin/env python3
"""serve_api.py: the API side of bench/bench_serve.sh (a benchmark, not a test).

Every keystroke bench_search replays (its --csv file) as GET /api/search
(the first page of 60, as the page asks) on one kept-alive connection with
TCP_NODELAY, each request sent once the previous answer is read: the time
to the first byte of the answer (the status line), to the whole answer,
and the server's own `ms`.  The client is Python's http.client because it
runs one thread: on this two-core machine Node's client (serve_browser.js,
which measures the same beside it) shares the cores with V8's helper
threads, and its p99 was partly its own.

    serve_api.py URL KEYS_CSV [RAW_FILE]

URL is the address `shelf serve` prints (with the token).  Prints one JSON
object: api_ttfb, api_whole and server_ms, each {n, p50, p95, p99, max}.
"""
import csv
import http.client
import json
import math
import socket
import sys
import time
import urllib.parse


def sequences(path):
    """bench_search's CSV: the typed sequences, each the list of its prefixes."""
    seqs = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            seqs.setdefault(int(row["seq"]), []).append(row["query"])
    return list(seqs.values())


def summary(a):
    """As serve_browser.js: the value at ceil(p% of n), nearest rank."""
    s = sorted(a)

    def pct(p):
        return s[min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1)] if s else None
    return {"n": len(s), "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": pct(100)}


def main():
    url = urllib.parse.urlsplit(sys.argv[1])
    token = urllib.parse.parse_qs(url.query)["token"][0]
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # the figures are the index's: wait until the server has taken it
    while True:
        conn.request("GET", "/api/session", headers={"X-Shelf-Token": token})
        if not json.loads(conn.getresponse().read())["index"]["building"]:
            break
        time.sleep(0.1)
    ttfb, whole, server, raw = [], [], [], []
    for seq in sequences(sys.argv[2]):
        for text in seq:
            path = "/api/search?" + urllib.parse.urlencode({"q": text, "offset": 0, "limit": 60})
            t0 = time.perf_counter()
            conn.putrequest("GET", path, skip_accept_encoding=True)
            conn.putheader("X-Shelf-Token", token)
            conn.endheaders()
            resp = conn.getresponse()
            t1 = time.perf_counter()
            body = resp.read()
            t2 = time.perf_counter()
            v = json.loads(body)
            ttfb.append((t1 - t0) * 1e3)
            whole.append((t2 - t0) * 1e3)
            if isinstance(v.get("ms"), (int, float)):
                server.append(v["ms"])
            raw.append({"q": text, "status": resp.status, "ttfb": ttfb[-1], "whole": whole[-1], "ms": v.get("ms")})
    conn.close()
    if len(sys.argv) > 3:
        with open(sys.argv[3], "w", encoding="utf-8") as f:
            json.dump(raw, f)
    print(json.dumps({"api_ttfb": summary(ttfb), "api_whole": summary(whole), "server_ms": summary(server)}))


if __name__ == "__main__":
    main()
