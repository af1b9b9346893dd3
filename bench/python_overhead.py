"""Times phasegen.rambo_map from Python on states drawn once (the Python side of
bench/python-overhead.sh): the median over REPEATS calls, in ms, one LibTorch thread, as
`N=3 ms=...` lines. usage: python3 bench/python_overhead.py N BATCH REPEATS"""

import statistics
import sys
import time

import phasegen
import torch

particles, batch, repeats = (int(a) for a in sys.argv[1:4])
torch.set_num_threads(1)
q = phasegen.sample_rambo_prior(batch, particles, seed=1)
phasegen.rambo_map(q, 1.0)  # warm-up
times = []
for _ in range(repeats):
    start = time.perf_counter()
    phasegen.rambo_map(q, 1.0)
    times.append(time.perf_counter() - start)
print("N=%d ms=%.3f" % (particles, 1e3 * statistics.median(times)))
