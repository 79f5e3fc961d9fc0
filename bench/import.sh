#!/usr/bin/env bash
# Bulk import against the database's own rate (issue 19, item 4): generates a CSV of ROWS sales
# over the demo's agents and products, times `moon import sales FILE --valid-rows` into a fresh
# database while sampling the process's memory, then, in the same run and database, times the
# database's own `INSERT … SELECT` of the same rows into a copy of `sales` with the same indexes
# and unique keys (the reference: what the database itself does with these rows, without
# parsing, validation, de-duplication or the change log). Prints one Markdown table row.
#
#   bench/import.sh sqlite 1000000
#   bench/import.sh postgres 1000000
#   ROWS_FILE=/big/sales.csv bench/import.sh sqlite   (reuse a generated file)
#
# Memory: peak RssAnon (heap and stacks: what the import itself holds) and peak VmRSS (which also
# counts the database file's pages SQLite maps with mmap: shared page cache, not the process's).
# Environment: MOON_BIN (default target/release/moon), PG_URL (default
# postgres://postgres@127.0.0.1:5432/postgres; a database moon_bench_import_<pid> is created
# and dropped), KEEP=1 keeps the work directory. Needs python3 and, for PostgreSQL, psql.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BACKEND=${1:-sqlite}
ROWS=${2:-1000000}
MOON=${MOON_BIN:-$ROOT/target/release/moon}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}

say() { printf '[import %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    say "FAILED: $*"
    exit 1
}
[[ -x $MOON ]] || die "no moon binary at $MOON (cargo build --release -p moon, or set MOON_BIN)"
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || die "ROWS must be a positive whole number"
command -v python3 >/dev/null || die "python3 is not installed"

DIR=$(mktemp -d -t moon-import.XXXXXX)
DBNAME=moon_bench_import_$$
cleanup() {
    if [[ $BACKEND == postgres ]]; then
        psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $DBNAME" >/dev/null 2>&1 || true
    fi
    [[ ${KEEP:-0} == 1 ]] || rm -rf "$DIR"
}
trap cleanup EXIT

case $BACKEND in
sqlite) URL="sqlite://$DIR/moon.db" ;;
postgres)
    command -v psql >/dev/null || die "psql is not installed"
    psql "$PG_URL" -qc "CREATE DATABASE $DBNAME" >/dev/null || die "cannot create database $DBNAME at $PG_URL"
    URL="${PG_URL%/*}/$DBNAME"
    ;;
*) die "backend must be sqlite or postgres" ;;
esac
export MOON_DATABASE_URL=$URL MOON_WAREHOUSE_URL="sqlite://$DIR/warehouse.db" MOON_LOG=warn
unset MOON_CONFIG
cd "$DIR"

say "moon: $MOON; backend $BACKEND; $ROWS rows"
"$MOON" demo >demo.log 2>&1 || { tail -5 demo.log >&2; die "moon demo failed"; }

# The agents and products the rows refer to, from the database itself.
python3 - "$BACKEND" "$URL" >catalogue.txt <<'PY'
import subprocess, sys
backend, url = sys.argv[1], sys.argv[2]
q_agents = "SELECT agent_code FROM agents WHERE active ORDER BY agent_code"
q_products = "SELECT id FROM products ORDER BY id"
if backend == "sqlite":
    import sqlite3
    db = sqlite3.connect(url[len("sqlite://"):])
    agents = [r[0] for r in db.execute(q_agents.replace("WHERE active", "WHERE active = 1"))]
    products = [r[0] for r in db.execute(q_products)]
else:
    run = lambda q: subprocess.run(["psql", url, "-Atc", q], check=True, capture_output=True, text=True).stdout.split()
    agents, products = run(q_agents), run(q_products)
print(" ".join(agents))
print(" ".join(map(str, products)))
PY

FILE=${ROWS_FILE:-$DIR/sales.csv}
if [[ -z ${ROWS_FILE:-} ]]; then
    say "writing $FILE"
    python3 - "$FILE" "$ROWS" catalogue.txt <<'PY'
import random, sys, datetime
path, rows = sys.argv[1], int(sys.argv[2])
agents, products = (line.split() for line in open(sys.argv[3]))
rng = random.Random(2026)
start = datetime.date(2023, 1, 1)
days = [(start + datetime.timedelta(d)).isoformat() for d in range(1000)]
with open(path, "w", buffering=1 << 20) as f:
    f.write("agent_code,product_id,amount,sale_date,policy_number,external_ref\n")
    for i in range(1, rows + 1):
        f.write(f"{rng.choice(agents)},{rng.choice(products)},{rng.randrange(1000, 500000)}.{rng.randrange(100):02d},"
                f"{rng.choice(days)},BULK-{i:09d},r{i}\n")
PY
fi

# The import, with its memory sampled every 50 ms.
say "importing"
python3 - "$MOON" "$FILE" >import.txt <<'PY'
import subprocess, sys, time
proc = subprocess.Popen([sys.argv[1], "import", "sales", sys.argv[2], "--valid-rows"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
t0 = time.monotonic()
peak_anon = peak_rss = 0
while proc.poll() is None:
    try:
        for line in open(f"/proc/{proc.pid}/status"):
            k, _, v = line.partition(":")
            if k == "RssAnon":
                peak_anon = max(peak_anon, int(v.split()[0]))
            elif k == "VmHWM":
                peak_rss = max(peak_rss, int(v.split()[0]))
    except OSError:
        pass
    time.sleep(0.05)
elapsed = time.monotonic() - t0
out, err = proc.communicate()
if proc.returncode != 0:
    sys.stderr.write(out + err)
    sys.exit(f"moon import exited with {proc.returncode}")
sys.stderr.write(err.strip().splitlines()[-1] + "\n" if err.strip() else "")
print(f"{elapsed:.2f} {peak_anon / 1024:.1f} {peak_rss / 1024:.1f}")
PY
read -r import_s anon_mb rss_mb <import.txt

# The reference: the database's own INSERT … SELECT of the same rows into a copy of `sales`
# with the same indexes and unique keys.
say "reference: INSERT … SELECT into a copy of sales"
ref_s=$(python3 - "$BACKEND" "$URL" <<'PY'
import re, subprocess, sys, time
backend, url = sys.argv[1], sys.argv[2]
if backend == "sqlite":
    import sqlite3
    db = sqlite3.connect(url[len("sqlite://"):], isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
    ddl = [r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'sales' AND sql IS NOT NULL")]
    cols = ", ".join(r[1] for r in db.execute("PRAGMA table_info(sales)") if r[1] != "id")
    for stmt in ddl:
        stmt = re.sub(r"\bsales\b", "sales_ref", stmt, count=0)
        stmt = re.sub(r"INDEX (\w+)", lambda m: f"INDEX {m.group(1)}_ref", stmt, count=1)
        db.execute(stmt)
    t0 = time.monotonic()
    db.execute("BEGIN")
    db.execute(f"INSERT INTO sales_ref ({cols}) SELECT {cols} FROM sales")
    db.execute("COMMIT")
    print(f"{time.monotonic() - t0:.2f}")
else:
    psql = lambda q: subprocess.run(["psql", url, "-qAtc", q], check=True, capture_output=True, text=True).stdout
    psql("CREATE TABLE sales_ref (LIKE sales INCLUDING ALL)")
    cols = psql("SELECT string_agg(column_name, ', ' ORDER BY ordinal_position) FROM information_schema.columns "
                "WHERE table_name = 'sales' AND column_name <> 'id'").strip()
    t0 = time.monotonic()
    psql(f"INSERT INTO sales_ref ({cols}) SELECT {cols} FROM sales")
    print(f"{time.monotonic() - t0:.2f}")
PY
)
python3 - "$BACKEND" "$ROWS" "$import_s" "$anon_mb" "$rss_mb" "$ref_s" <<'PY'
import sys
backend, rows, imp, anon, rss, ref = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:])
print("| backend | rows | import s | rows/s | peak RssAnon MiB | peak VmRSS MiB | INSERT … SELECT s | rows/s | import / database |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {backend} | {rows:,} | {imp:.1f} | {rows / imp:,.0f} | {anon:.0f} | {rss:.0f} | {ref:.1f} | {rows / ref:,.0f} | {ref / imp:.2f} |")
PY
