"""What a jitted function costs: XLA's own FLOP and byte counts, its memory, and wall time.

The counts come from the compiled program (`cost_analysis`, `memory_analysis`), so they are
what the compiler will run, after fusion and dead-code elimination, not an estimate from the
Python source. Wall time is the median over repeats, each long enough to swamp dispatch jitter.
"""
import dataclasses
import math
import statistics
import time
from typing import Any, Callable

import jax
import jax.extend.core as jax_core


@dataclasses.dataclass(frozen=True)
class Cost:
  flops: float              # XLA's count of floating-point operations (a multiply-add is 2)
  transcendentals: float    # exp, log, tanh, ... counted apart from flops
  bytes_accessed: float     # memory traffic XLA expects
  temp_bytes: int           # scratch memory beyond arguments and outputs
  argument_bytes: int
  output_bytes: int
  compile_s: float
  time_s: float | None      # median seconds per call (None: not timed)
  time_spread: float | None  # (max - min) / median over the repeats
  output: Any = dataclasses.field(default=None, repr=False, compare=False)  # fn(*args)

  def to_dict(self) -> dict:
    """The figures, without the output."""
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != 'output'}


def _time_per_call(compiled, args, repeats: int, min_repeat_s: float) -> tuple[float, float]:
  def run(calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
      out = compiled(*args)
    jax.block_until_ready(out)
    return time.perf_counter() - start

  calls = 1
  while (elapsed := run(calls)) < min_repeat_s:  # calls per repeat: enough to swamp jitter
    calls = max(2 * calls, int(calls * min_repeat_s / max(elapsed, 1e-9)))
  per_call = [run(calls) / calls for _ in range(repeats)]
  median = statistics.median(per_call)
  return median, (max(per_call) - min(per_call)) / median


def probe(fn: Callable, *args, repeats: int = 5, min_repeat_s: float = 0.01,
          timed: bool = True) -> Cost:
  """Compile `fn` for `args`, run it once (its output comes back in `Cost.output`), and measure
  it; `timed=False` reads the compiler's counts only."""
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  compile_s = time.perf_counter() - start
  counts = compiled.cost_analysis() or {}
  if isinstance(counts, list):  # older jaxlibs return one dict per program
    counts = counts[0]
  memory = compiled.memory_analysis()
  output = jax.block_until_ready(compiled(*args))  # also the warm-up for the timing
  time_s = spread = None
  if timed:
    time_s, spread = _time_per_call(compiled, args, repeats, min_repeat_s)
  return Cost(flops=float(counts.get('flops', 0.0)),
              transcendentals=float(counts.get('transcendentals', 0.0)),
              bytes_accessed=float(counts.get('bytes accessed', 0.0)),
              temp_bytes=int(memory.temp_size_in_bytes) if memory else 0,
              argument_bytes=int(memory.argument_size_in_bytes) if memory else 0,
              output_bytes=int(memory.output_size_in_bytes) if memory else 0,
              compile_s=compile_s, time_s=time_s, time_spread=spread, output=output)


def _dot_flops(eqn) -> float:
  (lhs_contract, rhs_contract), (_, rhs_batch) = eqn.params['dimension_numbers']
  lhs, rhs = (v.aval.shape for v in eqn.invars)
  rhs_free = [d for i, d in enumerate(rhs) if i not in (*rhs_contract, *rhs_batch)]
  return 2.0 * math.prod(lhs) * math.prod(rhs_free)


def _jaxpr_matmul_flops(jaxpr) -> float:
  total = 0.0
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == 'dot_general':
      total += _dot_flops(eqn)
    trips = eqn.params.get('length', 1) if eqn.primitive.name == 'scan' else 1
    total += trips * sum(_jaxpr_matmul_flops(sub) for sub in jax_core.jaxprs_in_params(eqn.params))
  return total


def matmul_flops(fn: Callable, *args) -> float:
  """Matrix-multiply FLOPs of the program JAX traces for fn(*args), loops times trip count.

  The program as written, before XLA: where XLA's `cost_analysis` counts a loop body once, or
  the CPU compiler's CSE merges a rematerialised forward pass back into the first one, this is
  the count that says what the differentiation asked for.
  """
  return _jaxpr_matmul_flops(jax.make_jaxpr(fn)(*args).jaxpr)
