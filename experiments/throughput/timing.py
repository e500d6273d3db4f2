"""Timing that is fair to every contender: each runs the same number of repeats, taken in
turn (A, B, C, A, B, C, ...), so a slow spell of a shared machine hits all of them alike. The
warm-up (compiles, allocator, caches) is excluded; the median and the spread are reported."""
import statistics
import time
from typing import Callable


def _timed(run: Callable[[int], float], count: int) -> float:
  start = time.perf_counter()
  run(count)  # returns after a host sync: the steps are done, not merely dispatched
  return time.perf_counter() - start


def alternate(contenders: dict[str, tuple[Callable[[int], float], int]], repeats: int,
              min_repeat_s: float) -> dict:
  """`contenders`: name -> (run(count) -> anything after a sync, granularity). Returns name ->
  {'steps_per_repeat', 'step_s' (median seconds per step), 'spread' ((max - min) / median)}."""
  counts = {}
  for name, (run, granularity) in contenders.items():
    run(granularity)  # compile and warm up
    count = granularity
    while (elapsed := _timed(run, count)) < min_repeat_s:
      count = granularity * max(2 * count // granularity,
                                round(count * 1.2 * min_repeat_s / max(elapsed, 1e-6)
                                      / granularity))
    counts[name] = count
  per_step = {name: [] for name in contenders}
  for _ in range(repeats):
    for name, (run, _) in contenders.items():
      per_step[name].append(_timed(run, counts[name]) / counts[name])
  return {name: {'steps_per_repeat': counts[name], 'step_s': statistics.median(times),
                 'spread': (max(times) - min(times)) / statistics.median(times),
                 'repeats_s': times}
          for name, times in per_step.items()}


def matmul_rates(size: int, repeats: int, min_repeat_s: float) -> dict:
  """GFLOP/s of a float32 size x size matrix multiply: XLA's, and PyTorch's where installed.
  The larger is the machine's measured limit the workloads are compared to."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from experiments.throughput import torch_reference
  a = jnp.asarray(np.random.default_rng(0).standard_normal((size, size)), jnp.float32)
  matmul = jax.jit(lambda x: x @ x)
  contenders = {'xla': (lambda n: [matmul(a) for _ in range(n)][-1].block_until_ready(), 1)}
  if torch_reference.available():
    import torch
    t = torch.from_numpy(np.array(a))  # a writable copy
    contenders['torch'] = (lambda n: [t @ t for _ in range(n)][-1].sum().item(), 1)
  timed = alternate(contenders, repeats, min_repeat_s)
  return {name: 2 * size ** 3 / t['step_s'] / 1e9 for name, t in timed.items()}
