"""cnn: convolutional networks' parts, the classic architectures, features and augmentation.

Question: what do a CNN's parts buy, and do the classic claims hold when measured? Convolution
against locally connected and fully connected networks at one parameter count (and under
translation); pooling kinds and heads; small VGG, Inception, Xception and ResNet networks on one
budget, with the 1 x 1 reduction's and the separable convolution's savings against their closed
forms; what each layer learns (the first filters, linear probes); augmentation on small data.

Learning rates and augmentation strengths are chosen on a validation split held out of the
training data (fixed, stratified); the test set only reports. Seeds and rates (or strengths) of
one network train together as one vmapped ensemble (research/train/ensemble.py) in
WORKDIR/runs/GROUP with checkpoints; finished sections are kept under sections/, so an
interrupted experiment resumes where it stopped.
"""
import functools
import pathlib
import types

import ml_collections

from experiments import sections
from experiments.cnn import (architectures, augmentation, cnn_vs_dense, features, groups,
                             pooling_and_head)
from experiments.cnn import config as config_lib
from research import checks, typed_config
from research.data import NUM_CLASSES, augment, load_dataset
from research.errors import UserError
from research.models import cnn

DESCRIPTION = 'CNNs: against dense nets, pooling and heads, architectures, features, augmentation'
SECTIONS = {'cnn_vs_dense': cnn_vs_dense, 'pooling_and_head': pooling_and_head,
            'architectures': architectures, 'features': features,
            'augmentation': augmentation}
assert tuple(SECTIONS) == config_lib.SECTION_NAMES


get_config, describe = typed_config.command_line(config_lib.CnnConfig)


def quick(c: ml_collections.ConfigDict) -> None:
  """About 3 minutes on a 2-core CPU, compiles included: digits (8 x 8), small networks, short
  runs, one learning rate, fewer variants. The full preset has every one; here the
  Xception-style network (its compile alone takes 20 s) is left out of the training, not out of
  the savings."""
  c.data = 'digits'
  c.fast_compile = True
  c.epochs_per_call = 0
  c.val_fraction = 0.2
  c.train_examples = 0
  c.epochs = 12
  c.batch_size = 64
  c.rates = (3e-3,)
  c.channels = (8, 16)
  c.dense = (32,)
  c.cnn_vs_dense.shifts = (0, 1, 2)
  c.cnn_vs_dense.shift_examples = 0
  c.pooling_and_head.pools = ('max', 'avg', 'none')
  c.pooling_and_head.dense_layers = (1,)
  c.architectures.update(dict(
      models=('vgg', 'inception', 'resnet'), epochs=6,
      vgg_stages=((8, 8), (16, 16)), vgg_dense=(32,), inception_stem=8,
      inception_modules=((8, 8, 12, 2, 4, 4),), xception_entry=(8, 16), xception_middle_blocks=1,
      xception_exit=(16, 24), xception_final=(32,), resnet_depth=8))
  c.features.grid = 2
  c.features.probe_examples = 0
  c.features.probe_max_iter = 100
  c.augmentation.update(dict(
      train_examples=(200,), kinds=('flip', 'translate', 'noise'), translate=(1.0, 2.0),
      noise=(0.3,), epochs=30, batch_size=32, learning_rate=3e-3))


def validate(c: ml_collections.ConfigDict) -> None:
  sections.validate_shared(c, SECTIONS)
  checks.subset('data', (c.data,), NUM_CLASSES)
  if not NUM_CLASSES[c.data]:
    raise UserError(f'data={c.data} is not images; the cnn experiment needs image data')
  checks.at_least('train_examples', c.train_examples, 0)
  for key in ('epochs', 'batch_size'):
    checks.positive(key, c[key])
  _check_rates('rates', c.rates)
  checks.positive_ints('channels', c.channels)
  if c.dense:
    checks.positive_ints('dense', c.dense)
  _validate_sections(c)


def _check_rates(key: str, values) -> None:
  if not values or any(not v > 0 for v in values):
    raise UserError(f'{key}={tuple(values)!r} is not allowed; it takes one or more values > 0')


def _validate_sections(c: ml_collections.ConfigDict) -> None:
  s, p, a, f, g = (c.cnn_vs_dense, c.pooling_and_head, c.architectures, c.features,
                   c.augmentation)
  if not s.shifts or any(not isinstance(v, int) or v < 0 for v in s.shifts):
    raise UserError(f'cnn_vs_dense.shifts={tuple(s.shifts)!r} is not allowed; it takes '
                    'whole numbers of pixels >= 0')
  checks.at_least('cnn_vs_dense.shift_examples', s.shift_examples, 0)
  checks.subset('pooling_and_head.pools', p.pools, cnn.POOLS)
  if any(not isinstance(n, int) or n < 0 for n in p.dense_layers):
    raise UserError(f'pooling_and_head.dense_layers={tuple(p.dense_layers)!r} is not allowed; '
                    'it takes counts of layers >= 0')
  checks.subset('architectures.models', a.models, architectures.NAMES)
  if not a.vgg_stages:
    raise UserError('architectures.vgg_stages=() is not allowed; it takes one or more stages')
  for i, stage in enumerate(a.vgg_stages):
    checks.positive_ints(f'architectures.vgg_stages[{i}]', stage)
  checks.positive_ints('architectures.vgg_dense', a.vgg_dense or (1,))
  checks.positive('architectures.inception_stem', a.inception_stem)
  for module in a.inception_modules:
    if len(module) != 6:
      raise UserError(f'architectures.inception_modules: {tuple(module)!r} is not six widths '
                      '(n1, r3, n3, r5, n5, np)')
    checks.positive_ints('architectures.inception_modules', module)
  if not a.inception_modules:
    raise UserError('architectures.inception_modules=() is not allowed; it takes one or more')
  checks.positive_ints('architectures.xception_entry', a.xception_entry)
  checks.at_least('architectures.xception_middle_blocks', a.xception_middle_blocks, 0)
  if len(a.xception_exit) != 2:
    raise UserError(f'architectures.xception_exit={tuple(a.xception_exit)!r} is not allowed; '
                    'it takes two widths')
  checks.positive_ints('architectures.xception_exit', a.xception_exit)
  checks.positive_ints('architectures.xception_final', a.xception_final or (1,))
  checks.cifar_resnet_depth('architectures.resnet_depth', a.resnet_depth)
  checks.at_least('architectures.epochs', a.epochs, 0)
  checks.positive('features.grid', f.grid)
  checks.at_least('features.probe_examples', f.probe_examples, 0)
  checks.positive('features.probe_max_iter', f.probe_max_iter)
  checks.positive_ints('augmentation.train_examples', g.train_examples)
  checks.subset('augmentation.kinds', g.kinds, config_lib.KINDS)
  checks.choice('augmentation.model', g.model, ('cnn', 'resnet'))
  for kind in config_lib.KINDS:  # every kind's strengths, run or not
    if not g[kind]:
      raise UserError(f'augmentation.{kind}=() is not allowed; it takes one or more strengths')
    for i, value in enumerate(g[kind]):
      augment.check_strength(f'augmentation.{kind}[{i}]', kind, value)
  checks.positive('augmentation.epochs', g.epochs)
  checks.positive('augmentation.batch_size', g.batch_size)
  checks.greater_than_zero('augmentation.learning_rate', g.learning_rate)


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  raw = functools.cache(lambda: load_dataset(config.data, config.data_dir, config.download))
  subset = functools.cache(lambda n: groups.prepare(raw(), config.val_fraction, n))
  context = types.SimpleNamespace(workdir=workdir, manifest=manifest, config=config,
                                  data=lambda: subset(config.train_examples), subset=subset)
  measures = {name: functools.partial(module.measure, config[name], context)
              for name, module in SECTIONS.items()}
  return sections.run_sections(
      SECTIONS, config.sections, measures, workdir,
      'cnn: convolutional networks, their parts, the classic architectures, augmentation',
      ' '.join(__doc__.split('\n\n')[1:3]).replace('\n', ' '), manifest)


def summary(results: dict) -> str:
  found = results['headline'].get('architectures', {})
  tests = {k[5:]: v for k, v in found.items() if k.startswith('test_')}
  if tests:
    best = max(tests, key=tests.get)
    return f'best architecture {best} ({tests[best]:.2%})'
  return 'done'
