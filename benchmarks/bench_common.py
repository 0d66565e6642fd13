"""Helpers the Python benchmark drivers share: their common arguments, the sample service they deploy, free ports,
the Ripcord API, waiting on a condition, steady load."""
import argparse
import json
import os
import socket
import tempfile
import threading
import time
import urllib.request


def arguments(runs, *own):
    """Parses --ripcord (made absolute) and --runs, and the driver's own options: (flag, type, default) each.
    Returns them with a fresh scratch folder, `args.workdir`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--ripcord", default=".build/release/ripcord")
    parser.add_argument("--runs", type=int, default=runs)
    for flag, kind, default in own:
        parser.add_argument(flag, type=kind, default=default)
    args = parser.parse_args()
    args.ripcord = os.path.abspath(args.ripcord)
    args.workdir = tempfile.mkdtemp(prefix="ripcord-bench-")
    return args


def checkout_service(ripcord, door, instances):
    """ripcord.yaml's lines for `checkout`: sample-service instances behind `door`, health-checked every second."""
    return f"""  checkout:
    listen: 127.0.0.1:{door}
    run: {{ command: "'{ripcord}' sample-service --name checkout --port {{port}} --version {{version}}" }}
    instances: {instances}
    healthCheck: {{ path: /health, interval: 1s, timeout: 1s }}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(port, token, method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"{}")


def wait_for(what, condition, within=60):
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Load:
    """A request every 1/rate s over `connections` keep-alive connections; records (sent at, ok, server pid)."""

    def __init__(self, port, rate=200, connections=4, host="127.0.0.1"):
        self.host, self.port, self.period, self.connections = host, port, connections / rate, connections
        self.samples, self.lock, self.stopping = [], threading.Lock(), False

    def worker(self, offset):
        sock, next_at = None, time.monotonic() + offset
        while not self.stopping:
            next_at += self.period
            time.sleep(max(0, next_at - time.monotonic()))
            sent, ok = time.monotonic(), False
            try:
                if sock is None:
                    sock = socket.create_connection((self.host, self.port), timeout=5)
                sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
                reader = sock.makefile("rb")
                status = reader.readline()
                length, close = 0, False
                while True:
                    line = reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                    if name.lower() == b"connection" and value.strip().lower() == b"close":
                        close = True
                reader.read(length)
                ok = status.startswith(b"HTTP/1.1 2")
                if close:
                    sock.close()
                    sock = None
            except OSError:
                if sock is not None:
                    sock.close()
                sock = None
            with self.lock:
                self.samples.append((sent, ok))

    def start(self):
        self.threads = [threading.Thread(target=self.worker, args=(i * self.period / self.connections,), daemon=True) for i in range(self.connections)]
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join()
