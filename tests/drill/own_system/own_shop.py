#!/usr/bin/python3
"""A tiny shop that is not the reference shop, for `stampede drill --target --topology` tests.

Two processes:
  ledger  stores orders in SQLite (idempotent by key): POST /orders, GET /orders, GET /healthz
  front   the shop's API: POST /api/orders (Idempotency-Key header), GET /api/audit, GET /api/pending,
          GET /healthz; it reaches the ledger at --ledger HOST:PORT (the drill's link proxy).
          --mode sync      acknowledges an order after the ledger stored it (correct)
          --mode buffered  acknowledges at once and writes to the ledger half a second later from memory
                           (the bug a node kill exposes: acknowledged orders die with the process)
Helpers for the topology's commands:
  probe URL            exits 0 when GET URL answers 200 within 1 s (a health command)
  wait URL SECONDS     probes until it answers 200 or the time is up

Only the standard library; every socket has a timeout.
"""
import argparse
import http.client
import http.server
import json
import os
import sqlite3
import sys
import threading
import time


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Handler(http.server.BaseHTTPRequestHandler):
    timeout = 10  # per connection: a client that stalls is dropped

    def log_message(self, fmt, *args):  # quiet: the drill's load would flood the log
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b"{}"
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def do_GET(self):
        self.server.app.get(self)

    def do_POST(self):
        self.server.app.post(self)


class Ledger:
    def __init__(self, db):
        self.db = db
        self.lock = threading.Lock()
        with sqlite3.connect(db) as c:
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("CREATE TABLE IF NOT EXISTS orders(key TEXT PRIMARY KEY, qty INTEGER NOT NULL)")

    def get(self, h):
        if h.path == "/healthz":
            return h.reply(200, {"ok": True})
        if h.path == "/orders":
            with self.lock, sqlite3.connect(self.db) as c:
                rows = c.execute("SELECT key, qty FROM orders ORDER BY key").fetchall()
            return h.reply(200, {"orders": [{"order_id": k, "qty": q} for k, q in rows]})
        h.reply(404, {"error": "not_found"})

    def post(self, h):
        b = h.body()
        if h.path != "/orders" or not isinstance(b, dict) or not isinstance(b.get("key"), str):
            return h.reply(400, {"error": "bad_request"})
        with self.lock, sqlite3.connect(self.db) as c:
            c.execute("INSERT OR IGNORE INTO orders(key, qty) VALUES (?, ?)", (b["key"], int(b.get("qty", 1))))
        h.reply(201, {"order_id": b["key"]})


class Front:
    def __init__(self, ledger, mode):
        host, port = ledger.rsplit(":", 1)
        self.ledger = (host, int(port))
        self.mode = mode
        self.lock = threading.Lock()
        self.buffer = []  # (acknowledged_at, key, qty): acknowledged, not yet in the ledger
        if mode == "buffered":
            threading.Thread(target=self.flush_forever, daemon=True).start()

    def call(self, method, path, body=None):
        c = http.client.HTTPConnection(*self.ledger, timeout=5)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"{}")
        finally:
            c.close()

    def flush_forever(self):
        while True:
            time.sleep(0.1)
            with self.lock:
                due = [e for e in self.buffer if time.monotonic() - e[0] >= 0.5]
            for e in due:
                try:
                    status, _ = self.call("POST", "/orders", {"key": e[1], "qty": e[2]})
                except OSError:
                    break  # the ledger is unreachable: retry later, in order
                if status == 201:
                    with self.lock:
                        self.buffer.remove(e)

    def get(self, h):
        if h.path == "/healthz":
            return h.reply(200, {"ok": True})
        if h.path == "/api/pending":
            with self.lock:
                return h.reply(200, {"pending": len(self.buffer)})
        if h.path == "/api/audit":
            try:
                status, body = self.call("GET", "/orders")
            except OSError as e:
                return h.reply(503, {"error": "ledger_unreachable", "detail": str(e)})
            with self.lock:
                pending = len(self.buffer)
            return h.reply(status, {"orders": body.get("orders", []), "pending": pending})
        h.reply(404, {"error": "not_found"})

    def post(self, h):
        b = h.body()
        key = h.headers.get("Idempotency-Key")
        if h.path != "/api/orders" or not isinstance(b, dict) or not key:
            return h.reply(400, {"error": "bad_request"})
        qty = int(b.get("qty", 1))
        if self.mode == "buffered":
            with self.lock:
                self.buffer.append((time.monotonic(), key, qty))
            return h.reply(201, {"order_id": key})
        try:
            status, _ = self.call("POST", "/orders", {"key": key, "qty": qty})
        except OSError as e:
            return h.reply(503, {"error": "ledger_unreachable", "detail": str(e)})
        h.reply(201 if status == 201 else 502, {"order_id": key} if status == 201 else {"error": "ledger"})


def probe(url, timeout=1.0):
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, port = hostport.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("GET", "/" + path)
        return c.getresponse().status == 200
    except OSError:
        return False
    finally:
        c.close()


def serve(app, args):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.app = app
    write_atomically(args.pid_file, str(os.getpid()))
    if args.port_file:
        write_atomically(args.port_file, str(server.server_address[1]))
    server.serve_forever()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="role", required=True)
    for role in ("ledger", "front"):
        s = sub.add_parser(role)
        s.add_argument("--port", type=int, default=0)
        s.add_argument("--port-file")
        s.add_argument("--pid-file", required=True)
        if role == "ledger":
            s.add_argument("--db", required=True)
        else:
            s.add_argument("--ledger", required=True)
            s.add_argument("--mode", choices=("sync", "buffered"), default="sync")
    s = sub.add_parser("probe")
    s.add_argument("url")
    s = sub.add_parser("wait")
    s.add_argument("url")
    s.add_argument("seconds", type=float)
    a = p.parse_args()
    if a.role == "probe":
        sys.exit(0 if probe(a.url) else 1)
    if a.role == "wait":
        deadline = time.monotonic() + a.seconds
        while time.monotonic() < deadline:
            if probe(a.url):
                sys.exit(0)
            time.sleep(0.05)
        sys.exit(1)
    serve(Ledger(a.db) if a.role == "ledger" else Front(a.ledger, a.mode), a)


if __name__ == "__main__":
    main()
