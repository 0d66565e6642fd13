#!/usr/bin/env python3
"""Restarting `ripcord serve` under steady load (issue 14).

One service (the sample service, 2 instances) on a fixed front door, 200 requests/s from an open-loop
client on keep-alive connections (a fresh connection after any failure). Each run restarts the
controller one way and prints the failed requests (no answer, or 5xx) around it and the time from the
signal to the first 2xx that the new process answered:
  sigterm  `serve --keep-instances` gets SIGTERM and the new one starts at once (the hand-over)
  kill9    kill -9, then the new one starts at once (routes first, before anything else)
Bar: 0 failed requests on SIGTERM; after kill -9, time to the first 2xx ~ the process start time.
  usage: benchmarks/controller-restart.py --ripcord .build/release/ripcord [--runs 5]
"""
import os
import signal
import subprocess
import time

from bench_common import Load, api, arguments, checkout_service, free_port, wait_for


def serve(ripcord, workdir, log):
    return subprocess.Popen([ripcord, "serve", "--config", "ripcord.yaml", "--keep-instances"], cwd=workdir, stdout=log, stderr=subprocess.STDOUT)


def main():
    args = arguments(5)
    ripcord, workdir = args.ripcord, args.workdir
    api_port, door = free_port(), free_port()
    with open(os.path.join(workdir, "ripcord.yaml"), "w") as f:
        f.write(f"""api: {{ listen: 127.0.0.1:{api_port} }}
stateDirectory: state
services:
{checkout_service(ripcord, door, instances=2)}""")
    log = open(os.path.join(workdir, "serve.log"), "w")
    current = serve(ripcord, workdir, log)
    token_file = os.path.join(workdir, "state", "admin.token")
    wait_for("the admin token", lambda: os.path.exists(token_file))
    token = open(token_file).read().strip()
    wait_for("the API", lambda: api(api_port, token, "GET", "/api/v1/health") is not None)
    api(api_port, token, "POST", "/api/v1/services/checkout/deploy", {"version": "1.0.0"})
    wait_for("1.0.0 promoted", lambda: api(api_port, token, "GET", "/api/v1/services/checkout").get("rollout", {}).get("phase") == "promoted")

    print(f"{'run':<4} {'how':<8} {'requests':>9} {'failed':>7} {'signal → next 2xx':>20} {'new process start → API':>24}")
    load = Load(door)
    load.start()
    try:
        for run in range(1, args.runs + 1):
            for how in ("sigterm", "kill9"):
                time.sleep(1)
                with load.lock:
                    first_index = len(load.samples)
                signalled = time.monotonic()
                current.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
                if how == "kill9":
                    current.wait()
                successor = serve(ripcord, workdir, log)
                started = time.monotonic()
                wait_for("the new API", lambda: api(api_port, token, "GET", "/api/v1/health") is not None)
                api_ready = time.monotonic()
                if how == "sigterm":
                    current.wait(timeout=30)
                current = successor
                time.sleep(2)
                with load.lock:
                    window = load.samples[first_index:]
                failed = sum(1 for _, ok in window if not ok)
                # For kill -9: the first 2xx after the signal; for SIGTERM the doors never stop answering.
                first_ok = next((sent for sent, ok in window if ok and sent >= (started if how == "kill9" else signalled)), None)
                gap = f"{first_ok - signalled:.3f} s" if first_ok is not None else "none"
                print(f"{run:<4} {how:<8} {len(window):>9} {failed:>7} {gap:>20} {api_ready - started:>22.3f} s", flush=True)
    finally:
        load.stop()
        status = api(api_port, token, "GET", "/api/v1/services/checkout")
        current.send_signal(signal.SIGTERM)
        current.wait(timeout=60)
        # --keep-instances left them running.
        for instance in status.get("stableInstances", []):
            os.kill(instance["pid"], signal.SIGTERM)
    print(f"work dir {workdir}")


if __name__ == "__main__":
    main()
