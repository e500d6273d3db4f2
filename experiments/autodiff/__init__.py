"""autodiff: forward mode against reverse mode, and every other way to differentiate.

Question: what does each differentiation method of the notes (004) cost, and how accurate is
it? Seven sections, each a measurement with a table, a plot and a conclusion in report.md:
Jacobian cost over (n, m), the cheap gradient principle, memory against depth, Hessian-vector
products, accuracy over the step size, expression swell, and the delta rule against jax.grad.

Each finished section is saved under sections/ in the workdir, so an interrupted run resumes
at the first section it had not finished.
"""
import functools
import pathlib

import jax
import ml_collections

from experiments import sections
from experiments.autodiff import (accuracy, cheap_gradient, hvp, jacobian_cost, manual_backprop,
                                  memory, swell)
from research import cost
from research.errors import UserError

DESCRIPTION = 'forward vs reverse mode and every other way to differentiate: cost and accuracy'
SECTIONS = {'jacobian': jacobian_cost, 'cheap_gradient': cheap_gradient, 'memory': memory,
            'hvp': hvp, 'accuracy': accuracy, 'swell': swell, 'manual_backprop': manual_backprop}


def get_config() -> ml_collections.ConfigDict:
  """The full preset: about 2.5 minutes on a 2-core CPU (2m12s measured; see README)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.sections = tuple(SECTIONS)
  c.repeats = 7               # timed repeats per measurement; the median is reported
  c.min_repeat_s = 0.02       # each repeat runs the function this long at least
  c.jacobian = dict(sizes=(1, 4, 16, 64, 256, 1024), corner=(4, 1024), hidden=256)
  c.cheap_gradient = dict(widths=(64, 128, 256, 512, 1024, 2048), depth=4, batch=128,
                          inputs=784)
  c.memory = dict(depths=(4, 8, 16, 32, 64, 128), width=128, batch=512)
  c.hvp = dict(widths=(4, 8, 16, 32, 128, 512), inputs=16, batch=256, max_hessian_params=2000)
  c.accuracy = dict(x=1.5, min_exponent=1, max_exponent=20, spsa_dim=16,
                    spsa_samples=(1, 10, 100, 1000, 10000, 100000), spsa_trials=9)
  c.swell = dict(max_nesting=11)
  c.manual_backprop = dict(hidden_layers=((32,), (128, 128), (256, 256, 256, 256)), batch=256)
  return c.lock()


def quick(c: ml_collections.ConfigDict) -> None:
  """Under 90 s on a 2-core CPU, every section on a smaller grid."""
  c.repeats, c.min_repeat_s = 5, 0.005
  c.jacobian.sizes = (4, 32, 256, 1024)
  c.cheap_gradient.widths = (64, 128, 256, 512)
  c.memory.depths = (4, 8, 16, 32)
  c.memory.batch = 256
  c.hvp.widths = (4, 8, 32, 128)
  c.hvp.max_hessian_params = 400
  c.accuracy.spsa_samples = (1, 10, 100, 1000, 10000)
  c.accuracy.spsa_trials = 5
  c.swell.max_nesting = 8
  c.manual_backprop.hidden_layers = ((32,), (128, 128))


def _positive_ints(key: str, values) -> None:
  if not values or not all(type(v) is int and v >= 1 for v in values):
    raise UserError(f'{key}={values!r} is not allowed; it takes a non-empty tuple of positive '
                    'integers')


def validate(c: ml_collections.ConfigDict) -> None:
  unknown = [s for s in c.sections if s not in SECTIONS]
  if unknown or not c.sections:
    raise UserError(f'sections={c.sections!r} is not allowed; choose from {", ".join(SECTIONS)}')
  for key in ('seed', 'repeats'):
    if c[key] < (0 if key == 'seed' else 1):
      raise UserError(f'{key}={c[key]} is out of range')
  if not c.min_repeat_s > 0:
    raise UserError(f'min_repeat_s={c.min_repeat_s} is out of range: must be > 0')
  _positive_ints('jacobian.sizes', c.jacobian.sizes)
  if len(c.jacobian.corner) != 2 or not set(c.jacobian.corner) <= set(c.jacobian.sizes):
    raise UserError(f'jacobian.corner={c.jacobian.corner!r} must be two of jacobian.sizes')
  _positive_ints('cheap_gradient.widths', c.cheap_gradient.widths)
  _positive_ints('memory.depths', c.memory.depths)
  if len(c.memory.depths) < 2:
    raise UserError('memory.depths needs at least two depths to show a growth')
  _positive_ints('hvp.widths', c.hvp.widths)
  _positive_ints('accuracy.spsa_samples', c.accuracy.spsa_samples)
  if not 1 <= c.accuracy.min_exponent <= c.accuracy.max_exponent <= 300:
    raise UserError('accuracy.min_exponent and accuracy.max_exponent must satisfy '
                    '1 <= min_exponent <= max_exponent <= 300 (steps h = 10^-exponent)')
  if c.accuracy.spsa_dim < 2 or c.accuracy.spsa_trials < 1:
    raise UserError('accuracy.spsa_dim must be at least 2 and accuracy.spsa_trials at least 1')
  if c.swell.max_nesting < 2:
    raise UserError(f'swell.max_nesting={c.swell.max_nesting} is out of range: at least 2')
  for hidden in c.manual_backprop.hidden_layers:
    _positive_ints('manual_backprop.hidden_layers', hidden)
  for key in ('cheap_gradient.depth', 'cheap_gradient.batch', 'cheap_gradient.inputs',
              'jacobian.hidden', 'memory.width', 'memory.batch', 'hvp.inputs', 'hvp.batch',
              'manual_backprop.batch'):
    group, name = key.split('.')
    if c[group][name] < 1:
      raise UserError(f'{key}={c[group][name]} is out of range: must be at least 1')
  if not 1 <= c.manual_backprop.batch <= 1437:
    raise UserError('manual_backprop.batch must be in [1, 1437], the digits training set')


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  probe = functools.partial(cost.probe, repeats=config.repeats, min_repeat_s=config.min_repeat_s)

  def measure(name):
    key = jax.random.fold_in(jax.random.key(config.seed), list(SECTIONS).index(name))
    return lambda: SECTIONS[name].measure(config[name], probe, key)

  return sections.run_sections(
      SECTIONS, config.sections, {name: measure(name) for name in config.sections}, workdir,
      'autodiff: forward mode, reverse mode, and every other way to differentiate',
      __doc__.split('\n\n')[1], manifest)


def summary(results: dict) -> str:
  head = results['headline']
  parts = []
  if 'jacobian' in head:
    parts += [f'{k} {v:.1f}x' for k, v in head['jacobian'].items() if 'time' in k]
  if 'cheap_gradient' in head:
    g = head['cheap_gradient']
    parts.append(f'grad/loss FLOPs {g["flop_ratio_min"]:.2f}-{g["flop_ratio_max"]:.2f}')
  if 'accuracy' in head and 'complex_step_float64_h1e-20' in head['accuracy']:
    parts.append(f'complex step error {head["accuracy"]["complex_step_float64_h1e-20"]:.1e}')
  if 'manual_backprop' in head:
    parts.append(f'delta rule vs grad {head["manual_backprop"]["max_rel_diff_float32"]:.1e}')
  return ', '.join(parts) or 'done'
