#!/usr/bin/env bash
# Soak test: `moon serve --demo` on SQLite under a steady mix of reads, writes and KPI queries
# for SOAK_MINUTES (default 10), on loopback. Every minute it samples the server's resident
# memory (VmRSS) and the minute's p99 latency, and at the end it fails (exit 1) when
#   - any request failed: a non-2xx answer, a socket error or a timeout (wrk's counts), or
#   - anonymous memory (RssAnon: heap, stacks; what a leak grows) grew, from the end of minute 2
#     to the end of the run, by more than the SQLite page caches (SQLITE_CACHE_MIB for the
#     operational database's writer, WAREHOUSE_CACHE_MIB for the warehouse's, READER_CACHE_MIB
#     for each of the 14 readers of both; each fills with use and then stays) plus RSS_MARGIN_MB
#     (default 8), or
#   - it still grew by more than TAIL_GROWTH_MB (default 2) over the last half of the run: a
#     cache levels off, a leak does not, or
#   - a minute's p99 exceeded P99_FACTOR (default 3) times the median of the minutes' p99s, or
#   - the server logged an error or a warning other than "anomaly found" (counted and shown).
# The soak runs with `sqlite_cache_mib = SQLITE_CACHE_MIB` (default 8, production default 32)
# `warehouse_sqlite_cache_mib = WAREHOUSE_CACHE_MIB` (default 8, production default 256) and
# `sqlite_reader_cache_mib = READER_CACHE_MIB` (default 1, SQLite's default 2) so that the
# caches are full within the first minutes and the second half shows whether memory
# is flat; at the production defaults a 10-minute run ends while the caches are still filling
# (about 2.4 MiB a minute at this load; see BENCHMARKS.md "Soak").
# Prints a Markdown table (minute, requests, p99, RSS, RssAnon, RssFile) on stdout; logs go to
# $SOAK_DIR. RssFile is mostly the SQLite database mapped into memory (mmap_size 1 GiB), which
# grows with the data written during the soak; it is shown, not bounded.
#
#   bench/soak.sh                                  (10 minutes; about 160 requests/s)
#   SOAK_MINUTES=1 bench/soak.sh                   (a quick try)
#
# Environment: SOAK_MINUTES=10  CONNECTIONS=4  SOAK_DELAY_MS=20 (pause between one connection's
# requests)  SQLITE_CACHE_MIB=8  WAREHOUSE_CACHE_MIB=8  READER_CACHE_MIB=1  RSS_MARGIN_MB=8  TAIL_GROWTH_MB=2  P99_FACTOR=3  MOON_BIN
# (default target/release/moon, else target/debug/moon)  SOAK_DIR (default a new temporary
# directory, removed unless KEEP=1).
# Needs: wrk, python3. Only 127.0.0.1 is ever a target.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
MINUTES=${SOAK_MINUTES:-10}
CONNECTIONS=${CONNECTIONS:-4}
SQLITE_CACHE_MIB=${SQLITE_CACHE_MIB:-8}
WAREHOUSE_CACHE_MIB=${WAREHOUSE_CACHE_MIB:-8}
READER_CACHE_MIB=${READER_CACHE_MIB:-1}
# Readers: max_connections (10, the default) of the operational database and 4 of the warehouse.
READERS=14
RSS_MARGIN_MB=${RSS_MARGIN_MB:-8}
TAIL_GROWTH_MB=${TAIL_GROWTH_MB:-2}
P99_FACTOR=${P99_FACTOR:-3}
export SOAK_DELAY_MS=${SOAK_DELAY_MS:-20}
if [[ -n ${MOON_BIN:-} ]]; then
    MOON=$MOON_BIN
elif [[ -x $ROOT/target/release/moon ]]; then
    MOON=$ROOT/target/release/moon
else
    MOON=$ROOT/target/debug/moon
fi

say() { printf '[soak %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    say "FAILED: $*"
    exit 1
}

[[ -x $MOON ]] || die "no moon binary at $MOON (cargo build --release -p moon, or set MOON_BIN)"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v python3 >/dev/null || die "python3 is not installed"
[[ $MINUTES =~ ^[0-9]+$ && $MINUTES -ge 1 ]] || die "SOAK_MINUTES must be a whole number of minutes"
[[ $SQLITE_CACHE_MIB =~ ^[1-9][0-9]*$ ]] || die "SQLITE_CACHE_MIB must be a whole number of MiB, at least 1"
[[ $WAREHOUSE_CACHE_MIB =~ ^[1-9][0-9]*$ ]] || die "WAREHOUSE_CACHE_MIB must be a whole number of MiB, at least 1"
[[ $READER_CACHE_MIB =~ ^[1-9][0-9]*$ ]] || die "READER_CACHE_MIB must be a whole number of MiB, at least 1"

DIR=${SOAK_DIR:-$(mktemp -d -t moon-soak.XXXXXX)}
mkdir -p "$DIR"
PID=""
cleanup() {
    if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    [[ ${KEEP:-0} == 1 || -n ${SOAK_DIR:-} ]] || rm -rf "$DIR"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
BASE="http://127.0.0.1:$PORT"
# One client address and one token carry the whole load, so the per-client limits are raised
# (as the blue-green drill does); everything else is the default configuration.
cat >"$DIR/moon.toml" <<EOF
rate_limit_read_per_minute = 1000000
rate_limit_read_burst = 1000000
rate_limit_write_per_minute = 1000000
rate_limit_write_burst = 1000000
sqlite_cache_mib = $SQLITE_CACHE_MIB
warehouse_sqlite_cache_mib = $WAREHOUSE_CACHE_MIB
sqlite_reader_cache_mib = $READER_CACHE_MIB
EOF
DB_URL="sqlite://$DIR/moon.db"
# Keys configured as in production (otherwise moon generates them and warns, which would fail
# the log check below).
MOON_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
MOON_PSEUDONYM_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export MOON_SECRET_KEY MOON_PSEUDONYM_KEY
say "moon: $MOON ($("$MOON" --version 2>/dev/null || echo '?'))"
(
    cd "$DIR"
    exec env -u MOON_TARGET -u MOON_DATABASE_URL_FILE -u MOON_LISTEN -u MOON_DEMO \
        MOON_CONFIG="$DIR/moon.toml" MOON_DATABASE_URL="$DB_URL" MOON_LOG=warn \
        "$MOON" serve --demo --listen "127.0.0.1:$PORT"
) >"$DIR/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 150); do
    curl -fsS -o /dev/null --max-time 2 "$BASE/readyz" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || { tail -20 "$DIR/server.log" >&2; die "the server exited before it became ready"; }
    sleep 0.2
done
curl -fsS -o /dev/null --max-time 2 "$BASE/readyz" || die "$BASE/readyz did not answer 200 within 30 s"
MOON_BENCH_TOKEN="$(cd "$DIR" && env MOON_CONFIG="$DIR/moon.toml" MOON_DATABASE_URL="$DB_URL" \
    "$MOON" token create demo-admin --name soak 2>>"$DIR/server.log")" || die "moon token create failed"
export MOON_BENCH_TOKEN
say "serving at $BASE (pid $PID); $MINUTES minute(s), $CONNECTIONS connections, ${SOAK_DELAY_MS} ms between a connection's requests, SQLite writer caches $SQLITE_CACHE_MIB MiB (operational) and $WAREHOUSE_CACHE_MIB MiB (warehouse), $READER_CACHE_MIB MiB per reader"

# VmRSS, RssAnon and RssFile in KiB.
rss_kb() { awk '/^(VmRSS|RssAnon|RssFile):/ { printf "%s ", $2 } END { print "" }' "/proc/$PID/status"; }

printf '| minute | requests | req/s | p99 (ms) | RSS (MiB) | RssAnon (MiB) | RssFile (MiB) |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
failures=0
: >"$DIR/samples"
for minute in $(seq 1 "$MINUTES"); do
    out="$DIR/wrk-$minute.txt"
    timeout 90 wrk -t 2 -c "$CONNECTIONS" -d 60s --timeout 10s --latency -s "$BENCH_DIR/soak.lua" "$BASE" >"$out" 2>&1 ||
        die "wrk failed in minute $minute: $(tail -3 "$out")"
    kill -0 "$PID" 2>/dev/null || die "the server died in minute $minute"
    read -r rss anon file < <(rss_kb)
    # wrk prints "99%  12.34ms" (us, ms or s), "N requests in ...", and failure lines only when
    # there were failures; lib/status.lua prints "status CODE: N".
    read -r requests p99_ms bad < <(python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
unit = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
p99 = float(m.group(1)) * unit[m.group(2)] if m else -1
n = re.search(r"^\s*(\d+) requests in", text, re.M)
bad = 0
s = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if s:
    bad += sum(int(x) for x in s.groups())
nx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if nx:
    bad += int(nx.group(1))
print(n.group(1) if n else 0, f"{p99:.2f}", bad)
PY
)
    printf '| %d | %d | %d | %s | %.1f | %.1f | %.1f |\n' "$minute" "$requests" $((requests / 60)) "$p99_ms" \
        "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$anon" 'BEGIN { print k / 1024 }')" \
        "$(awk -v k="$file" 'BEGIN { print k / 1024 }')"
    echo "$minute $requests $p99_ms $rss $bad $anon $file" >>"$DIR/samples"
    if ((bad > 0)); then
        say "minute $minute: $bad failed requests:"
        grep -E '^status |Socket errors|Non-2xx' "$out" >&2 || true
        failures=$((failures + bad))
    fi
    ((requests > 0)) || die "minute $minute: no request completed"
done

kill -TERM "$PID"
stopped=0
wait "$PID" || stopped=$?
PID=""
((stopped == 0)) || die "the server exited with status $stopped after SIGTERM"
# "anomaly found" is a finding about the data (ADR 0020), logged at WARN for whoever watches the
# logs: the soak's own load (one principal posting about 38 sales a second, bodies repeated from a
# pool of a thousand) is what the sales-burst and duplicate-sale checks look for. Those lines are
# counted and shown, not failed on; every other warning or error still fails the soak.
grep -E '"level":"(ERROR|WARN)"|ERROR|panicked' "$DIR/server.log" | grep -v '"message":"anomaly found"' >"$DIR/problems.log" || true
findings=$(grep -c '"message":"anomaly found"' "$DIR/server.log" || true)
if ((findings > 0)); then
    say "anomaly findings (expected from this load, not failures): $findings, by kind:"
    grep '"message":"anomaly found"' "$DIR/server.log" | grep -o '"kind":"[a-z_]*"' | sort | uniq -c >&2 || true
fi

python3 - "$DIR/samples" "$((SQLITE_CACHE_MIB + WAREHOUSE_CACHE_MIB + READERS * READER_CACHE_MIB + RSS_MARGIN_MB))" "$P99_FACTOR" "$failures" "$DIR/problems.log" "$TAIL_GROWTH_MB" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
growth_limit, factor, failures = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
problems = [l for l in open(sys.argv[5]).read().splitlines() if l.strip()]
tail_limit = float(sys.argv[6])
rss = [int(r[3]) / 1024 for r in rows]
anon = [int(r[5]) / 1024 for r in rows]
mapped = [int(r[6]) / 1024 for r in rows]
p99 = [float(r[2]) for r in rows]
first = 1 if len(rows) > 2 else 0
base = anon[first]
growth = anon[-1] - base
# The last half of the run (at least two samples): a filled cache is flat there, a leak is not.
half = min(len(anon) // 2, len(anon) - 2) if len(anon) >= 4 else 0
tail_growth = anon[-1] - anon[half] if len(anon) >= 4 else 0.0
median = statistics.median(p99)
worst = max(p99)
total = sum(int(r[1]) for r in rows)
print()
print(f"requests: {total}, failed: {failures}; from minute {first + 1} to the end: "
      f"RssAnon {base:.1f} -> {anon[-1]:.1f} MiB ({growth:+.1f} MiB, bound +{growth_limit:.0f}; "
      f"from minute {half + 1}: {tail_growth:+.1f} MiB, bound +{tail_limit:g}), "
      f"RSS {rss[first]:.1f} -> {rss[-1]:.1f} MiB, RssFile {mapped[first]:.1f} -> {mapped[-1]:.1f} MiB; "
      f"p99 median {median:.2f} ms, worst minute {worst:.2f} ms (bound {factor:g} x median); "
      f"server log errors/warnings: {len(problems)}")
bad = []
if failures:
    bad.append(f"{failures} requests failed")
if growth > growth_limit:
    bad.append(f"anonymous memory grew by {growth:.1f} MiB")
if tail_growth > tail_limit:
    bad.append(f"anonymous memory still grew by {tail_growth:.1f} MiB over the last half of the run")
if worst > factor * median:
    bad.append(f"a minute's p99 ({worst:.2f} ms) exceeded {factor:g} x the median ({median:.2f} ms)")
if problems:
    bad.append(f"the server logged {len(problems)} errors or warnings, first: {problems[0][:300]}")
if bad:
    print("SOAK FAILED: " + "; ".join(bad), file=sys.stderr)
    sys.exit(1)
print("soak passed: nothing failed, anonymous memory within its bound and flat over the last half, p99 within its bound")
PY
