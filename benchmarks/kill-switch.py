"""Toggles `kill-switch` through the admin API and times from sending the request until the Unleash SDK sees each flip.

usage: kill-switch.py BASE ADMIN_TOKEN CLIENT_TOKEN MODE(streaming|polling) TOGGLES POLL_SECONDS CACHE_DIR
"""
import sys
import time

import requests
from UnleashClient import UnleashClient

base, admin, client_token, mode, toggles, poll, cache = sys.argv[1:8]
client = UnleashClient(url=base + "/api", app_name="kill-switch-bench", instance_id=mode,
                       custom_headers={"Authorization": client_token}, refresh_interval=int(poll),
                       disable_metrics=True, experimental_mode={"type": mode}, cache_directory=cache)
client.initialize_client()
deadline = time.time() + 30
while not client.is_enabled("kill-switch") and time.time() < deadline:
    time.sleep(0.01)
session = requests.Session()
latencies = []
state = True
for _ in range(int(toggles)):
    state = not state
    sent = time.perf_counter()
    answer = session.post(f"{base}/api/v1/flags/kill-switch/{'enable' if state else 'disable'}",
                          headers={"Authorization": "Bearer " + admin})
    answer.raise_for_status()
    limit = sent + 2 * int(poll) + 5
    while client.is_enabled("kill-switch") != state:
        if time.perf_counter() > limit:
            sys.exit(f"the SDK never saw the flag turn {'on' if state else 'off'}")
        time.sleep(0.0005)
    latencies.append((time.perf_counter() - sent) * 1000)
client.destroy()
latencies.sort()


def percentile(p):
    return latencies[min(len(latencies) - 1, int(round(p / 100 * len(latencies) + 0.5)) - 1)]


print(f"kill-switch mode={mode} toggles={len(latencies)} poll_interval={poll}s "
      f"p50_ms={percentile(50):.1f} p99_ms={percentile(99):.1f} max_ms={latencies[-1]:.1f}")
