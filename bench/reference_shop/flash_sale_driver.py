"""Drives the flash-sale and checkout benchmarks against a running `stampede shop` (see flash_sale.sh and
sqlite_vs_postgres.sh)."""
import http.client
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

topology = json.load(open(sys.argv[1]))
host, port = "127.0.0.1", int(topology["entry_url"].rsplit(":", 1)[1])
admin = {"Authorization": "Bearer " + topology["admin_token"]}
BUYERS, USERS, UNITS = 500, 2000, 1000


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers or {})
    r = conn.getresponse()
    return r.status, r.read()


def login(i):
    c = http.client.HTTPConnection(host, port, timeout=10)
    for _ in range(50):  # the shop sheds login bursts with 429 + Retry-After (per address, hashing pool)
        c.request("POST", "/api/sessions", body=json.dumps({"email": f"customer{i}@shop.test", "password": "stampede"}))
        r = c.getresponse()
        s, b = r.status, r.read()
        if s != 429:
            break
        time.sleep(float(r.getheader("Retry-After", "1")))
    assert s == 200, (s, b)
    return json.loads(b)["token"]


with ThreadPoolExecutor(32) as pool:
    tokens = list(pool.map(login, range(1, USERS + 1)))
c = http.client.HTTPConnection(host, port, timeout=10)
s, b = request(c, "POST", "/api/admin/flash-sales", {"product_id": 7, "stock": UNITS, "price": 100}, admin)
sale = json.loads(b)["id"]

attempts = 0
created = 0
statuses = {}  # answers to purchase attempts, by status
samples = {}  # the first body of each 5xx status
lock = threading.Lock()
start_gate = threading.Barrier(BUYERS)


def buyer(n):
    global attempts, created
    conn = http.client.HTTPConnection(host, port, timeout=30)
    start_gate.wait()
    mine_a = mine_c = 0
    mine_s = {}
    for token in tokens[n::BUYERS]:  # each buyer cycles through 4 users, each trying until 201/409/410
        while True:
            s, body = request(conn, "POST", f"/api/flash-sales/{sale}/purchase", None, {"Authorization": "Bearer " + token})
            mine_a += 1
            mine_s[s] = mine_s.get(s, 0) + 1
            if s >= 500 and s not in samples:
                samples[s] = body[:200].decode(errors="replace")
            if s == 201:
                mine_c += 1
            if s in (201, 409, 410):
                break
        if s == 410:
            break
    with lock:
        attempts += mine_a
        created += mine_c
        for k, v in mine_s.items():
            statuses[k] = statuses.get(k, 0) + v


t0 = time.monotonic()
threads = [threading.Thread(target=buyer, args=(n,)) for n in range(BUYERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - t0
s, b = request(c, "GET", "/api/admin/audit", None, admin)
audit = json.loads(b)
fs = [x for x in audit["flash_sales"] if x["sale_id"] == sale][0]
twice = [p for p in fs["purchases"] if p["count"] > 1]
print(f"flash sale: {BUYERS} buyers, {UNITS} units, 3 nodes: {created} orders acknowledged, audit sold {fs['sold']}, "
      f"remaining {fs['remaining']}, users with >1: {len(twice)}")
print(f"  {attempts} purchase attempts in {elapsed:.2f}s = {attempts / elapsed:.0f} attempts/s, "
      f"{created / elapsed:.0f} orders/s; answers {dict(sorted(statuses.items()))}")
for status, body in sorted(samples.items()):
    print(f"  first {status}: {body}")
assert fs["sold"] == UNITS and created == UNITS and not twice

# Checkout throughput: 64 concurrent clients, each its own user, 3-item orders.
CLIENTS, PER_CLIENT = 64, 40
ok = 0


latencies = []


def checkout(n):
    global ok
    conn = http.client.HTTPConnection(host, port, timeout=30)
    h = {"Authorization": "Bearer " + tokens[n]}
    mine = 0
    times = []
    for i in range(PER_CLIENT):
        body = {"items": [{"product_id": 1 + (n * 37 + i * 11 + k * 101) % 2000, "qty": 1} for k in range(3)]}
        t = time.perf_counter()
        s, _ = request(conn, "POST", "/api/orders", body, dict(h, **{"Idempotency-Key": f"bench-{n}-{i}"}))
        times.append(time.perf_counter() - t)
        mine += s == 201
    with lock:
        ok += mine
        latencies.extend(times)




def commits():
    """PostgreSQL only: transactions committed in the shop's database so far (None on SQLite)."""
    db = topology.get("database", {})
    if not isinstance(db, dict) or db.get("kind") != "postgres":
        return None
    # An idle session reports its counters within 10 s (PostgreSQL 15's PGSTAT_IDLE_INTERVAL): wait them out,
    # so the difference holds everything the orders caused, their payments included.
    time.sleep(11)
    sql = "SELECT pg_stat_clear_snapshot(); SELECT xact_commit FROM pg_stat_database WHERE datname = 'shop'"
    url = db.get("url") or db.get("primary_url")  # Patroni: through the database HAProxy to the primary
    out = subprocess.run(["psql", url, "-Atqc", sql], capture_output=True, text=True, timeout=10, check=True)
    return int(out.stdout.split()[-1])


before = commits()
t0 = time.monotonic()
with ThreadPoolExecutor(CLIENTS) as pool:
    list(pool.map(checkout, range(CLIENTS)))
elapsed = time.monotonic() - t0
after = commits()
latencies.sort()


def pct(p):
    return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000


print(f"checkout: {CLIENTS} clients, 3 nodes: {ok} orders in {elapsed:.2f}s = {ok / elapsed:.0f} orders/s, "
      f"p50 {pct(50):.1f} ms, p99 {pct(99):.1f} ms (client-side, one request at a time per client)")
if before is not None:
    # The shop's share of the database, to compare with pgbench's tps on the same server: every commit the
    # orders caused (checkout, payment claim and settlement) plus the nodes' background polling meanwhile.
    per_order = (after - before) / max(ok, 1)
    print(f"  database: {after - before} commits = {per_order:.1f} per order (payments and polling included), "
          f"{per_order * ok / elapsed:.0f} commits/s at this order rate")
assert ok == CLIENTS * PER_CLIENT
