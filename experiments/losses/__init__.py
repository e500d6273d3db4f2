"""losses: loss functions and evaluation: regression, class imbalance, binary decisions.

Question: which of the notes' claims about losses and metrics hold when measured? MSE, MAE and
Huber against outliers; cross-entropy against MSE and MAE on softmax outputs; weighted
cross-entropy, focal loss and re-sampling on long-tailed data; ROC and precision-recall curves
with a threshold chosen for recall; and the rankings of one set of models by five metrics.

Every choice (a rate, a method, a threshold) is made on a validation split held out of the
training data (fixed, stratified); the test set only reports. Seeds (and a rate or a focal
gamma) of one model train together as one vmapped ensemble (research/train/ensemble.py) in
WORKDIR/runs/GROUP with checkpoints; finished sections are kept under sections/, so an
interrupted experiment resumes where it stopped.
"""
import functools
import pathlib
import types

import ml_collections

from experiments import sections
from experiments.losses import (binary_decisions, classification_losses, groups, imbalance,
                                metrics_that_mislead, regression)
from experiments.losses import config as config_lib
from research import checks, typed_config
from research.data import NUM_CLASSES, load_dataset
from research.errors import UserError

DESCRIPTION = 'loss functions and evaluation: outliers, imbalance, thresholds, metrics'
SECTIONS = {'regression': regression, 'classification_losses': classification_losses,
            'imbalance': imbalance, 'binary_decisions': binary_decisions,
            'metrics_that_mislead': metrics_that_mislead}
assert tuple(SECTIONS) == config_lib.SECTION_NAMES


get_config, describe = typed_config.command_line(config_lib.LossesConfig)


def quick(c: ml_collections.ConfigDict) -> None:
  """Under 3 minutes on a 2-core CPU: digits and breast cancer, small models, short runs."""
  c.data = 'digits'
  c.fast_compile = True
  c.epochs_per_call = 0
  c.val_fraction = 0.2
  c.regression.examples = 500
  c.regression.epochs = 60
  c.classification_losses.epochs = 8
  c.classification_losses.width = 64
  c.classification_losses.rates = (3e-3, 1e-2)
  c.imbalance.datasets = ('digits',)
  c.imbalance.ratios = (10.0, 100.0)
  c.imbalance.model = 'mlp'
  c.imbalance.epochs = 20
  c.imbalance.batch_size = 32
  c.binary_decisions.datasets = ('breast_cancer',)


def validate(c: ml_collections.ConfigDict) -> None:
  sections.validate_shared(c, SECTIONS)
  checks.subset('data', (c.data,), NUM_CLASSES)
  for key, name in (('data', c.data), *(('imbalance.datasets', d) for d in c.imbalance.datasets)):
    if not NUM_CLASSES[name] or NUM_CLASSES[name] < 3:
      raise UserError(f'{key}={name} is not a dataset of three or more classes')
  checks.subset('imbalance.datasets', c.imbalance.datasets, NUM_CLASSES)
  checks.subset('binary_decisions.datasets', c.binary_decisions.datasets,
                binary_decisions.SOURCES)
  r, k, i, b = c.regression, c.classification_losses, c.imbalance, c.binary_decisions
  for key, value in (('regression.examples', r.examples), ('regression.features', r.features),
                     ('regression.epochs', r.epochs), ('regression.batch_size', r.batch_size),
                     ('regression.constant_examples', r.constant_examples),
                     ('classification_losses.epochs', k.epochs),
                     ('classification_losses.batch_size', k.batch_size),
                     ('classification_losses.width', k.width),
                     ('classification_losses.probabilities', k.probabilities),
                     ('imbalance.epochs', i.epochs), ('imbalance.batch_size', i.batch_size),
                     ('binary_decisions.epochs', b.epochs),
                     ('binary_decisions.batch_size', b.batch_size)):
    checks.positive(key, value)
  checks.at_least('regression.depth', r.depth, 0)
  checks.at_least('classification_losses.depth', k.depth, 0)
  checks.rates('regression.outlier_fractions', r.outlier_fractions)
  for key, value in (('regression.outlier_scale', r.outlier_scale),
                     ('regression.noise', r.noise), ('regression.learning_rate', r.learning_rate),
                     ('regression.huber_delta', r.huber_delta),
                     ('imbalance.learning_rate', i.learning_rate),
                     ('binary_decisions.learning_rate', b.learning_rate)):
    checks.greater_than_zero(key, value)
  checks.subset('classification_losses.losses', k.losses, classification_losses.CLOSED_FORMS)
  if not k.rates or any(not isinstance(x, (int, float)) or x <= 0 for x in k.rates):
    raise UserError(f'classification_losses.rates={tuple(k.rates)!r} is not allowed; it takes '
                    'positive rates')
  if not i.ratios or any(x < 1 for x in i.ratios):
    raise UserError(f'imbalance.ratios={tuple(i.ratios)!r} is not allowed; each is the largest '
                    'class over the smallest, 1 or more')
  if not i.gammas or any(g < 0 for g in i.gammas):
    raise UserError(f'imbalance.gammas={tuple(i.gammas)!r} is not allowed; the focal exponents '
                    'are 0 or more')
  for key, model in (('imbalance.model', i.model), ('binary_decisions.model', b.model)):
    checks.choice(key, model, ('', 'mlp', 'cnn'))
  checks.rate('binary_decisions.target_recall', b.target_recall)


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  load = functools.cache(lambda name: load_dataset(name, config.data_dir, config.download))
  needs = 'classification_losses' in config.sections
  context = types.SimpleNamespace(
      workdir=workdir, manifest=manifest, config=config, load=load,
      dataset=groups.prepare(load(config.data), config.val_fraction) if needs else None)
  measures = {
      'regression': lambda: regression.measure(config.regression, context),
      'classification_losses': lambda: classification_losses.measure(
          config.classification_losses, context),
      'imbalance': lambda: imbalance.measure(config.imbalance, context),
      'binary_decisions': lambda: binary_decisions.measure(config.binary_decisions, context),
      'metrics_that_mislead': lambda: metrics_that_mislead.measure(config.imbalance, context)}
  return sections.run_sections(
      SECTIONS, config.sections, measures, workdir,
      'losses: regression, class imbalance, binary decisions, metrics',
      ' '.join(__doc__.split('\n\n')[1:3]).replace('\n', ' '), manifest)


def summary(results: dict) -> str:
  parts = []
  for key, value in results['headline'].get('imbalance', {}).items():
    if key.startswith('chosen_'):
      parts.append(f'{key[len("chosen_"):]}: {value}')
  for key, value in results['headline'].get('binary_decisions', {}).items():
    if key.startswith('roc_auc_'):
      parts.append(f'{key[len("roc_auc_"):]} ROC-AUC {value:.4f}')
  return ', '.join(parts) or 'done'
