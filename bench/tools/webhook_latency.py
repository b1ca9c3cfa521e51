"""Webhook latency and throughput against running servers. Usage: webhook_latency.py
latency|throughput BASE_A BASE_B KEY PROJECT IDS (IDS: 200 model ids of the project,
comma-separated; throughput uses BASE_A only). webhook-latency.sh sets it all up.

Latency: a receiver in this process records when each event arrives (its handler then answers
200); one transition at a time, from its 200 as the client sees it to its event's arrival.
Throughput: every model shared and unshared by bulk calls as fast as they go; deliveries per
second between the first and the last arrival."""
import json, statistics, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

mode, base_a, base_b, key, project = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ids = sys.argv[6].split(",")
h = {"Authorization": f"Bearer {key}"}
arrivals = {}  # event id -> perf_counter at its first arrival
every = []  # perf_counter of every request
lock = threading.Lock()
cond = threading.Condition(lock)

class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        now = time.perf_counter()
        with cond:
            arrivals.setdefault(self.headers["X-Webhook-Id"], now)
            every.append(now)
            cond.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/hook"
s = requests.Session()

def subscribe():
    r = s.post(f"{base_a}/{project}/v1/webhooks", headers=h,
               json={"url": url, "events": ["model.shared", "model.unshared"]})
    assert r.status_code == 201, r.text
    return r.json()["id"]

def delete(hook):
    assert s.delete(f"{base_a}/{project}/v1/webhooks/{hook}", headers=h).status_code == 204

def wait_for(n, timeout=30):
    deadline = time.time() + timeout
    with cond:
        while len(arrivals) < n:
            left = deadline - time.time()
            assert left > 0, f"only {len(arrivals)} of {n} events arrived"
            cond.wait(left)

def latency(bases, events=200):
    arrivals.clear()
    hook = subscribe()
    model = ids[0]
    samples = []
    for i in range(events):
        base = bases[i % len(bases)]
        action = "share" if i % 2 == 0 else "unshare"
        r = s.post(f"{base}/{project}/v1/models/{model}/{action}", headers=h)
        assert r.status_code == 200, r.text
        answered = time.perf_counter()
        wait_for(i + 1)
        with lock:
            newest = max(arrivals.values())
        samples.append((newest - answered) * 1000)
    delete(hook)
    samples.sort()
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    return p(0.50), p(0.99), samples[-1]

def throughput(hooks, rounds=5):
    every.clear()
    made = [subscribe() for _ in range(hooks)]
    started = time.perf_counter()
    for _ in range(rounds):
        for action in ("share", "unshare"):
            for chunk in (ids[:100], ids[100:200]):
                r = s.post(f"{base_a}/{project}/v1/models/{action}", headers=h, json={"modelIds": chunk})
                assert r.status_code == 200, r.text[:200]
    written = time.perf_counter() - started
    expected = rounds * 2 * 200 * hooks
    deadline = time.time() + 300
    while len(every) < expected and time.time() < deadline:
        time.sleep(0.05)
    with lock:
        times = sorted(every)
    for hook in made:
        delete(hook)
    span = times[-1] - times[0]
    return expected, len(times), written, span

if mode == "latency":
    for label, bases in (("one instance", [base_a]), ("two instances", [base_a, base_b])):
        p50, p99, worst = latency(bases)
        print(f"latency, {label}: share 200 -> receiver 200: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms (200 events)")
    sys.exit(0)

for hooks in (1, 8):
    expected, got, written, span = throughput(hooks)
    print(f"throughput, one instance, {hooks} webhook(s): {got}/{expected} deliveries in {span:.2f} s "
          f"= {got / span:.0f} deliveries/s (events written in {written:.2f} s)")
