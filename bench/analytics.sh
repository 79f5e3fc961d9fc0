#!/usr/bin/env bash
# Analytics benchmark on every backend pair: full rebuild against the operational database's own
# three GROUP BY queries, incremental refresh after 1,000 changed sales, and sale-to-KPI freshness
# through a running server (crates/moon-server/examples/analytics_bench.rs).
#
#   bench/analytics.sh PAIR SALES [PAIR SALES ...]
#       PAIR: sqlite (SQLite -> SQLite), postgres (PostgreSQL -> PostgreSQL),
#             mysql (MariaDB -> PostgreSQL)
#   e.g. bench/analytics.sh sqlite 10000 sqlite 10000000 postgres 10000 postgres 1000000
#
# Each run gets fresh databases (a temp directory for SQLite; CREATE DATABASE on the local
# servers), dropped afterwards. Prints one Markdown table row per measurement on stdout; the
# progress and phase timings go to stderr.
#
# Environment: AGENTS=1000 CHANGES=1000 ROUNDS=5 SAMPLES=200
#   PGURL=postgres://postgres@127.0.0.1:5432   MYURL=mysql://root@127.0.0.1:3306
#   PGOPTS=?sslmode=disable   appended to the PostgreSQL database URLs. On loopback TLS protects
#       nothing, and with it sqlx 0.9.0 (which does not set TCP_NODELAY, sqlx#4335) waits out a
#       40 ms delayed ACK on many statements; set PGOPTS= to measure with TLS negotiated.
# Needs psql and mariadb (or mysql) clients for the server pairs. Only 127.0.0.1 is a target.
set -euo pipefail

AGENTS=${AGENTS:-1000}
CHANGES=${CHANGES:-1000}
ROUNDS=${ROUNDS:-5}
SAMPLES=${SAMPLES:-200}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
MYURL=${MYURL:-mysql://root@127.0.0.1:3306}
PGOPTS=${PGOPTS-?sslmode=disable}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p moon-server --example analytics_bench
BIN=target/release/examples/analytics_bench

(($# >= 2 && $# % 2 == 0)) || { sed -n '2,18p' "$0"; exit 2; }

mysql_cli() { if command -v mariadb >/dev/null; then mariadb "$@"; else mysql "$@"; fi; }

echo "| pair | measurement | history | result | reference | ratio |"
echo "|---|---|---|---|---|---|"
while (($# >= 2)); do
    pair=$1 sales=$2
    shift 2
    name="moon_bench_$$_${RANDOM}"
    tmp="$(mktemp -d -t moon-analytics.XXXXXX)"
    cleanup=()
    case $pair in
    sqlite)
        op="sqlite://$tmp/moon.db" wh="sqlite://$tmp/warehouse.db"
        ;;
    postgres)
        psql -q "$PGURL/postgres" -c "CREATE DATABASE ${name}_op" -c "CREATE DATABASE ${name}_wh"
        cleanup+=("psql -q $PGURL/postgres -c 'DROP DATABASE ${name}_op WITH (FORCE)' -c 'DROP DATABASE ${name}_wh WITH (FORCE)'")
        op="$PGURL/${name}_op$PGOPTS" wh="$PGURL/${name}_wh$PGOPTS"
        ;;
    mysql)
        mysql_cli -h 127.0.0.1 -u root -e "CREATE DATABASE ${name}_op CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        psql -q "$PGURL/postgres" -c "CREATE DATABASE ${name}_wh"
        cleanup+=("mysql_cli -h 127.0.0.1 -u root -e 'DROP DATABASE ${name}_op'")
        cleanup+=("psql -q $PGURL/postgres -c 'DROP DATABASE ${name}_wh WITH (FORCE)'")
        op="$MYURL/${name}_op" wh="$PGURL/${name}_wh$PGOPTS"
        ;;
    *) echo "unknown pair $pair" >&2; exit 2 ;;
    esac
    status=0
    "$BIN" --op "$op" --wh "$wh" --sales "$sales" --agents "$AGENTS" --changes "$CHANGES" \
        --rounds "$ROUNDS" --samples "$SAMPLES" || status=$?
    for c in "${cleanup[@]}"; do eval "$c" || true; done
    rm -rf "$tmp"
    ((status == 0)) || { echo "benchmark $pair $sales failed (status $status)" >&2; exit "$status"; }
done
