"""autodiff: forward mode against reverse mode, and every other way to differentiate.

Question: what does each differentiation method of the notes (004) cost, and how accurate is
it? Nine sections, each a measurement with a table, a plot and a conclusion in report.md:
Jacobian cost over (n, m), the cheap gradient principle, memory against depth, Hessian-vector
products, accuracy over the step size, expression swell, the delta rule against jax.grad,
implicit differentiation of a fixed point against unrolling, and hybrid (estimated) VJPs of a
black box inside a network.

Each finished section is saved under sections/ in the workdir, so an interrupted run resumes
at the first section it had not finished.
"""
import contextlib
import functools
import pathlib

import jax
import ml_collections

from experiments import sections
from experiments.autodiff import (accuracy, cheap_gradient, hvp, hybrid, implicit,
                                  jacobian_cost, manual_backprop, memory, swell)
from experiments.autodiff import config as config_lib
from research import cost, typed_config

DESCRIPTION = 'forward vs reverse mode and every other way to differentiate: cost and accuracy'
SECTIONS = {'jacobian': jacobian_cost, 'cheap_gradient': cheap_gradient, 'memory': memory,
            'hvp': hvp, 'accuracy': accuracy, 'swell': swell, 'manual_backprop': manual_backprop,
            'implicit': implicit, 'hybrid': hybrid}
assert tuple(SECTIONS) == config_lib.SECTION_NAMES


get_config, describe = typed_config.command_line(config_lib.AutodiffConfig)


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
  c.implicit.iterations = (10, 30, 100, 300)
  c.implicit.tolerances = (1e-2, 1e-4, 1e-6)
  c.hybrid.steps = (1e-1, 1e-2, 1e-3)
  c.hybrid.spsa_samples = (1, 10, 100)


def validate(c: ml_collections.ConfigDict) -> None:
  config_lib.validate(typed_config.from_dict(config_lib.AutodiffConfig, c))



# The sections that compute in float64 (and complex128), which TPUs lack.
FLOAT64_SECTIONS = ('accuracy', 'implicit', 'hybrid')


def placement(name: str) -> contextlib.ExitStack:
  """Where and how section `name` computes: float32 products at full float32 precision
  ('highest': the accuracy claims are float32's, not TF32's on a GPU or one bfloat16 pass's on
  a TPU), and the float64 sections on the host CPU where the default backend is a TPU."""
  stack = contextlib.ExitStack()
  stack.enter_context(jax.default_matmul_precision('highest'))
  if name in FLOAT64_SECTIONS and jax.default_backend() == 'tpu':
    stack.enter_context(jax.default_device(jax.devices('cpu')[0]))
  return stack


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  probe = functools.partial(cost.probe, repeats=config.repeats, min_repeat_s=config.min_repeat_s)

  def measure(name):
    key = jax.random.fold_in(jax.random.key(config.seed), list(SECTIONS).index(name))

    def measured():
      with placement(name):
        return SECTIONS[name].measure(config[name], probe, key)
    return measured

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
