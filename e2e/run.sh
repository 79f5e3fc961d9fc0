#!/usr/bin/env bash
# Browser tests of the web console, as CI runs them and as anyone can run them locally:
#
#     bash e2e/run.sh [path/to/moon]
#
# Builds `moon` (unless a binary is given), starts the real `moon serve --demo` on a free
# loopback port with a fresh data directory, reads the demo users' generated passwords from what
# it prints, and runs the tests in e2e/tests with node's test runner, driving Debian's chromium
# through playwright-core. Screenshots land in docs/screenshots/. Any failure exits non-zero.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$E2E_DIR/.." && pwd)"
MOON_BIN="${1:-}"
CHROMIUM="${MOON_E2E_CHROMIUM:-/usr/bin/chromium}"

fail() {
    printf '\n**** BROWSER TESTS FAILED: %s\n' "$*" >&2
    exit 1
}

[[ -x "$CHROMIUM" ]] || fail "$CHROMIUM is missing (apt-get install -y chromium)"
command -v node >/dev/null 2>&1 || fail "node is not installed"
if [[ -z "$MOON_BIN" ]]; then
    (cd "$REPO_ROOT" && cargo build -p moon) || fail "cargo build -p moon failed"
    MOON_BIN="$REPO_ROOT/target/debug/moon"
fi
[[ -x "$MOON_BIN" ]] || fail "no moon binary at $MOON_BIN"
MOON_BIN="$(cd "$(dirname "$MOON_BIN")" && pwd)/$(basename "$MOON_BIN")"
if [[ ! -d "$E2E_DIR/node_modules/playwright-core" ]]; then
    (cd "$E2E_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund) || fail "npm ci failed"
fi

WORK="$(mktemp -d -t moon-e2e.XXXXXX)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Milestones at every 50,000 instead of the default three: the demo's sales reach the month so
# far, and a sale can then always carry the demo agent past the next milestone, whatever the day.
cat >"$WORK/moon.toml" <<'TOML'
[[notifications.rules]]
name = "monthly-milestones"
kind = "milestone"
period = "month"
every = "50000"

[[notifications.rules]]
name = "monthly-target-achieved"
kind = "target_achieved"
period = "month"

[[notifications.rules]]
name = "weekly-target-reminder"
kind = "target_due"
period = "month"
TOML

PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
(
    cd "$WORK"
    exec env MOON_LOG=warn "$MOON_BIN" serve --demo --listen "127.0.0.1:$PORT" \
        --database-url "sqlite://$WORK/moon.db" >"$WORK/server.out" 2>"$WORK/server.err"
) &
SERVER_PID=$!

READY=""
for _ in $(seq 1 300); do
    if grep -q "is ready at" "$WORK/server.err" 2>/dev/null; then
        READY=1
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$READY" ]]; then
    cat "$WORK/server.err" >&2 || true
    fail "moon serve --demo did not become ready"
fi

# The demo users and their generated passwords, as printed once at start:
#   demo-admin     admin    <password>
PASSWORDS="$(awk '$1 ~ /^demo-/ && NF == 3 { printf "%s\"%s\":\"%s\"", (n++ ? "," : "{"), $1, $3 } END { if (n) print "}" }' "$WORK/server.err")"
[[ -n "$PASSWORDS" ]] || fail "could not read the demo users' passwords from moon serve --demo"

export MOON_E2E_URL="http://127.0.0.1:$PORT"
export MOON_E2E_PASSWORDS="$PASSWORDS"
export MOON_E2E_CHROMIUM="$CHROMIUM"
export MOON_E2E_SCREENSHOTS="$REPO_ROOT/docs/screenshots"
export MOON_E2E_DOWNLOADS="$WORK/downloads"
echo "console under test: $MOON_E2E_URL"
rc=0
(cd "$E2E_DIR" && node --test --test-concurrency=1 tests/) || rc=$?
if ((rc != 0)); then
    echo "---- server log (last 40 lines) ----" >&2
    tail -n 40 "$WORK/server.out" >&2 || true
    fail "node --test exited with status $rc"
fi
