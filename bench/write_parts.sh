#!/usr/bin/env bash
# What each part of `moon serve` costs per write: POST /integration/add on a copy of a database the
# seed peer's side-by-side run left behind, with only the parts named in MOON_TARGET running.
#
#   MOON_TARGET=integration,aggregator bench/write_parts.sh BIN LABEL RUN_DIR ['toml line' ...]
#
# RUN_DIR: a compare.sh work dir kept with KEEP_DB=1 (moon.db, warehouse.db, product_ids), e.g.
#   KEEP_DB=1 SKIP_PEER=1 SKIP_RAW=1 REPEAT=1 DUR=5 /tmp/seed-peer/compare.sh sqlite BIN
# Extra arguments are appended to the server's moon.toml (e.g. '[anomalies]' 'enabled = false').
# Two wrk runs (-t2 -c16 -d8s, the peer's post_sale_auth.lua); prints req/s and moon's CPU time
# (utime+stime from /proc) per answered request, which holds steadier than the rate on a shared
# machine. Needs wrk and curl; the seed peer copy at SEED (default /tmp/seed-peer) for the script.
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
BIN=$(realpath "$1") LABEL=$2 RUN=$(realpath "$3")
shift 3
SEED=${SEED:-/tmp/seed-peer}
WORK=$(mktemp -d /tmp/write-parts.XXXXXX)
PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [[ -n ${KEEP:-} ]] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
cp "$RUN/moon.db" "$RUN/warehouse.db" "$WORK/"
printf 'rate_limit_read_per_minute = 0\nrate_limit_write_per_minute = 0\n' >"$WORK/moon.toml"
for line in "$@"; do printf '%s\n' "$line" >>"$WORK/moon.toml"; done
export MOON_DATABASE_URL="sqlite://$WORK/moon.db"
cd "$WORK"
TOKEN=$("$BIN" token create bench-admin --config "$WORK/moon.toml" 2>/dev/null | tail -n 1)
PORT=$((20000 + RANDOM % 10000))
"$BIN" serve --listen "127.0.0.1:$PORT" --config "$WORK/moon.toml" >"$WORK/moon.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
export MOON_AUTH_HEADER="Authorization: Bearer $TOKEN" MOON_PRODUCT_IDS
MOON_PRODUCT_IDS=$(cat "$RUN/product_ids")
cd "$SEED"
hz=$(getconf CLK_TCK)
for run in 1 2; do
  c0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
  out=$(timeout 60 wrk -t2 -c16 -d8s -s compare/wrk/post_sale_auth.lua "http://127.0.0.1:$PORT/integration/add" 2>&1)
  c1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  bad=$(grep -c "Non-2xx" <<<"$out" || true)
  awk -v l="$LABEL" -v r="$run" -v rps="$rps" -v a="$c0" -v b="$c1" -v hz="$hz" -v bad="$bad" 'BEGIN {
    printf "%s run %s: %s req/s, moon CPU %.3f ms/request%s\n", l, r, rps, (b - a) / hz / 8 * 1000 / rps,
      (bad > 0 ? " (NON-2XX ANSWERS)" : "") }'
done
