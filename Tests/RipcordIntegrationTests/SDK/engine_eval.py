"""Evaluates flags with Unleash's reference engine (yggdrasil, as bundled with the Python SDK).

usage: engine_eval.py INPUT.json — INPUT holds {"state": <client features>, "flags": [...], "contexts": [...]};
prints one JSON line: for each context, a map from flag name to its on/off answer.
"""
import json
import sys

from yggdrasil_engine.engine import UnleashEngine

with open(sys.argv[1]) as source:
    task = json.load(source)
engine = UnleashEngine()
state = dict(task["state"])
state.setdefault("version", 2)  # the engine reads nothing without it
engine.take_state(json.dumps(state))
print(json.dumps([{flag: engine.check_enabled(flag, context).is_enabled for flag in task["flags"]} for context in task["contexts"]]), flush=True)
