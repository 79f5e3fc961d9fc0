#!/usr/bin/env bash
# Notifications benchmark on each backend, through a running server with every component (what
# `moon serve` runs; crates/moon-server/examples/notifications_bench.rs): sale-to-notification
# latency on the agent's open live stream (SSE), and webhook deliveries per second to a
# receiver on loopback.
#
#   bench/notifications.sh BACKEND [BACKEND ...]      BACKEND: sqlite, postgres or mysql
#   e.g. bench/notifications.sh sqlite postgres mysql
#
# Each run gets fresh databases (a temp directory for SQLite; CREATE DATABASE on the local
# servers), dropped afterwards; the warehouse is a SQLite file (the aggregator runs, as in
# `moon serve`). Prints one Markdown table row per measurement on stdout.
#
# Environment: SAMPLES=200 DELIVERIES=2000
#   PGURL=postgres://postgres@127.0.0.1:5432   MYURL=mysql://root@127.0.0.1:3306
#   PGOPTS=?sslmode=disable   (see bench/analytics.sh)
# Only 127.0.0.1 is a target.
set -euo pipefail

SAMPLES=${SAMPLES:-200}
DELIVERIES=${DELIVERIES:-2000}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
MYURL=${MYURL:-mysql://root@127.0.0.1:3306}
PGOPTS=${PGOPTS-?sslmode=disable}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p moon-server --example notifications_bench
BIN=target/release/examples/notifications_bench

(($# >= 1)) || { sed -n '2,17p' "$0"; exit 2; }

mysql_cli() { if command -v mariadb >/dev/null; then mariadb "$@"; else mysql "$@"; fi; }

echo "| backend | measurement | size | result |"
echo "|---|---|---|---|"
for backend in "$@"; do
    name="moon_bench_$$_${RANDOM}"
    tmp="$(mktemp -d -t moon-notify.XXXXXX)"
    cleanup=()
    case $backend in
    sqlite) db="sqlite://$tmp/moon.db" ;;
    postgres)
        psql -q "$PGURL/postgres" -c "CREATE DATABASE ${name}"
        cleanup+=("psql -q $PGURL/postgres -c 'DROP DATABASE ${name} WITH (FORCE)'")
        db="$PGURL/${name}$PGOPTS"
        ;;
    mysql)
        mysql_cli -h 127.0.0.1 -u root -e "CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        cleanup+=("mysql_cli -h 127.0.0.1 -u root -e 'DROP DATABASE ${name}'")
        db="$MYURL/${name}"
        ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
    esac
    status=0
    "$BIN" --db "$db" --wh "sqlite://$tmp/warehouse.db" --samples "$SAMPLES" --deliveries "$DELIVERIES" || status=$?
    for c in "${cleanup[@]}"; do eval "$c" || true; done
    rm -rf "$tmp"
    ((status == 0)) || { echo "benchmark $backend failed (status $status)" >&2; exit "$status"; }
done
