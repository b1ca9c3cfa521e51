"""One bulk share of 100 models against 100 single shares, one after another and all at once,
on one server (five rounds, medians). Usage: bulk_vs_single.py BASE KEY PROJECT IDS, where IDS
are 200 model ids of the project separated by commas (two sets of 100). bulk-vs-single.sh
sets it all up."""
import statistics, sys, time, concurrent.futures, requests

base, key, project, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
a, b = ids[:100], ids[100:200]
s = requests.Session()
h = {"Authorization": f"Bearer {key}"}

def bulk(action, models):
    t = time.perf_counter()
    r = s.post(f"{base}/{project}/v1/models/{action}", json={"modelIds": models}, headers=h)
    assert r.status_code == 200 and all(i["status"] == 200 for i in r.json()["data"]), r.text[:300]
    return time.perf_counter() - t

def singles(action, models):
    t = time.perf_counter()
    for m in models:
        r = s.post(f"{base}/{project}/v1/models/{m}/{action}", headers=h)
        assert r.status_code == 200, r.text
    return time.perf_counter() - t

def concurrent_singles(action, models):
    def one(m):
        r = requests.post(f"{base}/{project}/v1/models/{m}/{action}", headers=h)
        assert r.status_code == 200, r.text
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        list(pool.map(one, models))
    return time.perf_counter() - t

res = {"bulk": [], "sequential": [], "concurrent": []}
for _ in range(5):
    res["bulk"].append(bulk("share", a)); bulk("unshare", a)
    res["sequential"].append(singles("share", b)); bulk("unshare", b)
    res["concurrent"].append(concurrent_singles("share", b)); bulk("unshare", b)
for k, v in res.items():
    print(f"{k}: median {statistics.median(v)*1000:.1f} ms  runs {[round(x*1000,1) for x in v]}")
