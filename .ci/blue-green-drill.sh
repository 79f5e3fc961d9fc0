#!/usr/bin/env bash
# Blue-green release drill on loopback, the shape of deploy/release.sh in miniature:
#
#     bash .ci/blue-green-drill.sh [path/to/moon]      (default: target/debug/moon)
#
# Two `moon serve` processes (blue, then green) share one fresh PostgreSQL database (and one
# PostgreSQL warehouse) behind nginx, while a load generator sends a mix of reads and writes
# through nginx the whole time:
#
#   1. blue migrates the database, loads the demo data and serves under load
#   2. green starts on the same database (its migration pass must leave blue working) and
#      becomes ready; it is smoke-checked directly, bypassing nginx
#   3. nginx's upstream is switched to green with a graceful `nginx -s reload`
#   4. once the old nginx workers have finished their requests, blue gets SIGTERM and drains
#   5. the load keeps going against green for a few seconds, then stops
#
# Every request and every failure (non-2xx status, refused or reset connection, timeout) is
# counted; the drill fails (non-zero exit) on any failed request or step and prints
# "blue-green drill: N requests, 0 failed" otherwise. Needs PostgreSQL on 127.0.0.1:5432 (user
# postgres, trust auth), python3, curl and psql; installs nginx from Debian when it is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOON_BIN="${1:-$ROOT/target/debug/moon}"
PG_ADMIN_URL="${MOON_DRILL_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
READY_SECONDS=30
STOP_SECONDS=15
# How long the load runs against each stage; the whole drill stays well under a minute.
LOAD_BEFORE_SECONDS=3
LOAD_AFTER_SECONDS=4
# The load comes from one address with one token: raise the per-client limits (production keeps
# its defaults) so that a 429 can only mean a real problem.
RATE_PER_MINUTE=600000

DRILL="$(mktemp -d -t moon-drill.XXXXXX)"
DB_NAME="moon_drill_$$"
WH_NAME="moon_drill_wh_$$"
BLUE_PID="" GREEN_PID="" NGINX_PID="" LOAD_PID=""
DB_CREATED=0

say() {
    printf '[drill %3ds] %s\n' "$SECONDS" "$*"
}

show_logs() {
    local f
    for f in "$DRILL"/blue.log "$DRILL"/green.log "$DRILL"/nginx/error.log "$DRILL"/load.log; do
        [[ -s $f ]] || continue
        echo "---- $(basename "$f") (last 25 lines) ----" >&2
        tail -n 25 "$f" >&2
    done
}

die() {
    show_logs
    printf '\n**** blue-green drill FAILED: %s\n' "$*" >&2
    exit 1
}

# stop PID SIGNAL: signals a process this script started and waits for it to go.
stop() {
    local pid=$1 signal=$2
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((STOP_SECONDS * 10))); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    [[ -n $LOAD_PID ]] && touch "$DRILL/stop-load" && stop "$LOAD_PID" TERM
    stop "$NGINX_PID" QUIT
    stop "$GREEN_PID" TERM
    stop "$BLUE_PID" TERM
    if ((DB_CREATED)); then
        psql "$PG_ADMIN_URL" -qAt -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" \
            -c "DROP DATABASE IF EXISTS $WH_NAME WITH (FORCE)" >/dev/null 2>&1 ||
            echo "warning: could not drop the drill databases $DB_NAME and $WH_NAME" >&2
    fi
    rm -rf "$DRILL"
    exit "$rc"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------------------------------------
for tool in python3 curl psql; do
    command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' is not installed"
done
[[ -x $MOON_BIN ]] || die "no moon binary at $MOON_BIN (build it with cargo build -p moon)"
MOON_BIN="$(realpath "$MOON_BIN")"
if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    say "installing nginx from Debian"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx ||
        die "apt-get install nginx failed"
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
"$NGINX" -v 2>&1 | sed 's/^/    /'

psql "$PG_ADMIN_URL" -qAt -c "CREATE DATABASE $DB_NAME" -c "CREATE DATABASE $WH_NAME" >/dev/null ||
    die "cannot create the drill databases on $PG_ADMIN_URL"
DB_CREATED=1
DB_URL="${PG_ADMIN_URL%/*}/$DB_NAME"
WH_URL="${PG_ADMIN_URL%/*}/$WH_NAME"
say "databases: $DB_URL (operational), $WH_URL (warehouse)"

cat >"$DRILL/moon.toml" <<EOF
rate_limit_read_per_minute = $RATE_PER_MINUTE
rate_limit_read_burst = $RATE_PER_MINUTE
rate_limit_write_per_minute = $RATE_PER_MINUTE
rate_limit_write_burst = $RATE_PER_MINUTE
EOF

# start_moon COLOUR PORT [ARGS...]: one `moon serve` on loopback; its pid goes to ${COLOUR^^}_PID.
start_moon() {
    local colour=$1 port=$2
    shift 2
    (
        cd "$DRILL"
        exec env -u MOON_TARGET -u MOON_DATABASE_URL_FILE -u MOON_WAREHOUSE_URL_FILE -u MOON_DEMO -u MOON_LISTEN \
            MOON_CONFIG="$DRILL/moon.toml" MOON_DATABASE_URL="$DB_URL" MOON_WAREHOUSE_URL="$WH_URL" \
            "$MOON_BIN" serve --listen "127.0.0.1:$port" "$@"
    ) >"$DRILL/$colour.log" 2>&1 &
    printf -v "${colour^^}_PID" '%s' "$!"
}

# wait_ready NAME PID PORT: polls /readyz on the port until it answers 200.
wait_ready() {
    local name=$1 pid=$2 port=$3 deadline=$((SECONDS + READY_SECONDS))
    until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || die "$name exited before it became ready"
        ((SECONDS < deadline)) || die "$name did not answer /readyz within ${READY_SECONDS}s"
        sleep 0.1
    done
    say "$name is ready on 127.0.0.1:$port"
}

# ---------------------------------------------------------------------------------------------
BLUE_PORT="$(free_port)"
GREEN_PORT="$(free_port)"
NGINX_PORT="$(free_port)"
[[ $BLUE_PORT != "$GREEN_PORT" && $GREEN_PORT != "$NGINX_PORT" && $BLUE_PORT != "$NGINX_PORT" ]] ||
    die "could not find three distinct free ports"

say "step 1: blue migrates the database, loads the demo data and starts"
start_moon blue "$BLUE_PORT" --demo
wait_ready blue "$BLUE_PID" "$BLUE_PORT"
TOKEN="$(cd "$DRILL" && env MOON_CONFIG="$DRILL/moon.toml" MOON_DATABASE_URL="$DB_URL" MOON_WAREHOUSE_URL="$WH_URL" \
    "$MOON_BIN" token create demo-admin --name drill 2>>"$DRILL/blue.log")" || die "moon token create failed"
[[ $TOKEN == moon_* ]] || die "moon token create printed no token"

# nginx: an unprivileged foreground master with its own prefix, config and temp paths. The
# upstream lives in its own file so the switch rewrites one line and reloads.
mkdir -p "$DRILL/nginx/tmp"
echo "server 127.0.0.1:$BLUE_PORT;" >"$DRILL/nginx/upstream.conf"
cat >"$DRILL/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $DRILL/nginx/nginx.pid;
error_log $DRILL/nginx/error.log warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path $DRILL/nginx/tmp/body;
    proxy_temp_path $DRILL/nginx/tmp/proxy;
    fastcgi_temp_path $DRILL/nginx/tmp/fastcgi;
    uwsgi_temp_path $DRILL/nginx/tmp/uwsgi;
    scgi_temp_path $DRILL/nginx/tmp/scgi;
    upstream moon {
        include $DRILL/nginx/upstream.conf;
        # Reused connections to the active colour. A reload starts new workers with new pools;
        # the old workers finish their requests and close theirs.
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://moon;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            # An upstream keep-alive connection closed under a request (the server drains) is
            # retried on a fresh connection; only GETs, never a POST that may have run.
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
        }
    }
}
EOF
NGINX_AS=()
if ((EUID == 0)); then
    # Not as root: the master and its workers run as nobody, which owns only the drill's files.
    chown -R nobody "$DRILL/nginx"
    chmod 755 "$DRILL"
    NGINX_AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
nginx_cmd() {
    "${NGINX_AS[@]}" "$NGINX" -p "$DRILL/nginx" -e "$DRILL/nginx/error.log" -c "$DRILL/nginx/nginx.conf" "$@"
}
nginx_cmd -t -q || die "nginx rejects the drill's configuration"
# Started directly (not through the function) so that $! is nginx's master itself.
"${NGINX_AS[@]}" "$NGINX" -p "$DRILL/nginx" -e "$DRILL/nginx/error.log" -c "$DRILL/nginx/nginx.conf" &
NGINX_PID=$!
wait_ready "nginx (in front of blue)" "$NGINX_PID" "$NGINX_PORT"

# The load: a few threads, each opening a connection per request (so no request can be lost to
# a client-side keep-alive race, which is the client's business, not the release's), a mix of
# reads and writes, every outcome counted. Stops when the stop file appears.
cat >"$DRILL/load.py" <<'EOF'
import datetime, http.client, json, os, sys, threading, time

port, token, stop_file, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
agent, product = sys.argv[5], int(sys.argv[6])
auth = {"Authorization": f"Bearer {token}"}
lock = threading.Lock()
stats = {"requests": 0, "failed": 0, "by_route": {}, "failures": []}
today = datetime.date.today().isoformat()


def one(method, path, body=None):
    headers = dict(auth)
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        r.read()
        c.close()
        return (200 <= r.status < 300), f"{r.status}"
    except Exception as e:  # refused, reset, timeout: all failures
        return False, repr(e)


def worker(n):
    i = n
    while not os.path.exists(stop_file):
        i += 1
        if i % 4 == 0:
            method, path, body = "POST", "/api/v1/sales", {
                "agent_code": agent, "product_id": product, "amount": "12.50", "sale_date": today}
        elif i % 4 == 1:
            method, path, body = "GET", "/integration/get", None
        else:
            method, path, body = "GET", "/api/v1/sales?limit=20", None
        ok, detail = one(method, path, body)
        with lock:
            stats["requests"] += 1
            key = f"{method} {path.split('?')[0]}"
            stats["by_route"][key] = stats["by_route"].get(key, 0) + 1
            if not ok:
                stats["failed"] += 1
                if len(stats["failures"]) < 20:
                    stats["failures"].append(f"{time.strftime('%H:%M:%S')} {method} {path}: {detail}")
        time.sleep(0.01)


threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(out, "w") as f:
    json.dump(stats, f)
EOF

# The demo's first agent and product, for the sales the load records.
read -r AGENT PRODUCT < <(
    curl -fsS --max-time 10 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$NGINX_PORT/api/v1/agents?limit=1" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["agent_code"], end=" ")'
    curl -fsS --max-time 10 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$NGINX_PORT/api/v1/products?limit=1" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])'
) || die "cannot read an agent and a product through nginx"
[[ -n ${AGENT:-} && -n ${PRODUCT:-} ]] || die "the demo data has no agent or product"

sales_in_db() {
    psql "$DB_URL" -qAt -c 'SELECT count(*) FROM sales'
}
SALES_BEFORE="$(sales_in_db)" || die "cannot count the sales in $DB_NAME"
python3 "$DRILL/load.py" "$NGINX_PORT" "$TOKEN" "$DRILL/stop-load" "$DRILL/load.json" "$AGENT" "$PRODUCT" \
    >"$DRILL/load.log" 2>&1 &
LOAD_PID=$!
say "load running through nginx (agent $AGENT, product $PRODUCT)"
sleep "$LOAD_BEFORE_SECONDS"

say "step 2: green starts on the same database (migrations run while blue serves)"
start_moon green "$GREEN_PORT"
wait_ready green "$GREEN_PID" "$GREEN_PORT"
kill -0 "$BLUE_PID" 2>/dev/null || die "blue died while green started"
curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$BLUE_PORT/readyz" || die "blue is not ready after green's migrations"
for path in /api/v1/agents /api/v1/sales /integration/get /api/v1/kpis/teams; do
    curl -fsS -o /dev/null --max-time 10 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$GREEN_PORT$path" ||
        die "smoke check of green failed: GET $path"
done
say "green passes its smoke check (4 routes, directly)"

say "step 3: switch nginx's upstream to green (graceful reload)"
old_workers="$(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
echo "server 127.0.0.1:$GREEN_PORT;" >"$DRILL/nginx/upstream.conf"
nginx_cmd -s reload || die "nginx -s reload failed"
# The switch is done when the old workers (and their connections to blue) are gone: the moment
# an endpoint leaves a Kubernetes Service.
deadline=$((SECONDS + 15))
for pid in $old_workers; do
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || die "nginx's old worker $pid did not finish within 15s of the reload"
        sleep 0.05
    done
done
via="$(curl -fsS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGINX_PORT/readyz")" || true
[[ $via == 200 ]] || die "nginx does not answer after the reload (status $via)"
say "nginx now sends every request to green"

say "step 4: SIGTERM to blue (graceful drain)"
kill -TERM "$BLUE_PID"
deadline=$((SECONDS + STOP_SECONDS))
while kill -0 "$BLUE_PID" 2>/dev/null; do
    ((SECONDS < deadline)) || die "blue did not exit within ${STOP_SECONDS}s of SIGTERM"
    sleep 0.1
done
status=0
wait "$BLUE_PID" || status=$?
BLUE_PID=""
((status == 0)) || die "blue exited with status $status after SIGTERM (expected 0)"
say "blue drained and exited cleanly"

say "step 5: load against green for ${LOAD_AFTER_SECONDS}s more"
sleep "$LOAD_AFTER_SECONDS"
touch "$DRILL/stop-load"
status=0
wait "$LOAD_PID" || status=$?
LOAD_PID=""
((status == 0)) || die "the load generator failed (status $status)"
[[ -s $DRILL/load.json ]] || die "the load generator wrote no result"
kill -0 "$GREEN_PID" 2>/dev/null || die "green is not running at the end"

read -r REQUESTS FAILED POSTS < <(python3 -c 'import json,sys; s = json.load(open(sys.argv[1])); print(s["requests"], s["failed"], s["by_route"].get("POST /api/v1/sales", 0))' "$DRILL/load.json")
python3 -c 'import json,sys; s = json.load(open(sys.argv[1])); [print(f"    {k}: {v}") for k, v in sorted(s["by_route"].items())]; [print("    FAILED", f) for f in s["failures"]]' "$DRILL/load.json"
((REQUESTS >= 100)) || die "only $REQUESTS requests were sent; the drill proves nothing"
# The load must really have spanned the switch: both colours answered a share of it.
BLUE_ANSWERED="$(grep -c '"message":"request completed"' "$DRILL/blue.log" || true)"
GREEN_ANSWERED="$(grep -c '"message":"request completed"' "$DRILL/green.log" || true)"
say "blue answered $BLUE_ANSWERED requests, green $GREEN_ANSWERED"
((BLUE_ANSWERED >= 50 && GREEN_ANSWERED >= 50)) || die "the load did not reach both colours"
if ((FAILED > 0)); then
    die "blue-green drill: $REQUESTS requests, $FAILED failed"
fi
# Every POST was answered 2xx, so each is exactly one new sale in the shared database: none lost
# in the switch, none recorded twice by a retry.
SALES_AFTER="$(sales_in_db)" || die "cannot count the sales in $DB_NAME"
((SALES_AFTER - SALES_BEFORE == POSTS)) ||
    die "$POSTS sales were accepted but the database gained $((SALES_AFTER - SALES_BEFORE))"
say "the database gained exactly the $POSTS sales that were accepted"
# The KPI dashboard's queries, run on the PostgreSQL warehouse green keeps current: the one
# place in CI with a PostgreSQL warehouse full of data.
python3 "$ROOT/.ci/check-kpi-dashboard.py" "$ROOT/crates/moon-analytics/schema/warehouse-postgres.sql" \
    "$ROOT/deploy/grafana/moon-kpis.json" --run "$WH_URL" || die "the KPI dashboard's queries fail on the warehouse"
echo "blue-green drill: $REQUESTS requests, 0 failed"
