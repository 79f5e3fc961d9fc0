#!/usr/bin/env bash
# A real Prometheus scrapes a running moon; the key series must exist and carry the traffic sent.
#
#     .ci/prometheus-scrape.sh path/to/moon
#
# Loopback only. Exits non-zero, saying what is missing, when a check fails.
set -euo pipefail

MOON_BIN=${1:?usage: $0 path/to/moon}
command -v prometheus >/dev/null || { echo "prometheus is not installed" >&2; exit 1; }
WORK=$(mktemp -d -t moon-prom.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
fail() {
    echo "prometheus scrape test FAILED: $*" >&2
    echo "---- moon log ----" >&2; tail -n 20 "$WORK/moon.log" >&2 || true
    echo "---- prometheus log ----" >&2; tail -n 20 "$WORK/prometheus.log" >&2 || true
    exit 1
}

# Polls until `check` succeeds or `seconds` pass.
wait_for() {
    local seconds=$1; shift
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

MOON_PORT=$(free_port)
PROM_PORT=$(free_port)
(cd "$WORK" && exec env MOON_DATABASE_URL="sqlite://$WORK/moon.db" "$MOON_BIN" serve --demo --listen "127.0.0.1:$MOON_PORT") >"$WORK/moon.log" 2>&1 &
PIDS+=($!)
wait_for 20 curl -fs -o /dev/null "http://127.0.0.1:$MOON_PORT/readyz" || fail "moon did not become ready"

cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: moon
    static_configs:
      - targets: ["127.0.0.1:$MOON_PORT"]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_for 30 curl -fs -o /dev/null "http://127.0.0.1:$PROM_PORT/-/ready" || fail "prometheus did not become ready"

# The API needs credentials: an API token of the demo admin, made the way an operator would.
TOKEN=$(cd "$WORK" && env MOON_DATABASE_URL="sqlite://$WORK/moon.db" "$MOON_BIN" token create demo-admin --name prometheus-scrape 2>>"$WORK/moon.log") ||
    fail "moon token create failed"
AUTH="Authorization: Bearer $TOKEN"

REQUESTS=40
for _ in $(seq 1 "$REQUESTS"); do
    curl -fsS -o /dev/null -H "$AUTH" "http://127.0.0.1:$MOON_PORT/api/v1/agents?limit=5"
    curl -sS -o /dev/null -H "$AUTH" "http://127.0.0.1:$MOON_PORT/api/v1/sales/999999"
done

# value QUERY: the first sample's value of an instant query, or empty.
value() {
    curl -fsS --get "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
at_least() {
    local v
    v=$(value "$1")
    [[ -n "$v" ]] && python3 -c "import sys; sys.exit(0 if float('$v') >= float('$2') else 1)"
}

wait_for 30 at_least 'up{job="moon"}' 1 || fail "Prometheus does not see moon as up"
wait_for 30 at_least 'sum(moon_http_request_duration_seconds_count{route="/api/v1/agents",status="2xx"})' "$REQUESTS" ||
    fail "the agents listing's $REQUESTS requests did not reach Prometheus"
wait_for 30 at_least 'sum(moon_http_request_duration_seconds_count{route="/api/v1/sales/{id}",status="4xx"})' "$REQUESTS" ||
    fail "the 404s were not counted under their route template"
at_least 'count(moon_http_request_duration_seconds_bucket{route="/api/v1/agents"})' 2 || fail "no latency histogram buckets"
at_least 'moon_build_info' 1 || fail "no build info"
at_least 'count(moon_db_pool_connections)' 2 || fail "no database pool gauges"
at_least 'count(moon_http_requests_in_flight)' 1 || fail "no in-flight gauge"

echo "prometheus scraped moon: up, $REQUESTS + $REQUESTS requests counted under their route templates, histogram, pool and build series present"
