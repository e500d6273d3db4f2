"""The one switch between layers rewritten for XLA's CPU backend and flax's plain layers.

XLA's CPU backend runs some ordinary layers slowly: a convolution with few input channels, the
leading-axis sums of bias gradients and BatchNorm statistics (as reduce-windows), and max
pooling's gradient (a select-and-scatter). `research/nn/conv.py`, `pooling.py`, `channels.py`
and `normalization.py` compute the same functions in forms it runs fast, with flax's parameter
names and initial values, so checkpoints move between the two kinds. On GPUs and TPUs those
rewrites are unmeasured, so there the models use flax's layers.

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
