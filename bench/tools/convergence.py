"""Transitions through one instance, timed until another instance's catalog agrees.

    convergence.py WRITER_URL READER_URL KEY PROJECT ID,ID,...
"""

import statistics
import sys
import time

import requests

writer, reader, key, project, ids = sys.argv[1:6]
ids = ids.split(",")
write = requests.Session()
write.headers["Authorization"] = f"Bearer {key}"
read = requests.Session()

took = []
for action, expected in (("share", 200), ("unshare", 404)):
    for model in ids:
        answer = write.post(f"{writer}/{project}/v1/models/{model}/{action}")
        answer.raise_for_status()
        done = time.perf_counter()
        while True:
            status = read.get(f"{reader}/v1/catalog/models/{model}").status_code
            if status == expected:
                took.append((time.perf_counter() - done) * 1000)
                break
            if time.perf_counter() - done > 10:
                sys.exit(f"{model}: the other instance still answers {status} after 10 s")

took.sort()
p99 = took[max(0, round(len(took) * 0.99) - 1)]
print(
    f"{len(took)} transitions: the other process agreed after "
    f"p50 {statistics.median(took):.1f} ms, p99 {p99:.1f} ms, max {took[-1]:.1f} ms"
)
