"""Runs the real Unleash Python SDK for one project against Ripcord; prints what it sees once it has the flags.

usage: unleash_project.py URL TOKEN PROJECT FLAGS(comma-separated) — prints one JSON line {flag: enabled}
when the SDK has fetched, then exits.
"""
import json
import sys
import time

from UnleashClient import UnleashClient

url, token, project, flags = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
client = UnleashClient(url=url + "/api", app_name="ripcord-sdk-test", instance_id="project-" + project,
                       custom_headers={"Authorization": token}, refresh_interval=1, disable_metrics=True,
                       disable_registration=True, project_name=project)
client.initialize_client()
deadline = time.time() + 30
while time.time() < deadline and not client.is_initialized:
    time.sleep(0.01)
# The first fetch has landed when a flag of the project is known.
while time.time() < deadline and not any(client.is_enabled(flag) for flag in flags):
    time.sleep(0.01)
print(json.dumps({flag: client.is_enabled(flag) for flag in flags}), flush=True)
client.destroy()
