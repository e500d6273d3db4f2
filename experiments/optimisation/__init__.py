"""optimisation: gradient descent and its variants, learning rates, optimizers, activations,
and choosing a network's size.

Question: which of the notes' claims about training hold when measured? Convex problems where
theory gives exact thresholds and rates; batch, stochastic and mini-batch gradient descent;
the learning rate from too low to too high; six optimizers at their validation-chosen rates;
activation functions (and the collapse of a deep linear network to one linear map); and a
network's size chosen by k-fold cross-validation rather than by the test set.

Every choice is made on a validation split held out of the training data (fixed, stratified);
the test set only reports. Seeds and rates of one network train together as one vmapped
ensemble (research/train/ensemble.py) in WORKDIR/runs/GROUP with checkpoints; finished
sections are kept under sections/, so an interrupted experiment resumes where it stopped.
"""
import functools
import pathlib
import types

import ml_collections

from experiments import sections
from experiments.optimisation import (activations, convex, gd_variants, groups, learning_rate,
                                      model_size, optimizers)
from experiments.optimisation import config as config_lib
from research import checks, typed_config
from research.data import NAMES as DATASETS
from research.data import NUM_CLASSES, load_dataset
from research.errors import UserError
from research.nn.activations import ACTIVATIONS
from research.optim import OPTIMIZERS

DESCRIPTION = 'gradient descent, learning rates, optimizers, activations and model size'
SECTIONS = {'convex': convex, 'gd_variants': gd_variants, 'learning_rate': learning_rate,
            'optimizers': optimizers, 'activations': activations, 'model_size': model_size}
assert tuple(SECTIONS) == config_lib.SECTION_NAMES


get_config, describe = typed_config.command_line(config_lib.OptimisationConfig)


def quick(c: ml_collections.ConfigDict) -> None:
  """Under 3 minutes on a 2-core CPU: digits, small grids, short runs."""
  c.data = 'digits'
  c.fast_compile = True
  c.val_fraction = 0.2
  c.convex.bisections = 20
  c.gd_variants.batch_sizes = (0, 1, 32)
  c.gd_variants.epochs = 8
  c.gd_variants.learning_rate = 0.05
  c.gd_variants.variance_batches = (1, 4, 16, 64)
  c.gd_variants.variance_draws = 100
  c.sweep.optimizers = ('sgd', 'momentum', 'adam')
  c.sweep.rates = (1e-3, 1e-2, 0.1, 1.0, 10.0)
  c.sweep.epochs = 8
  c.sweep.width = 64
  c.activations.activations = ('sigmoid', 'tanh', 'relu')
  c.activations.channels = (8, 16)
  c.activations.dense = (32,)
  c.activations.epochs = 6
  c.activations.batch_size = 32
  c.activations.learning_rate = 0.01
  c.activations.target_train_error = 0.25
  c.activations.linear_epochs = 10
  c.model_size.depths = (1, 2)
  c.model_size.widths = (16, 64)
  c.model_size.folds = 2
  c.model_size.epochs = 8
  c.model_size.learning_rate = 0.01


def validate(c: ml_collections.ConfigDict) -> None:
  sections.validate_shared(c, SECTIONS)
  checks.subset('data', (c.data,), DATASETS)
  if not NUM_CLASSES[c.data]:
    raise UserError(f'data={c.data} has real-valued targets; the optimisation sections '
                    'classify: use an image or class dataset')
  v, s, a, m, x = c.gd_variants, c.sweep, c.activations, c.model_size, c.convex
  checks.at_least('convex.kappa', x.kappa, 1.0 + 1e-9)
  for key, value in (('convex.dimension', x.dimension), ('convex.steps', x.steps),
                     ('convex.line_points', x.line_points), ('convex.bisections', x.bisections),
                     ('convex.threshold_steps', x.threshold_steps),
                     ('gd_variants.epochs', v.epochs), ('gd_variants.width', v.width),
                     ('gd_variants.variance_examples', v.variance_examples),
                     ('gd_variants.variance_draws', v.variance_draws),
                     ('sweep.epochs', s.epochs), ('sweep.batch_size', s.batch_size),
                     ('sweep.depth', s.depth), ('sweep.width', s.width),
                     ('activations.epochs', a.epochs), ('activations.batch_size', a.batch_size),
                     ('activations.linear_depth', a.linear_depth),
                     ('activations.linear_width', a.linear_width),
                     ('activations.linear_epochs', a.linear_epochs),
                     ('model_size.folds', m.folds), ('model_size.epochs', m.epochs),
                     ('model_size.batch_size', m.batch_size)):
    checks.positive(key, value)
  checks.at_least('convex.line_points', x.line_points, 3)
  checks.at_least('model_size.folds', m.folds, 2)
  for key in ('gd_variants.batch_sizes',):
    if not v.batch_sizes or any(type(b) is not int or b < 0 for b in v.batch_sizes):
      raise UserError(f'{key}={tuple(v.batch_sizes)!r} is not allowed; it takes whole numbers '
                      '(0 = the whole training split)')
  checks.positive_ints('gd_variants.variance_batches', v.variance_batches)
  checks.subset('sweep.optimizers', s.optimizers, OPTIMIZERS)
  for key, rates in (('sweep.rates', s.rates),):
    if not rates or any(not isinstance(r, (int, float)) or r <= 0 for r in rates):
      raise UserError(f'{key}={tuple(rates)!r} is not allowed; it takes positive rates')
  checks.at_least('sweep.target_val_loss', s.target_val_loss, 0)
  checks.at_least('sweep.adamw_weight_decay', s.adamw_weight_decay, 0)
  checks.greater_than_zero('gd_variants.learning_rate', v.learning_rate)
  checks.subset('activations.activations', a.activations, ACTIVATIONS)
  checks.positive_ints('activations.channels', a.channels)
  checks.positive_ints('activations.dense', a.dense)
  checks.greater_than_zero('activations.learning_rate', a.learning_rate)
  checks.greater_than_zero('activations.linear_learning_rate', a.linear_learning_rate)
  checks.rate('activations.target_train_error', a.target_train_error)
  checks.positive_ints('model_size.depths', m.depths)
  checks.positive_ints('model_size.widths', m.widths)
  checks.greater_than_zero('model_size.learning_rate', m.learning_rate)


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  load = functools.cache(lambda: load_dataset(config.data, config.data_dir, config.download))
  needs_data = set(config.sections) - {'convex'}
  context = types.SimpleNamespace(
      workdir=workdir, manifest=manifest, config=config, load=load,
      dataset=groups.prepare(load(), config.val_fraction) if needs_data else None)
  measures = {
      'convex': lambda: convex.measure(config.convex, config.seed),
      'gd_variants': lambda: gd_variants.measure(config.gd_variants, context),
      'learning_rate': lambda: learning_rate.measure(config.sweep, context),
      'optimizers': lambda: optimizers.measure(config.sweep, context),
      'activations': lambda: activations.measure(config.activations, context),
      'model_size': lambda: model_size.measure(config.model_size, context)}
  return sections.run_sections(
      SECTIONS, config.sections, measures, workdir,
      'optimisation: gradient descent, learning rates, optimizers, activations, model size',
      ' '.join(__doc__.split('\n\n')[1:3]).replace('\n', ' '), manifest)


def summary(results: dict) -> str:
  parts = []
  convex_ = results['headline'].get('convex', {})
  if convex_:
    parts.append(f'convex checks: worst relative error {max(convex_.values()):.2%}')
  chosen = {k[len('test_accuracy_'):]: v
            for k, v in results['headline'].get('optimizers', {}).items()
            if k.startswith('test_accuracy_')}
  if chosen:
    best = max(chosen, key=chosen.get)
    parts.append(f'best test accuracy {best} {chosen[best]:.3f}')
  return ', '.join(parts) or 'done'
