#!/usr/bin/env python3
"""SQLite's own single-row insert rate, the yardstick for `POST /api/v1/sales` on SQLite.

N threads, each with its own connection, insert one row per transaction into the `sales` table
of an existing moon database (made by `moon migrate` + `moon demo`, so the table, its indexes,
its foreign keys and its CHECK are exactly the service's) until the deadline, then report the
rate. The connections use the pragmas moon uses: WAL, synchronous=NORMAL, foreign_keys=ON,
busy_timeout=5s, and each transaction starts with BEGIN IMMEDIATE as moon's writer does.

Output: one line `raw_insert threads=N rows=R seconds=S rate=X p50_ms=A p99_ms=B errors=E`.
"""

import argparse
import random
import sqlite3
import threading
import time

INSERT = (
    "INSERT INTO sales (agent_id, product_id, amount_cents, sale_date, branch, policy_number,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)"
)
BRANCHES = ["Colombo", "Kandy", "Matara", "Colombo", "Kandy", "Galle", "Colombo", "Kurunegala", "Galle", "Jaffna"]


def worker(path, deadline, seed, out):
    rng = random.Random(seed)
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    lat = []
    rows = errors = 0
    clock = time.perf_counter
    while clock() < deadline:
        agent = rng.randint(1, 10)
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        args = (agent, rng.randint(1, 5), rng.randint(100, 6_000_000),
                "2025-%02d-%02d" % (rng.randint(1, 12), rng.randint(1, 28)), BRANCHES[agent - 1], now, now)
        t0 = clock()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(INSERT, args)
            conn.execute("COMMIT")
            rows += 1
            lat.append(clock() - t0)
        except sqlite3.OperationalError:
            errors += 1
            if conn.in_transaction:
                conn.execute("ROLLBACK")
    conn.close()
    out.append((rows, errors, lat))


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("database", help="path of a migrated moon SQLite database (scratch copy)")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    if not 0 < a.seconds <= 600:
        ap.error("--seconds must be in (0, 600]")
    out = []
    start = time.perf_counter()
    deadline = start + a.seconds
    threads = [threading.Thread(target=worker, args=(a.database, deadline, i, out)) for i in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    rows = sum(r for r, _, _ in out)
    errors = sum(e for _, e, _ in out)
    lat = sorted(x for _, _, l in out for x in l)
    print("raw_insert threads=%d rows=%d seconds=%.2f rate=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d sqlite=%s" % (
        a.threads, rows, elapsed, rows / elapsed, percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3, errors,
        sqlite3.sqlite_version))


if __name__ == "__main__":
    main()
