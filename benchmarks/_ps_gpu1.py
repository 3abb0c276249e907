import sys, time, gc, numpy as np, torch
sys.path.insert(0, "benchmarks")
from fuzz import bulk, plugin_bulk
import plugin_kernels as pk
torch.set_num_threads(1)
dev = "cuda"
n = 8192
b = bulk.draw(np.random.default_rng(1), n)
h, bl = plugin_bulk.pack(b)
noop = lambda e, s, k: (e, s)
def t_run(fn, tag):
    torch.cuda.synchronize(); t = time.perf_counter()
    rep, out = plugin_bulk.run_batch(fn, h, bl, dev)
    t1 = time.perf_counter(); v = plugin_bulk.judge(b, rep, out, dev); t2 = time.perf_counter()
    print("%-16s run %.1f judge %.1f us/case suspects %s" % (tag, (t1 - t) * 1e6 / n, (t2 - t1) * 1e6 / n, v.suspects[:3]), flush=True)
for fn, tag in ((pk.no_extra_sync, "warm"), (noop, "noop"), (pk.no_extra_sync, "no_extra_sync"), (pk.sync_per_call, "sync_per_call"), (pk.torch_backend, "torch_backend")):
    t_run(fn, tag)
gc.freeze()
for fn, tag in ((noop, "noop frozen"), (pk.no_extra_sync, "nes frozen")):
    t_run(fn, tag)
# the candidate alone, views premade
e = torch.arange(64, dtype=torch.int32, device=dev) % 4; s = e + 100
views = [(e[:1 + i % 8], s[:1 + i % 8], 2048) for i in range(n)]
for fn, tag in ((pk.no_extra_sync, "nes alone"), (pk.torch_backend, "torch alone")):
    torch.cuda.synchronize(); t = time.perf_counter()
    for a in views: fn(*a)
    torch.cuda.synchronize(); print("%-16s %.1f us/call" % (tag, (time.perf_counter() - t) * 1e6 / n), flush=True)
import nsa_meta
torch.cuda.synchronize(); t = time.perf_counter()
for a in views: a[0].sum().item()
torch.cuda.synchronize(); print("one sync %.1f us/call" % ((time.perf_counter() - t) * 1e6 / n))
