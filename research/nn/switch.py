"""The one switch between layers rewritten for XLA's CPU backend and flax's plain layers.

XLA's CPU backend runs some ordinary layers slowly: a convolution with few input channels, the
leading-axis sums of bias gradients and BatchNorm statistics (as reduce-windows), and max
pooling's gradient (a select-and-scatter). `research/nn/conv.py`, `pooling.py`, `channels.py`
and `normalization.py` compute the same functions in forms it runs fast, with flax's parameter
names and initial values, so checkpoints move between the two kinds. On GPUs and TPUs those
rewrites are unmeasured, so there the models use flax's layers.

XLA's CPU convolutions also run many times slower inside a loop (a `lax.scan` of train steps)
than outside one. Code that traces steps inside a loop says so with `inside_loop()`, and there
the CPU-tuned convolution is one matrix product (im2col), which a loop does not slow; outside
a loop XLA's convolution is the faster one.

`layer_kind()` decides, at trace time: `RESEARCH_LAYERS=cpu_tuned|plain` (environment) or
`forced(kind)` (tests) if given, else 'cpu_tuned' where JAX's default backend is the CPU and
'plain' elsewhere. tests/test_models.py holds each rewrite equal to its plain layer, and a
whole train step equal under both kinds.
"""
import contextlib
import os

import jax

KINDS = ('cpu_tuned', 'plain')
ENVIRONMENT = 'RESEARCH_LAYERS'
_forced: list[str] = []
_loops: list[bool] = []


def layer_kind() -> str:
  kind = _forced[-1] if _forced else os.environ.get(ENVIRONMENT, '')
  if kind:
    if kind not in KINDS:
      raise ValueError(f'{ENVIRONMENT}={kind!r} is unknown; choose one of {", ".join(KINDS)}')
    return kind
  return 'cpu_tuned' if jax.default_backend() == 'cpu' else 'plain'


def cpu_tuned() -> bool:
  return layer_kind() == 'cpu_tuned'


@contextlib.contextmanager
def forced(kind: str):
  """Every model traced inside uses `kind`'s layers."""
  if kind not in KINDS:
    raise ValueError(f'layer kind {kind!r} is unknown; choose one of {", ".join(KINDS)}')
  _forced.append(kind)
  try:
    yield
  finally:
    _forced.pop()


@contextlib.contextmanager
def inside_loop():
  """Layers traced inside are the body of a loop over steps."""
  _loops.append(True)
  try:
    yield
  finally:
    _loops.pop()


def loop_tuned() -> bool:
  """Whether a layer traced now should take its in-a-loop form on the CPU."""
  return bool(_loops) and cpu_tuned()
