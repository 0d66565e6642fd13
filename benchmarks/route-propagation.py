#!/usr/bin/env python3
"""From a weight change to its effect on every standalone router (issue 14).

`ripcord serve` in `router.mode: external` with ROUTERS `ripcord router` processes (127.0.0.2,
127.0.0.3, … on the same front-door port), one service whose canary waits at 0 %, then goes to 100 %
and waits again. A prober per router sends requests back to back on a keep-alive connection and
notes which version answers. Each run deploys a new candidate and times two weight changes, per
router, from the API call to the first answer from the version the new weights send everything to:
  promote  0 % → 100 % (the first answer from the candidate)
  abort    100 % → 0 % (the first answer from the stable version again)
Prints p50/p99/max over routers × changes, and the API call's own time (202: the controller acts on
its own).
  usage: benchmarks/route-propagation.py --ripcord .build/release/ripcord [--routers 4] [--runs 10]
"""
import os
import signal
import socket
import subprocess
import threading
import time

from bench_common import api, arguments, checkout_service, free_port, percentile, wait_for


class Prober:
    """Requests back to back through one router; `seen(version, since)` is when that version first answered after `since`."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.answers, self.lock, self.stopping = [], threading.Lock(), False

    def run(self):
        sock = None
        while not self.stopping:
            try:
                if sock is None:
                    sock = socket.create_connection((self.host, self.port), timeout=5)
                    reader = sock.makefile("rb")
                sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
                reader.readline()
                length, version = 0, None
                while True:
                    line = reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    name = name.lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"x-sample-version":
                        version = value.strip().decode()
                reader.read(length)
                with self.lock:
                    self.answers.append((time.monotonic(), version))
                    del self.answers[:-20000]
            except OSError:
                if sock is not None:
                    sock.close()
                sock = None
                time.sleep(0.01)

    def seen(self, version, since):
        with self.lock:
            return next((at for at, answered in self.answers if at >= since and answered == version), None)


def main():
    args = arguments(10, ("--routers", int, 4))
    ripcord, workdir = args.ripcord, args.workdir
    api_port, door = free_port(), free_port()
    with open(os.path.join(workdir, "ripcord.yaml"), "w") as f:
        f.write(f"""api: {{ listen: 127.0.0.1:{api_port} }}
stateDirectory: state
router: {{ mode: external }}
services:
{checkout_service(ripcord, door, instances=1)}    strategy:
      canary:
        unanalyzed: true
        steps:
          - pause: {{}}
          - setWeight: 100
          - pause: {{}}
""")
    log = open(os.path.join(workdir, "processes.log"), "w")
    processes = [subprocess.Popen([ripcord, "serve", "--config", "ripcord.yaml"], cwd=workdir, stdout=log, stderr=subprocess.STDOUT)]
    token_file = os.path.join(workdir, "state", "admin.token")
    try:
        wait_for("the admin token", lambda: os.path.exists(token_file))
        token = open(token_file).read().strip()
        wait_for("the API", lambda: api(api_port, token, "GET", "/api/v1/health") is not None)
        hosts = [f"127.0.0.{2 + index}" for index in range(args.routers)]
        for index, host in enumerate(hosts):
            processes.append(subprocess.Popen(
                [ripcord, "router", "--controller", f"http://127.0.0.1:{api_port}", "--token-file", token_file, "--name", f"edge-{index + 1}",
                 "--address", host, "--state-file", os.path.join(workdir, f"edge-{index + 1}.json")], stdout=log, stderr=subprocess.STDOUT))
        service = lambda: api(api_port, token, "GET", "/api/v1/services/checkout")
        rollout = lambda: service().get("rollout", {})
        api(api_port, token, "POST", "/api/v1/services/checkout/deploy", {"version": "1.0.0"})
        wait_for("1.0.0 promoted", lambda: rollout().get("phase") == "promoted")
        probers = [Prober(host, door) for host in hosts]
        for prober in probers:
            threading.Thread(target=prober.run, daemon=True).start()
        wait_for("1.0.0 behind every router", lambda: all(p.seen("1.0.0", time.monotonic() - 0.2) for p in probers))

        def change(action, target, phase):
            time.sleep(0.3)
            started = time.monotonic()
            api(api_port, token, "POST", f"/api/v1/services/checkout/{action}")
            call = (time.monotonic() - started) * 1000
            wait_for(f"{target} behind every router", lambda: all(p.seen(target, started) for p in probers), within=30)
            wait_for(phase, lambda: rollout()["phase"] == phase and (phase != "paused" or rollout()["step"] >= 2))
            return call, [(p.seen(target, started) - started) * 1000 for p in probers]

        delays, calls = {"promote": [], "abort": []}, []
        print(f"{'run':<4} {'change':<16} {'API call':>9} {'effect, per router (ms)':>34}")
        for run in range(1, args.runs + 1):
            candidate = f"1.1.{run}"
            api(api_port, token, "POST", "/api/v1/services/checkout/deploy", {"version": candidate})
            wait_for(f"{candidate} waiting at 0 %", lambda: rollout().get("candidateVersion") == candidate and rollout().get("phase") == "paused", within=120)
            for action, target, phase, label in (("promote", candidate, "paused", "promote 0→100 %"), ("abort", "1.0.0", "rolledBack", "abort 100→0 %")):
                call, effects = change(action, target, phase)
                calls.append(call)
                delays[action] += effects
                print(f"{run:<4} {label:<16} {call:>6.1f} ms {' '.join(f'{e:7.1f}' for e in effects):>34}", flush=True)
        for prober in probers:
            prober.stopping = True
        every = delays["promote"] + delays["abort"]
        print(f"routers {args.routers}, runs {args.runs}: API call → first answer from the version the new weights send everything to")
        for label, values in (("promote", delays["promote"]), ("abort", delays["abort"]), ("all", every)):
            print(f"  {label:<8} p50 {percentile(values, 50):6.1f} ms   p99 {percentile(values, 99):6.1f} ms   max {max(values):6.1f} ms   ({len(values)} router×change)")
        print(f"  API call p50 {percentile(calls, 50):.1f} ms")
    finally:
        try:
            status = api(api_port, token, "GET", "/api/v1/services/checkout")
        except (OSError, NameError):
            status = {}
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        # External mode leaves instances to the routers on shutdown: stop them.
        for role in ("stableInstances", "candidateInstances", "baselineInstances"):
            for instance in status.get(role, []):
                os.kill(instance["pid"], signal.SIGTERM)
    print(f"work dir {workdir}")


if __name__ == "__main__":
    main()
