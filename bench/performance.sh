#!/usr/bin/env bash
# Performance figures at scale (issue "Sales performance", item 9): the latency of one scope's
# figures for a period and of one drill-down level, through the real release binary, against the
# warehouse's own query for the same sums, measured in the same run.
#
#   bench/performance.sh [SALES] [AGENTS]        (defaults: 1000000 sales, 2000 agents)
#
# Steps: a fresh SQLite database and warehouse (the embedded default) in a temp directory;
# `moon demo --sales SALES --agents AGENTS` (bulk load, then the warehouse rebuild at start);
# a target for every bulk agent, branch and team and the company for this month
# (`moon targets import`); `moon serve`; then wrk (-t2 -c$CONNECTIONS, $DURATION) against a mix
# of GET /api/v1/performance for random scopes (company, branch, team, agent; this month)
# and GET /api/v1/performance/drill for one level (branches of the company, teams of a branch,
# agents of a branch). The reference is sqlite3 running the same branch-and-month SUM over the
# daily cells, timed over the same number of random scopes. Prints a Markdown summary on stdout.
#
# Environment: CONNECTIONS=16 DURATION=15s MOON_BIN=target/release/moon KEEP=0 (1 keeps the
# temp directory). Needs wrk and sqlite3. Build first: cargo build --release -p moon
set -euo pipefail

SALES=${1:-1000000}
AGENTS=${2:-2000}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-15s}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
MOON=${MOON_BIN:-$ROOT/target/release/moon}
say() { printf '[performance %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ $SALES =~ ^[0-9]+$ && $AGENTS =~ ^[1-9][0-9]*$ ]] || die "usage: bench/performance.sh [SALES] [AGENTS]"
[[ -x $MOON ]] || die "no binary at $MOON (cargo build --release -p moon)"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v sqlite3 >/dev/null || die "sqlite3 not found (apt-get install sqlite3)"

WORK=$(mktemp -d -t moon-performance.XXXXXX)
SERVER=""
cleanup() {
  [[ -z $SERVER ]] || kill "$SERVER" 2>/dev/null || true
  [[ ${KEEP:-0} == 1 ]] && say "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
export MOON_DATABASE_URL="sqlite://$WORK/moon.db"
printf 'rate_limit_read_per_minute = 0\nrate_limit_write_per_minute = 0\n' >moon.toml
export MOON_CONFIG="$WORK/moon.toml" MOON_LOG=warn

say "loading $SALES sales over $AGENTS agents"
started=$(date +%s)
"$MOON" demo --sales "$SALES" --agents "$AGENTS" >/dev/null 2>demo.log || { cat demo.log; die "moon demo failed"; }
say "loaded in $(($(date +%s) - started)) s"

month=$(date -u +%Y-%m)
{
  echo "scope_kind,scope_key,product,product_line,period,amount,policy_count"
  echo "company,,,,$month,$((SALES / 30)),"
  sqlite3 moon.db "SELECT DISTINCT 'branch,' || branch || ',,,$month,2000000,' FROM agents WHERE agent_code LIKE 'BLK%';"
  sqlite3 moon.db "SELECT DISTINCT 'team,' || team || ',,,$month,1500000,' FROM agents WHERE agent_code LIKE 'BLK%';"
  sqlite3 moon.db "SELECT 'agent,' || agent_code || ',,,$month,15000,' FROM agents WHERE agent_code LIKE 'BLK%';"
} >targets.csv
"$MOON" targets import targets.csv >/dev/null 2>>demo.log || { cat demo.log; die "target import failed"; }
say "$(($(wc -l <targets.csv) - 1)) targets imported"

"$MOON" user add bench --role admin >/dev/null 2>>demo.log
export MOON_BENCH_TOKEN
MOON_BENCH_TOKEN=$("$MOON" token create bench --name bench 2>>demo.log)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$MOON" serve --listen "127.0.0.1:$PORT" >server.log 2>&1 &
SERVER=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || die "the server did not become ready (server.log: $(tail -3 server.log))"
# The warehouse is rebuilt at start after a bulk load; wait until the KPIs count every sale.
for _ in $(seq 1 1200); do
  n=$(curl -sf -H "Authorization: Bearer $MOON_BENCH_TOKEN" "http://127.0.0.1:$PORT/api/v1/performance?period=$month" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["figures"]["actual_count"])' 2>/dev/null || echo 0)
  ((n > 0)) && break
  sleep 1
done
say "serving on $PORT; warehouse ready"

sqlite3 moon.db "SELECT DISTINCT branch FROM agents WHERE agent_code LIKE 'BLK%'" >branches.txt
sqlite3 moon.db "SELECT DISTINCT team FROM agents WHERE agent_code LIKE 'BLK%'" >teams.txt
sqlite3 moon.db "SELECT agent_code FROM agents WHERE agent_code LIKE 'BLK%' ORDER BY random() LIMIT 200" >agents.txt
python3 - "$month" >paths.txt <<'PY'
import random, sys, urllib.parse as u
month = sys.argv[1]
random.seed(2026)
b = [l.strip() for l in open("branches.txt") if l.strip()]
t = [l.strip() for l in open("teams.txt") if l.strip()]
a = [l.strip() for l in open("agents.txt") if l.strip()]
q = lambda **kw: u.urlencode(kw)
for _ in range(400):
    r = random.random()
    if r < 0.1:
        p = "/api/v1/performance?" + q(period=month)
    elif r < 0.3:
        p = "/api/v1/performance?" + q(scope="branch", key=random.choice(b), period=month)
    elif r < 0.45:
        p = "/api/v1/performance?" + q(scope="team", key=random.choice(t), period=month)
    elif r < 0.6:
        p = "/api/v1/performance?" + q(scope="agent", key=random.choice(a), period=month)
    elif r < 0.7:
        p = "/api/v1/performance/drill?" + q(level="branch", period=month)
    elif r < 0.8:
        p = "/api/v1/performance/drill?" + q(level="team", branch=random.choice(b), period=month)
    else:
        p = "/api/v1/performance/drill?" + q(level="agent", branch=random.choice(b), period=month, status="behind", sort="gap")
    print(p)
PY
# Every path answers 200 before it is timed.
while read -r p; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $MOON_BENCH_TOKEN" "http://127.0.0.1:$PORT$p")
  [[ $code == 200 ]] || die "$p answered $code"
done < <(head -20 paths.txt)

cat >paths.lua <<'LUA'
local paths = {}
for line in io.lines("paths.txt") do paths[#paths + 1] = line end
local token = os.getenv("MOON_BENCH_TOKEN")
local i = 0
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Authorization"] = "Bearer " .. token })
end
LUA
say "wrk -c$CONNECTIONS -d$DURATION over $(wc -l <paths.txt) paths"
wrk -t"$((CONNECTIONS < 2 ? 1 : 2))" -c"$CONNECTIONS" -d"$DURATION" --latency -s paths.lua "http://127.0.0.1:$PORT" >wrk.txt
cat wrk.txt >&2
rps=$(awk '/^Requests\/sec/ {print $2}' wrk.txt)
p50=$(awk '$1 == "50%" {print $2}' wrk.txt)
p99=$(awk '$1 == "99%" {print $2}' wrk.txt)
non2xx=$(awk '/Non-2xx/ {print $NF}' wrk.txt)

# The reference: the warehouse's own SUM for one branch and this month, over 50 random branches.
from="$month-01"
ref=$(python3 - "$from" <<'PY'
import random, sqlite3, sys, time
frm = sys.argv[1]
random.seed(7)
b = [l.strip() for l in open("branches.txt") if l.strip()]
c = sqlite3.connect("warehouse.db")
t = time.perf_counter()
n = 50
for _ in range(n):
    c.execute("SELECT SUM(sales_count), SUM(amount_cents) FROM fact_sales_daily WHERE branch = ? AND sale_date >= ? AND sale_date < date(?, '+1 month')",
              (random.choice(b), frm, frm)).fetchall()
print(f"{(time.perf_counter() - t) / n * 1000:.2f}")
PY
)
echo "| sales | agents | connections | requests/s | p50 | p99 | non-2xx | warehouse's own branch-month SUM (ms) |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $SALES | $AGENTS | $CONNECTIONS | $rps | $p50 | $p99 | ${non2xx:-0} | $ref |"
