"""Runs the real Unleash Python SDK against Ripcord and prints what it sees, one JSON line per change.

usage: unleash_watch.py URL TOKEN MODE(polling|streaming) USERS(comma-separated)
"""
import json
import sys
import time

from UnleashClient import UnleashClient

url, token, mode, users = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
client = UnleashClient(
    url=url + "/api", app_name="ripcord-sdk-test", instance_id="watch-" + mode,
    custom_headers={"Authorization": token}, refresh_interval=1, metrics_interval=1,
    experimental_mode={"type": mode}, cache_directory=sys.argv[5] if len(sys.argv) > 5 else None,
)
client.initialize_client()
last = None
deadline = time.time() + 120
while time.time() < deadline:
    seen = {
        "ready": client.is_initialized,
        "kill": client.is_enabled("kill-switch"),
        "beta": {user: client.is_enabled("beta", {"userId": user}) for user in users},
        "half": {user: client.is_enabled("half", {"userId": user}) for user in users},
        "paused": {user: client.is_enabled("paused-rule", {"userId": user}) for user in users},
        "all_paused": client.is_enabled("all-paused"),
        "colour": client.get_variant("colour", {"userId": users[0]}),
        "at": None,
    }
    key = json.dumps({k: v for k, v in seen.items() if k != "at"}, sort_keys=True)
    if key != last:
        seen["at"] = time.time()
        print(json.dumps(seen, sort_keys=True), flush=True)
        last = key
    time.sleep(0.005)
client.destroy()
