#!/usr/bin/env python3
"""Server CPU with N open console streams (GET /live/events), idle and under a sale every 100 ms.

    bench/live_streams.py MOON_BIN [--streams 50] [--seconds 20] [--refetch]

Starts `MOON_BIN serve --demo` on a free loopback port (fresh SQLite data in a temp dir), signs in
demo-analyst (the streams) and demo-agent (the sales) through the sign-in form, opens N streams,
then measures the server process's CPU (utime+stime from /proc) over two windows: idle, and
while the agent records a sale every 100 ms. With --refetch every stream also refetches
/dashboard/live?range=month on each `change` event with its ETag, as the page does. Prints a
Markdown table row per window. Only 127.0.0.1 is a target.
"""
import argparse, http.client, json, os, re, socket, subprocess, sys, tempfile, threading, time, urllib.parse

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def sign_in(port, user, password):
    c = http.client.HTTPConnection("127.0.0.1", port)
    body = urllib.parse.urlencode({"username": user, "password": password, "next": "/home"})
    c.request("POST", "/sign-in", body, {"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse(); r.read()
    cookie = r.getheader("Set-Cookie").split(";")[0]
    c.request("GET", "/home", headers={"Cookie": cookie, "Accept": "text/html"})
    html = c.getresponse().read().decode()
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', html)
    return cookie, (csrf.group(1) if csrf else None)

def stream(port, cookie, refetch, counts, stop):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /live/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n".encode())
    s.settimeout(0.5)
    frag = http.client.HTTPConnection("127.0.0.1", port) if refetch else None
    etag = None
    while not stop.is_set():
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        n = data.count(b"event: change")
        counts["events"] += n
        if n and frag:
            h = {"Cookie": cookie, "Accept": "text/html"}
            if etag: h["If-None-Match"] = etag
            frag = http.client.HTTPConnection("127.0.0.1", port)
            frag.request("GET", "/dashboard/live?range=month", headers=h)
            r = frag.getresponse(); r.read()
            etag = r.getheader("ETag") or etag
            counts[r.status] = counts.get(r.status, 0) + 1
    s.close()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("moon"); ap.add_argument("--streams", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20); ap.add_argument("--refetch", action="store_true")
    a = ap.parse_args()
    a.moon = os.path.abspath(a.moon)
    work = tempfile.mkdtemp(prefix="moon-live-bench.")
    port = free_port()
    err = open(os.path.join(work, "server.err"), "w+")
    srv = subprocess.Popen([a.moon, "serve", "--demo", "--listen", f"127.0.0.1:{port}",
                            "--database-url", f"sqlite://{work}/moon.db"], cwd=work,
                           stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "MOON_LOG": "warn"})
    try:
        for _ in range(600):
            err.seek(0); text = err.read()
            if "is ready at" in text: break
            time.sleep(0.1)
        pw = dict(m.groups() for m in re.finditer(r"^\s*(demo-\w+)\s+\w+\s+(\S+)\s*$", text, re.M))
        analyst, _ = sign_in(port, "demo-analyst", pw["demo-analyst"])
        agent, csrf = sign_in(port, "demo-agent", pw["demo-agent"])
        c = http.client.HTTPConnection("127.0.0.1", port)
        c.request("GET", "/api/v1/products?limit=1", headers={"Cookie": agent}); product = json.loads(c.getresponse().read())["items"][0]["id"]
        c.request("GET", "/api/v1/calendar", headers={"Cookie": agent}); today = json.loads(c.getresponse().read())["today"]
        c.request("GET", "/api/v1/agents?limit=1", headers={"Cookie": agent}); code = json.loads(c.getresponse().read())["items"][0]["agent_code"]
        counts, stop = {"events": 0}, threading.Event()
        threads = [threading.Thread(target=stream, args=(port, analyst, a.refetch, counts, stop), daemon=True) for _ in range(a.streams)]
        for t in threads: t.start()
        time.sleep(2)
        print("| streams | window | seconds | sales | change events received | fragment answers | server CPU (core-seconds per second) |")
        print("|---|---|---|---|---|---|---|")
        def window(name, sell):
            before, started, sales = cpu_seconds(srv.pid), time.time(), 0
            counts.update({"events": 0}); [counts.pop(k) for k in list(counts) if k != "events"]
            while time.time() - started < a.seconds:
                if sell:
                    body = json.dumps({"agent_code": code, "product_id": product, "amount": "100.00", "sale_date": today})
                    c = http.client.HTTPConnection("127.0.0.1", port)  # an idle keep-alive is closed after 10 s
                    c.request("POST", "/api/v1/sales", body, {"Cookie": agent, "X-CSRF-Token": csrf, "Content-Type": "application/json"})
                    r = c.getresponse(); r.read(); assert r.status == 201, r.status
                    sales += 1
                time.sleep(0.1)
            took = time.time() - started
            frag = ", ".join(f"{k}: {v}" for k, v in counts.items() if k != "events") or "-"
            print(f"| {a.streams} | {name} | {took:.0f} | {sales} | {counts['events']} | {frag} | {(cpu_seconds(srv.pid) - before) / took:.3f} |")
        window("idle", False)
        window("a sale every 100 ms" + (" + refetch" if a.refetch else ""), True)
        stop.set()
    finally:
        srv.terminate(); srv.wait(10)

if __name__ == "__main__":
    main()
