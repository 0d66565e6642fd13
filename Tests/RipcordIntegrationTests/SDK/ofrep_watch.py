"""Runs the real OpenFeature SDK with the OFREP provider against Ripcord; prints one JSON line per change.

usage: ofrep_watch.py URL TOKEN
"""
import json
import sys
import time

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.contrib.provider.ofrep import OFREPProvider

url, token = sys.argv[1], sys.argv[2]
api.set_provider(OFREPProvider(url, headers_factory=lambda: {"Authorization": token}))
client = api.get_client()
ann = EvaluationContext(targeting_key="ann")
bob = EvaluationContext(targeting_key="bob")


def details(result):
    return {"value": result.value, "variant": result.variant, "reason": str(result.reason),
            "error": result.error_code.value if result.error_code else None}


last = None
deadline = time.time() + 120
while time.time() < deadline:
    seen = {
        "kill": details(client.get_boolean_details("kill-switch", False, ann)),
        "beta_ann": client.get_boolean_value("beta", False, ann),
        "beta_bob": client.get_boolean_value("beta", True, bob),
        "price": details(client.get_float_details("price", 0.5, ann)),
        "colour": details(client.get_string_details("colour", "none", ann)),
        "settings": details(client.get_object_details("settings", {}, ann)),
        "missing": details(client.get_boolean_details("no-such-flag", True, ann)),
        "half_anonymous": details(client.get_boolean_details("half", True, EvaluationContext())),
    }
    key = json.dumps(seen, sort_keys=True)
    if key != last:
        print(key, flush=True)
        last = key
    time.sleep(0.02)
