#!/usr/bin/env python3
"""Failover between two controllers sharing PostgreSQL, under steady load (issue 15).

A PostgreSQL server of its own (initdb in a temporary folder, loopback), two `ripcord serve` (ctl-a,
ctl-b) with `store.postgres` and the default lease (renew 1 s, lease 5 s), two `ripcord router`
processes (127.0.0.2 and 127.0.0.3, the same port) following whichever leads, the sample service with
2 instances and a rollout paused at 30 %. 100 requests/s through each router on keep-alive connections.

Each run kills the leader with kill -9 and prints:
  elected      kill -9 → the other controller says it leads (GET /api/v1/leader, polled every 20 ms)
  first action kill -9 → the first event the new leader stored (its adoption of the running instances)
  failed       requests through the routers that got no answer or a 5xx, from 1 s before the kill
               until the new leader serves the routes to both routers
then restarts the killed controller, which stands by, and the next run kills the other one.
Bar: first action <= 6 s with the defaults (lease 5 s + renewal 1 s); 0 failed requests.
  usage: benchmarks/failover.py --ripcord .build/release/ripcord [--runs 3]
"""
import datetime
import os
import shutil
import signal
import subprocess
import time

from bench_common import Load, api, arguments, checkout_service, free_port, percentile, wait_for


def as_postgres(command, **kwargs):
    """initdb and pg_ctl refuse to run as root: run them as the postgres user."""
    return subprocess.run((["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + command, check=True, **kwargs)


def postgres_bin(name):
    for version in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        path = f"/usr/lib/postgresql/{version}/bin/{name}"
        if os.path.exists(path):
            return path
    raise SystemExit(f"PostgreSQL's {name} not found: apt-get install postgresql")


def start_postgres(workdir):
    data, port = os.path.join(workdir, "pg"), free_port()
    os.makedirs(data)
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(data, "postgres")
    as_postgres([postgres_bin("initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"], stdout=subprocess.DEVNULL)
    as_postgres([postgres_bin("pg_ctl"), "-D", data, "-l", os.path.join(workdir, "pg.log"), "-w", "-o",
                 f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1", "start"], stdout=subprocess.DEVNULL)
    as_postgres([postgres_bin("createdb"), "-h", workdir, "-p", str(port), "-U", "postgres", "ripcord"])
    return data, port


def leadership(port, token):
    try:
        return api(port, token, "GET", "/api/v1/leader")
    except OSError:
        return {}


def event_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    args = arguments(3)
    ripcord, workdir = args.ripcord, args.workdir
    os.chmod(workdir, 0o755)
    pg_data, pg_port = start_postgres(workdir)
    door = free_port()
    controllers = {}
    for name in ("ctl-a", "ctl-b"):
        folder, port = os.path.join(workdir, name), free_port()
        os.makedirs(folder)
        with open(os.path.join(folder, "ripcord.yaml"), "w") as f:
            f.write(f"""api: {{ listen: 127.0.0.1:{port} }}
router: {{ mode: external }}
store: {{ postgres: {{ url: 'postgres://postgres@127.0.0.1:{pg_port}/ripcord' }} }}
ha: {{ name: {name} }}
services:
{checkout_service(ripcord, door, instances=2)}    strategy: {{ canary: {{ unanalyzed: true, steps: [ {{ setWeight: 30 }}, {{ pause: {{}} }} ] }} }}
""")
        controllers[name] = {"folder": folder, "port": port, "log": open(os.path.join(folder, "serve.log"), "a")}

    def serve(name):
        c = controllers[name]
        c["process"] = subprocess.Popen([ripcord, "serve", "--config", "ripcord.yaml"], cwd=c["folder"], stdout=c["log"], stderr=subprocess.STDOUT)

    processes = []
    try:
        serve("ctl-a")
        token_file = os.path.join(controllers["ctl-a"]["folder"], ".ripcord", "admin.token")
        wait_for("ctl-a's admin token", lambda: os.path.exists(token_file))
        token = open(token_file).read().strip()
        wait_for("ctl-a leads", lambda: leadership(controllers["ctl-a"]["port"], token).get("role") == "leader")
        serve("ctl-b")
        wait_for("ctl-b stands by", lambda: leadership(controllers["ctl-b"]["port"], token).get("role") == "follower")
        urls = ",".join(f"http://127.0.0.1:{c['port']}" for c in controllers.values())
        for host, name in (("127.0.0.2", "edge-1"), ("127.0.0.3", "edge-2")):
            processes.append(subprocess.Popen(
                [ripcord, "router", "--controller", urls, "--token-file", token_file, "--name", name, "--address", host,
                 "--state-file", os.path.join(workdir, f"{name}.json")],
                stdout=open(os.path.join(workdir, f"{name}.log"), "w"), stderr=subprocess.STDOUT))
        leader = "ctl-a"
        port = controllers[leader]["port"]

        def routers_current(port):
            routers = api(port, token, "GET", "/api/v1/routers")
            return len(routers) == 2 and all(r["connected"] and r["generation"] == r["currentGeneration"] for r in routers)

        wait_for("both routers on ctl-a's table", lambda: routers_current(port))
        api(port, token, "POST", "/api/v1/services/checkout/deploy", {"version": "1.0.0"})
        wait_for("1.0.0 promoted", lambda: api(port, token, "GET", "/api/v1/services/checkout")["rollout"]["phase"] == "promoted")
        api(port, token, "POST", "/api/v1/services/checkout/deploy", {"version": "1.1.0"})
        wait_for("1.1.0 paused at 30 %", lambda: api(port, token, "GET", "/api/v1/services/checkout")["rollout"]["phase"] == "paused")

        loads = [Load(door, rate=100, connections=2, host=host) for host in ("127.0.0.2", "127.0.0.3")]
        for load in loads:
            load.start()
        print(f"{'run':<4} {'killed':<7} {'elected':>9} {'first action':>13} {'requests':>9} {'failed':>7}")
        firsts, failures = [], 0
        for run in range(1, args.runs + 1):
            time.sleep(2)
            follower = "ctl-b" if leader == "ctl-a" else "ctl-a"
            first_index = [len(load.samples) for load in loads]
            killed_wall, killed = time.time(), time.monotonic()
            controllers[leader]["process"].send_signal(signal.SIGKILL)
            controllers[leader]["process"].wait()
            follower_port = controllers[follower]["port"]
            wait_for("the follower leads", lambda: leadership(follower_port, token).get("role") == "leader", within=30)
            elected = time.monotonic() - killed
            def since_kill():
                events = api(follower_port, token, "GET", "/api/v1/services/checkout/events?limit=5000")
                return [e for e in events if event_time(e["at"]) >= killed_wall]
            wait_for("the new leader's first event", lambda: since_kill())
            first_action = min(event_time(e["at"]) for e in since_kill()) - killed_wall
            wait_for("both routers on the new leader's table", lambda: routers_current(follower_port))
            time.sleep(1)
            window = [s for load, start in zip(loads, first_index) for s in load.samples[max(0, start - 100):]]
            failed = sum(1 for _, ok in window if not ok)
            failures += failed
            firsts.append(first_action)
            print(f"{run:<4} {leader:<7} {elected:>7.2f} s {first_action:>11.2f} s {len(window):>9} {failed:>7}", flush=True)
            serve(leader)
            wait_for("the killed controller stands by", lambda: leadership(controllers[leader]["port"], token).get("role") == "follower")
            leader = follower
        for load in loads:
            load.stop()
        worst = max(firsts)
        print(f"first action of the new leader: median {percentile(firsts, 50):.2f} s, worst {worst:.2f} s (bar 6 s: "
              f"{'PASS' if worst <= 6 else 'FAIL'}); failed requests {failures} (bar 0: {'PASS' if failures == 0 else 'FAIL'})")
        status = api(controllers[leader]["port"], token, "GET", "/api/v1/services/checkout")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for c in controllers.values():
            if "process" in c and c["process"].poll() is None:
                c["process"].send_signal(signal.SIGTERM)
                c["process"].wait(timeout=60)
        as_postgres([postgres_bin("pg_ctl"), "-D", pg_data, "-m", "immediate", "-w", "stop"], stdout=subprocess.DEVNULL)
    # External routers leave the instances running: stop them.
    for instance in status.get("stableInstances", []) + status.get("candidateInstances", []):
        try:
            os.kill(instance["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    print(f"work dir {workdir}")


if __name__ == "__main__":
    main()
