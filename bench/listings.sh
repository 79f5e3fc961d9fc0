#!/usr/bin/env bash
# Read benchmark of the listings on one SQLite database (issue 19, items 2 and 3): the original
# `GET /agent/get` and `GET /integration/get` and a paged `GET /api/v1/sales?limit=50` under wrk,
# the server's peak resident memory under that load, and the memory one call of the original
# sales listing adds over a large table.
#
#   bench/listings.sh
#
# Environment:
#   AGENTS=1000 SALES=10000      the data set of the listings (bulk-loaded with `moon demo`)
#   DURATION=5s CONCURRENCY=16   each wrk run (2 threads)
#   BIG_SALES=0                  when >0: afterwards, load this many sales in all and record the
#                                server's anonymous RSS before and at its peak during one
#                                /integration/get
#   MOON_BIN=target/release/moon  PORT=18419  WORK=/tmp/moon-listings
# Prints a Markdown table on stdout. Only 127.0.0.1 is a target; it stops only the server it
# started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOON=${MOON_BIN:-$ROOT/target/release/moon}
AGENTS=${AGENTS:-1000}
SALES=${SALES:-10000}
DURATION=${DURATION:-5s}
CONCURRENCY=${CONCURRENCY:-16}
BIG_SALES=${BIG_SALES:-0}
PORT=${PORT:-18419}
WORK=${WORK:-/tmp/moon-listings}
URL="http://127.0.0.1:$PORT"

rm -rf "$WORK" && mkdir -p "$WORK"
export MOON_DATABASE_URL="sqlite://$WORK/moon.db" MOON_WAREHOUSE_URL="sqlite://$WORK/warehouse.db"
printf 'rate_limit_read_per_minute = 0\nrate_limit_write_per_minute = 0\n' >"$WORK/bench.toml"
"$MOON" migrate >/dev/null 2>&1
"$MOON" demo --sales "$SALES" --agents "$AGENTS" >/dev/null 2>&1
"$MOON" user add bench --role admin >/dev/null 2>&1
MOON_BENCH_TOKEN=$("$MOON" token create bench --name bench 2>/dev/null)
export MOON_BENCH_TOKEN

"$MOON" serve --listen "127.0.0.1:$PORT" --config "$WORK/bench.toml" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -fs "$URL/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

# Anonymous memory only: SQLite maps the database file (mmap_size), and the pages a scan touches
# count in VmRSS although they are the page cache, shared and reclaimable.
rss_kb() { awk '/^RssAnon/ {print $2}' "/proc/$SERVER/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$SERVER/status"; }

echo "| route | req/s | p50 ms | p99 ms | server VmHWM after (MB) |"
echo "|---|---:|---:|---:|---:|"
for path in /agent/get /integration/get '/api/v1/sales?limit=50'; do
  out=$(wrk -t2 -c"$CONCURRENCY" -d"$DURATION" --latency -s "$ROOT/bench/list_sales.lua" "$URL" -- "$path" 2>&1)
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "| GET $path | $rps | $p50 | $p99 | $(($(hwm_kb) / 1024))${bad:+ ($bad non-2xx)} |"
done

if ((BIG_SALES > SALES)); then
  kill "$SERVER" && wait "$SERVER" 2>/dev/null || true
  "$MOON" demo --sales "$((BIG_SALES - SALES))" --agents "$AGENTS" --seed 7 >/dev/null 2>&1
  "$MOON" serve --listen "127.0.0.1:$PORT" --config "$WORK/bench.toml" >>"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do
    curl -fs "$URL/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  # Wait for the start-up refresh of the warehouse (the bulk load asks for a rebuild) to end:
  # two seconds in a row without CPU time.
  idle=0
  for _ in $(seq 1 600); do
    t0=$(cpu_ticks)
    sleep 1
    if (($(cpu_ticks) == t0)); then idle=$((idle + 1)); else idle=0; fi
    ((idle >= 2)) && break
  done
  before=$(rss_kb)
  peak=$before
  curl -fs -H "Authorization: Bearer $MOON_BENCH_TOKEN" "$URL/integration/get" -o "$WORK/big.json" &
  CURL=$!
  while kill -0 "$CURL" 2>/dev/null; do
    now=$(rss_kb)
    ((now > peak)) && peak=$now
    sleep 0.05
  done
  wait "$CURL"
  echo
  echo "one GET /integration/get over $BIG_SALES sales: body $(($(stat -c %s "$WORK/big.json") / 1048576)) MB, RssAnon $((before / 1024)) MB before, $((peak / 1024)) MB at its peak (+$(((peak - before) / 1024)) MB)"
fi
