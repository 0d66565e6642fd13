#!/usr/bin/env bash
# REGEX constraints run in linear time (RE2): the per-evaluation time of a flag whose constraint is
# `^(a+)+$`, against LENGTH `a`s and a `!`. On that input the former backtracking engine tried every
# way to split the `a`s: 2 s at 25 characters, with nothing but a frontend token.
#   in-process: `ripcord-bench flags --regex-length LENGTH` (FlagEvaluator, one thread), mean and max;
#   over HTTP:  a real `ripcord serve` (flag-server.sh), REQUESTS sequential OFREP evaluations on one
#               keep-alive connection with a client token; the same context sent to a flag without
#               constraints is the baseline, so the difference in medians is the regex.
# Bar: under 1 ms per evaluation in-process.
# Environment: RIPCORD (binary, default .build/release/ripcord, built unless SKIP_BUILD is set; ripcord-bench beside it),
#              LENGTH (default 10000), REQUESTS (default 200).
set -euo pipefail
LENGTH="${LENGTH:-10000}"
REQUESTS="${REQUESTS:-200}"
source "$(dirname "$0")/flag-server.sh"

echo "in-process: $("$RIPCORD_BENCH" flags --regex-length "$LENGTH")"

create() {
    curl -fs -X POST -H "authorization: Bearer $ADMIN" -d "$1" "$BASE/api/v1/flags" >/dev/null
}
create '{"name":"regex-catastrophic","enabled":true,"strategies":[{"name":"default","constraints":[{"contextName":"email","operator":"REGEX","value":"^(a+)+$"}]}]}'
create '{"name":"regex-baseline","enabled":true,"strategies":[{"name":"default"}]}'

python3 - "$BASE" "$CLIENT" "$LENGTH" "$REQUESTS" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
base, token, length, requests = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
url = urllib.parse.urlparse(base)
body = json.dumps({"context": {"targetingKey": "u1", "email": "a" * length + "!"}})
connection = http.client.HTTPConnection(url.hostname, url.port)

def timings(flag):
    result = []
    for _ in range(requests + 10):
        start = time.perf_counter()
        connection.request("POST", f"/ofrep/v1/evaluate/flags/{flag}", body=body,
                           headers={"authorization": token, "content-type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read())
        result.append(time.perf_counter() - start)
        assert response.status == 200, answer
    return sorted(result[10:])  # the first ten warm the connection and caches

for flag in ("regex-baseline", "regex-catastrophic"):
    t = timings(flag)
    median = statistics.median(t) * 1000
    print(f"over HTTP: {flag} length={length} requests={requests} median_ms={median:.3f} "
          f"p99_ms={t[int(len(t) * 0.99) - 1] * 1000:.3f} max_ms={t[-1] * 1000:.3f}")
    if flag == "regex-baseline":
        baseline = median
print(f"over HTTP: regex cost per evaluation (median difference) = {median - baseline:.3f} ms")
PY
