import json, os, sys, time, urllib.request, datetime
base = sys.argv[1]; n = int(sys.argv[2]); tok = os.environ["TOKEN"]
H = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
def req(method, path, body=None):
    r = urllib.request.Request(base + path, method=method, headers=H, data=json.dumps(body).encode() if body else None)
    with urllib.request.urlopen(r) as resp:
        return json.loads(resp.read() or b"null")
def count():
    return sum(r["sales_count"] for r in req("GET", "/api/v1/kpis/branches")["items"])
today = datetime.date.today().isoformat()
lat = []
for i in range(n):
    c0 = count()
    req("POST", "/api/v1/sales", {"agent_code": "BLK000001", "product_id": 1, "amount": "10.00", "sale_date": today})
    t0 = time.perf_counter()
    while count() == c0:
        pass
    lat.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.05)
lat.sort()
print(f"n={n} p50={lat[n//2]:.1f} ms p99={lat[min(n-1, int(n*0.99))]:.1f} ms max={lat[-1]:.1f} ms")
