"""Drives the flash-sale and checkout benchmarks against a running `stampede shop` (see flash_sale.sh)."""
import http.client
import json
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
lock = threading.Lock()
start_gate = threading.Barrier(BUYERS)


def buyer(n):
    global attempts, created
    conn = http.client.HTTPConnection(host, port, timeout=30)
    start_gate.wait()
    mine_a = mine_c = 0
    for token in tokens[n::BUYERS]:  # each buyer cycles through 4 users, each trying until 201/409/410
        while True:
            s, _ = request(conn, "POST", f"/api/flash-sales/{sale}/purchase", None, {"Authorization": "Bearer " + token})
            mine_a += 1
            if s == 201:
                mine_c += 1
            if s in (201, 409, 410):
                break
        if s == 410:
            break
    with lock:
        attempts += mine_a
        created += mine_c


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
      f"{created / elapsed:.0f} orders/s")
assert fs["sold"] == UNITS and created == UNITS and not twice

# Checkout throughput: 64 concurrent clients, each its own user, 3-item orders.
CLIENTS, PER_CLIENT = 64, 40
ok = 0


def checkout(n):
    global ok
    conn = http.client.HTTPConnection(host, port, timeout=30)
    h = {"Authorization": "Bearer " + tokens[n]}
    mine = 0
    for i in range(PER_CLIENT):
        body = {"items": [{"product_id": 1 + (n * 37 + i * 11 + k * 101) % 2000, "qty": 1} for k in range(3)]}
        s, _ = request(conn, "POST", "/api/orders", body, dict(h, **{"Idempotency-Key": f"bench-{n}-{i}"}))
        mine += s == 201
    with lock:
        ok += mine


t0 = time.monotonic()
with ThreadPoolExecutor(CLIENTS) as pool:
    list(pool.map(checkout, range(CLIENTS)))
elapsed = time.monotonic() - t0
print(f"checkout: {CLIENTS} clients, 3 nodes: {ok} orders in {elapsed:.2f}s = {ok / elapsed:.0f} orders/s")
