#!/usr/bin/env python3
"""Judges on real traffic: rollouts through Ripcord's router against its sample service, with faults.

Each judge gets its own `ripcord serve` with LANES services side by side; every lane carries RATE req/s
(an open-loop client here, keep-alive connections) to a stable version failing 0.5 % of requests at
~20 ms (log-normal spread 0.2), with the canary at 10 %. Cells, per judge:
  aa        the candidate is the same build (a fresh process against warm ones)
  err5      candidate fails 5 % of requests
  err2      candidate fails 2 %
  lat50     candidate 50 % slower
  low5      2 req/s, candidate fails 5 %
Printed per judge and cell: decisions, false rollbacks (A/A) or misses with a 95 % Wilson interval,
median and max time from the candidate's first traffic to the decision, and the canary requests used
divided by Wald's SPRT expected sample number for the cell's true rates (0.5 % vs the cell's, alpha
from the judge, beta 5 %). --record DIR also writes the router's measurements every 250 ms (fixtures).
"""
import argparse, asyncio, json, math, os, random, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

STABLE = "1.0.0"
AA = ["1.0.1", "1.0.2"]  # identical builds, alternated so a promoted one is never redeployed onto itself
FAULTS = ";".join([f"{v}=errorRate:0.005,latency:20,latencySpread:0.2" for v in [STABLE] + AA]
                  + ["2.0.0=errorRate:0.05,latency:20,latencySpread:0.2",
                     "2.1.0=errorRate:0.02,latency:20,latencySpread:0.2",
                     "3.0.0=errorRate:0.005,latency:30,latencySpread:0.2",
                     "4.0.0=errorRate:0.05,latency:20,latencySpread:0.2"])
CELLS = {"aa": (None, 0.005), "err5": ("2.0.0", 0.05), "err2": ("2.1.0", 0.02), "lat50": ("3.0.0", 0.005), "low5": ("4.0.0", 0.05)}
JUDGES = {
    "sequential": "judge: sequential",
    "sequential+baseline": "judge: sequential\n      baseline: true",
    "threshold": "maxLatency: { p50: 25ms }",
    "canaryBaseline": "judge: canaryBaseline",
}
# --fixtures: a rollout that decides nothing for 30 s (a pause at 10 %, limits no run can reach, a
# baseline so every role has traffic), recorded once per cell for the judges' unit tests.
RECORDER = "maxErrorRate: 90%\n      baseline: true"
RECORDER_STEPS = "- setWeight: 10\n          - pause: { duration: 30s }"
# The threshold judge's default error-rate limit (`maxErrorRate`).
THRESHOLD_LIMIT = 0.02
# The false-rollback budget each judge's test runs at, for Wald's yardstick.
WALD_ALPHA = {"sequential": 0.008, "sequential+baseline": 0.008, "threshold": 0.005, "canaryBaseline": 0.005}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wilson(k, n, z=1.96):
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    c = p + z * z / (2 * n)
    m = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, (c - m) / (1 + z * z / n)), min(1.0, (c + m) / (1 + z * z / n)))


def wald_asn(p0, p1, alpha, beta=0.05):
    a, b = math.log((1 - beta) / alpha), math.log(beta / (1 - alpha))
    drift = p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))
    return ((1 - beta) * a + beta * b) / drift


class Lane:
    """Open-loop load on one front door: a request every 1/rate s on a pool of keep-alive connections."""

    def __init__(self, port, rate):
        self.port, self.rate, self.sent, self.failed = port, rate, 0, 0

    async def connection(self, queue):
        reader = writer = None
        while True:
            await queue.get()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
                await writer.drain()
                status = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                self.sent += 1
                if not status.startswith(b"HTTP/1.1 2"):
                    self.failed += 1
            except Exception:
                self.failed += 1
                if writer is not None:
                    writer.close()
                reader = writer = None

    async def run(self):
        queue = asyncio.Queue()
        workers = [asyncio.create_task(self.connection(queue)) for _ in range(16)]
        next_at = time.monotonic()
        while True:
            next_at += 1 / self.rate
            await asyncio.sleep(max(0, next_at - time.monotonic()))
            if queue.qsize() < 64:
                queue.put_nowait(None)


class Serve:
    def __init__(self, ripcord, judge, lanes, workdir, recorder=False):
        self.ripcord, self.workdir = ripcord, workdir
        self.api = free_port()
        self.doors = [free_port() for _ in range(lanes)]
        steps = RECORDER_STEPS if recorder else "- setWeight: 10\n          - analysis: { passes: 3 }"
        analysis = RECORDER if recorder else JUDGES[judge]
        services = "".join(f"""
  lane{i}:
    listen: 127.0.0.1:{door}
    run:
      command: "'{ripcord}' sample-service --name lane{i} --port {{port}} --version {{version}}"
      environment: {{ RIPCORD_SAMPLE_FAULTS: "{FAULTS}" }}
    instances: 1
    healthCheck: {{ path: /health, interval: 1s, timeout: 1s }}
    strategy:
      canary:
        steps:
          {steps}
    analysis:
      {analysis}
""" for i, door in enumerate(self.doors))
        with open(os.path.join(workdir, "ripcord.yaml"), "w") as f:
            f.write(f"api: {{ listen: 127.0.0.1:{self.api} }}\nstateDirectory: state\nservices:{services}")
        self.log = open(os.path.join(workdir, "serve.log"), "w")
        self.process = subprocess.Popen([ripcord, "serve", "--config", "ripcord.yaml"], cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(workdir, "state", "admin.token")):
            if time.time() > deadline or self.process.poll() is not None:
                raise SystemExit(f"ripcord serve did not start; see {workdir}/serve.log")
            time.sleep(0.1)
        self.token = open(os.path.join(workdir, "state", "admin.token")).read().strip()

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.api}/api/v1/{path}", data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        for attempt in range(50):
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                raise RuntimeError(f"{method} {path}: {error.code} {error.read()[:300]!r}")
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{method} {path}: API unreachable")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def wait_terminal(serve, rollout_id, record):
    while True:
        detail = await asyncio.to_thread(serve.call, "GET", f"rollouts/{rollout_id}")
        rollout = detail["rollout"]
        if record is not None:
            record(await asyncio.to_thread(serve.call, "GET", f"services/{rollout['service']}/measurements"))
        if rollout["phase"] in ("promoted", "rolledBack"):
            return detail
        await asyncio.sleep(0.25)


def compact(metrics):
    """A VersionMetrics with only its non-empty latency buckets ({index: count})."""
    counts = metrics["latency"]["counts"]
    return {"responsesByClass": metrics["responsesByClass"], "connectionFailures": metrics["connectionFailures"],
            "latency": {str(i): c for i, c in enumerate(counts) if c}, "sumMicroseconds": metrics["latency"]["sumMicroseconds"]}


async def record_fixtures(args):
    """One recorded run per cell: the router's measurements once a second while nothing is decided."""
    workdir = tempfile.mkdtemp(prefix="ripcord-judges-fixtures-")
    cells = ["aa", "err5", "lat50", "low5"]
    serve = Serve(args.ripcord, "recorder", len(cells), workdir, recorder=True)
    lanes = [Lane(door, 2 if cell == "low5" else args.rate) for door, cell in zip(serve.doors, cells)]
    loads = [asyncio.create_task(lane.run()) for lane in lanes]

    async def one(index, cell):
        name = f"lane{index}"
        await asyncio.to_thread(serve.call, "POST", f"services/{name}/deploy", {"version": STABLE})
        await asyncio.sleep(3)
        version = CELLS[cell][0] or AA[0]
        started = await asyncio.to_thread(serve.call, "POST", f"services/{name}/deploy", {"version": version, "force": True})
        with open(os.path.join(args.fixtures, f"{cell}.jsonl"), "w") as out:
            while True:
                detail = await asyncio.to_thread(serve.call, "GET", f"rollouts/{started['id']}")
                if detail["rollout"]["phase"] in ("promoted", "rolledBack"):
                    return
                m = (await asyncio.to_thread(serve.call, "GET", f"services/{name}/measurements"))
                snapshot = m["snapshot"]
                out.write(json.dumps({"at": m["at"], "usesBaseline": snapshot["usesBaseline"],
                                      **{role: compact(snapshot[role]) for role in ("candidate", "stable", "baseline")}}) + "\n")
                await asyncio.sleep(1)
    try:
        await asyncio.gather(*[one(i, cell) for i, cell in enumerate(cells)])
    finally:
        for task in loads:
            task.cancel()
        serve.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def summarize_rollout(serve, detail):
    rollout, events = detail["rollout"], detail["events"]
    first_traffic = next((e for e in events if e["kind"] == "step.setWeight"), None)
    decided = next((e for e in events if e["kind"] in ("rollout.rolledBack", "rollout.promoted")), None)
    measurements = [e for e in events if e["kind"] == "analysis.measurement"]
    requests = sum(int(e["evidence"].get("requests", 0)) for e in measurements)
    seconds = iso_seconds(decided["at"]) - iso_seconds(first_traffic["at"]) if decided and first_traffic else None
    rolled_back = next((e for e in events if e["kind"] == "rollout.rolledBack"), None)
    trigger = rolled_back["evidence"].get("trigger") if rolled_back else None
    detail_of = ""
    if trigger == "analysis":
        reasons = rolled_back["evidence"].get("reasons", rolled_back["message"])
        detail_of = "latency" if "latency" in reasons.split(":")[0] or rolled_back["evidence"].get("latency.verdict") == "fail" else "errors"
    return {"phase": rollout["phase"], "trigger": trigger, "by": detail_of, "seconds": seconds, "canaryRequests": requests}


def iso_seconds(text):
    from datetime import datetime
    return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


async def lane_worker(serve, index, lane, jobs, results, record_dir):
    name = f"lane{index}"
    await asyncio.to_thread(serve.call, "POST", f"services/{name}/deploy", {"version": STABLE})
    while True:
        status = await asyncio.to_thread(serve.call, "GET", f"services/{name}")
        if status.get("stableVersion") == STABLE and not status.get("candidateVersion"):
            break
        await asyncio.sleep(0.2)
    aa_next = 0
    while jobs:
        cell, run = jobs.pop(0)
        version, _ = CELLS[cell]
        if version is None:
            version, aa_next = AA[aa_next % 2], aa_next + 1
        lane.rate = 2 if cell == "low5" else serve.rate
        await asyncio.sleep(1 if cell == "low5" else 0)
        started = await asyncio.to_thread(serve.call, "POST", f"services/{name}/deploy", {"version": version, "force": True})
        rollout_id = started["id"]
        recorder = None
        if record_dir and run < 2:
            path = os.path.join(record_dir, f"{serve.judge}-{cell}-{run}.jsonl")
            handle = open(path, "w")
            recorder = lambda m, h=handle: h.write(json.dumps(m["snapshot"] | {"at": m["at"]}) + "\n")
        detail = await wait_terminal(serve, rollout_id, recorder)
        summary = await asyncio.to_thread(summarize_rollout, serve, detail)
        results.append((cell, summary))
        print(f"  {serve.judge:20} {cell:6} run {run:3} lane {index}: {summary['phase']:10} {summary['trigger'] or '':10} {summary['by']:8} "
              f"{summary['seconds'] if summary['seconds'] is not None else float('nan'):7.2f} s {summary['canaryRequests']:6} canary requests", flush=True)
        lane.rate = serve.rate
        if cell != "aa" and summary["phase"] == "promoted":
            # A missed fault is the stable version now: put the healthy one back for the next run.
            back = await asyncio.to_thread(serve.call, "POST", f"services/{name}/deploy", {"version": STABLE, "force": True})
            await wait_terminal(serve, back["id"], None)


async def run_judge(args, judge, workdir):
    serve = Serve(args.ripcord, judge, args.lanes, workdir)
    serve.judge, serve.rate = judge, args.rate
    lanes = [Lane(door, args.rate) for door in serve.doors]
    loads = [asyncio.create_task(lane.run()) for lane in lanes]
    jobs = [(cell, run) for cell, runs in [("aa", args.aa), ("err5", args.faulty), ("err2", args.faulty), ("lat50", args.faulty), ("low5", args.low)]
            if cell in args.cells.split(",") for run in range(runs)]
    random.Random(7).shuffle(jobs)
    # The low-traffic runs first, one per lane at most, so a quiet lane does not starve the others.
    queues = [[] for _ in lanes]
    for i, job in enumerate(sorted(jobs, key=lambda j: j[0] != "low5")):
        queues[i % len(lanes)].append(job)
    results = []
    try:
        await asyncio.gather(*[lane_worker(serve, i, lanes[i], queues[i], results, args.record) for i in range(len(lanes))])
    finally:
        for task in loads:
            task.cancel()
        serve.stop()
    return results


def report(judge, results):
    rows = []
    for cell in CELLS:
        runs = [r for c, r in results if c == cell]
        if not runs:
            continue
        bad_outcome = "rolledBack" if cell == "aa" else "promoted"
        wrong = sum(1 for r in runs if r["phase"] == bad_outcome)
        low, high = wilson(wrong, len(runs))
        decided = [r for r in runs if r["seconds"] is not None and r["phase"] == ("promoted" if cell == "aa" else "rolledBack")]
        times = [r["seconds"] for r in decided]
        by = {}
        for r in runs:
            key = f"{r['phase']}:{r['trigger'] or '-'}:{r['by'] or '-'}"
            by[key] = by.get(key, 0) + 1
        _, p1 = CELLS[cell]
        ratio = ""
        if cell in ("err5", "err2", "low5") and decided:
            wald = wald_asn(0.005, p1, WALD_ALPHA[judge])
            used = statistics.median([r["canaryRequests"] for r in decided])
            ratio = f"{used / wald:.2f}x ({used:.0f} / {wald:.0f})"
            # The threshold judge's question is "above the limit?", not "above stable?": Wald's test of
            # that question (limit vs the cell's rate) is its own yardstick, printed beside.
            if judge == "threshold" and p1 > THRESHOLD_LIMIT:
                own = wald_asn(THRESHOLD_LIMIT, p1, WALD_ALPHA[judge])
                ratio += f", vs limit {used / own:.2f}x ({own:.0f})"
        label = "false rollbacks" if cell == "aa" else "promoted (missed)"
        rows.append(f"{judge:20} {cell:6} n={len(runs):3}  {label} {wrong}/{len(runs)} [95% CI {low*100:.1f}-{high*100:.1f} %]  "
                    f"median {statistics.median(times) if times else float('nan'):6.2f} s  max {max(times) if times else float('nan'):6.2f} s  "
                    f"samples/Wald {ratio or '-':36}  {by}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ripcord", default=".build/debug/ripcord")
    parser.add_argument("--judges", default=",".join(JUDGES))
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--aa", type=int, default=50)
    parser.add_argument("--faulty", type=int, default=10)
    parser.add_argument("--low", type=int, default=2)
    parser.add_argument("--cells", default=",".join(CELLS), help="the cells to run (default: all)")
    parser.add_argument("--record", help="write the router's measurements of the first runs of each cell here (JSON lines)")
    parser.add_argument("--fixtures", help="only record one undecided 30 s run per cell here (the judges' unit-test fixtures)")
    args = parser.parse_args()
    args.ripcord = os.path.abspath(args.ripcord)
    if args.fixtures:
        os.makedirs(args.fixtures, exist_ok=True)
        asyncio.run(record_fixtures(args))
        return
    if args.record:
        os.makedirs(args.record, exist_ok=True)
    rows = []
    for judge in args.judges.split(","):
        workdir = tempfile.mkdtemp(prefix=f"ripcord-judges-{judge.replace('+', '-')}-")
        print(f"== {judge} (lanes {args.lanes}, {args.rate:g} req/s each, canary 10 %; work dir {workdir})", flush=True)
        results = asyncio.run(run_judge(args, judge, workdir))
        rows += report(judge, results)
        print("\n".join(report(judge, results)), flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n== summary")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
