#!/usr/bin/env python3
"""Sale -> KPI freshness through a running server: POST a sale, then read the KPIs in a tight
loop until the sale count moves; repeated N times, 50 ms apart. Prints p50, p99 and max in ms.

    TOKEN=<admin API token> bench/freshness_probe.py WRITE_URL [KPI_URL] [N]

WRITE_URL serves POST /api/v1/sales; KPI_URL (default: the same) serves /api/v1/kpis/branches,
so a writer and an aggregator in two processes can be measured. The sales are for agent
BLK000001 and product 1, as `moon demo --sales N` creates them. Loopback use only.
"""
import datetime
import json
import os
import sys
import time
import urllib.request

write = sys.argv[1]
kpis = sys.argv[2] if len(sys.argv) > 2 else write
n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
headers = {"Authorization": "Bearer " + os.environ["TOKEN"], "Content-Type": "application/json"}


def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(base + path, method=method, headers=headers, data=data)
    with urllib.request.urlopen(r) as resp:
        return json.loads(resp.read() or b"null")


def counted():
    return sum(r["sales_count"] for r in call(kpis, "GET", "/api/v1/kpis/branches")["items"])


today = datetime.date.today().isoformat()
sale = {"agent_code": "BLK000001", "product_id": 1, "amount": "10.00", "sale_date": today}
took = []
for _ in range(n):
    before = counted()
    call(write, "POST", "/api/v1/sales", sale)
    t0 = time.perf_counter()
    while counted() == before:
        pass
    took.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.05)
took.sort()
print(f"n={n} p50={took[n // 2]:.1f} ms p99={took[min(n - 1, int(n * 0.99))]:.1f} ms max={took[-1]:.1f} ms")
