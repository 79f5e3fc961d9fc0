#!/usr/bin/env python3
"""The notifications issue's "done when", against a running `moon serve --demo`:

a sale that carries an agent past a milestone puts one notification in their inbox and on their
open console (the live stream) within a second, and one signed webhook call on a subscribed
receiver.

    notify-smoke.py BASE_URL ADMIN_TOKEN AGENT_TOKEN

BASE_URL is loopback; the receiver listens on 127.0.0.1 too. Exits non-zero with a message on
any failure. Standard library only.
"""

import datetime
import hashlib
import hmac
import http.server
import json
import queue
import sys
import threading
import time
import urllib.request

SECRET = "whsec_ci_smoke_0123456789"
AGENT = "AGT001"
THRESHOLDS = [50_000_00, 100_000_00, 150_000_00]  # the default monthly milestones, in cents


def fail(message):
    print(f"notification smoke test failed: {message}", file=sys.stderr)
    sys.exit(1)


def call(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
        return json.loads(text) if text else None


def verify(header, body):
    parts = dict(p.split("=", 1) for p in header.split(","))
    expected = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", "")) and abs(time.time() - int(parts["t"])) < 300


def main():
    base, admin, agent = sys.argv[1:4]
    calls = queue.Queue()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.put((time.monotonic(), verify(self.headers.get("Moon-Signature", ""), body), json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    call(base, admin, "POST", "/api/v1/notifications/webhooks",
         {"url": hook, "events": ["notification.milestone"], "secret": SECRET})

    # Where the agent stands this month, and a sale that carries them past the next milestone.
    today = datetime.datetime.now(datetime.timezone.utc).date()
    first = today.replace(day=1).isoformat()
    sales = call(base, admin, "GET", f"/api/v1/sales?agent_code={AGENT}&from={first}&to={today}&limit=500")
    total = sum(round(float(s["amount"]) * 100) for s in sales["items"])
    upcoming = [t for t in THRESHOLDS if t > total]
    if not upcoming:
        fail(f"{AGENT} already passed every monthly milestone ({total} cents); the demo data changed")
    amount = upcoming[0] - total + 100
    before = call(base, agent, "GET", "/api/v1/notifications?kind=milestone&limit=500")["items"]

    events = queue.Queue()

    def listen():
        req = urllib.request.Request(base + "/api/v1/notifications/stream")
        req.add_header("Authorization", f"Bearer {agent}")
        with urllib.request.urlopen(req, timeout=30) as r:
            events.put(("open", None))
            for raw in r:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    events.put((time.monotonic(), json.loads(line[len("data: "):])))

    threading.Thread(target=listen, daemon=True).start()
    if events.get(timeout=10)[0] != "open":
        fail("the stream did not open")

    started = time.monotonic()
    call(base, admin, "POST", "/api/v1/sales",
         {"agent_code": AGENT, "product_id": 1, "amount": f"{amount / 100:.2f}", "sale_date": today.isoformat()})
    try:
        at, note = events.get(timeout=1.0)
    except queue.Empty:
        fail("no notification on the agent's open stream within 1 s of the sale")
    if note["kind"] != "milestone" or note["agent_code"] != AGENT:
        fail(f"unexpected event on the stream: {note}")
    print(f"sale -> live stream: {(at - started) * 1000:.0f} ms: {note['message']}")

    try:
        at, signed, hook_body = calls.get(timeout=5)
    except queue.Empty:
        fail("the subscribed receiver got no webhook call within 5 s")
    if not signed:
        fail("the webhook call's Moon-Signature did not verify")
    if hook_body["data"]["id"] != note["id"]:
        fail(f"the webhook carried another notification: {hook_body}")
    print(f"sale -> signed webhook call: {(at - started) * 1000:.0f} ms")

    time.sleep(1.0)
    after = call(base, agent, "GET", "/api/v1/notifications?kind=milestone&limit=500")["items"]
    new = [n for n in after if n["id"] not in {b["id"] for b in before}]
    if len(new) != 1:
        fail(f"expected one new milestone notification in the inbox, found {new}")
    if not calls.empty() or not events.empty():
        fail("more than one webhook call or stream event for one milestone")
    print("one notification in the inbox, one on the stream, one signed webhook call")


if __name__ == "__main__":
    main()
