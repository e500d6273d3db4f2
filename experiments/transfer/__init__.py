"""transfer: transfer learning and fine-tuning, pre-trained here on half of the classes.

Question: when does a network trained on one task help on another? The classes split into two
disjoint halves A and B (as Yosinski et al. 2014 split ImageNet's); a source network trained on A
(an ordinary `train` run, reusable by any run with `init_from=`) is transferred to B as a
frozen feature extractor, fine-tuned, or in two stages, with few and many labels; its first n
layers are copied, frozen or fine-tuned, for every n; sources trained ever further from B
(shuffled input positions) show where transfer stops helping; and linear probes of every layer
show how generic its features are.

Every comparison is over seeds with 95% intervals, and a gain inside the spread is
inconclusive; B's validation split (fixed, stratified) gives the targets, its test split
reports. The runs on B train as vmapped ensembles of seeds in WORKDIR/runs/GROUP with
checkpoints; finished sections are kept under sections/, so an interrupted experiment resumes
where it stopped.
"""
import functools
import pathlib
import types

import ml_collections

from experiments import sections
from experiments.transfer import domain_shift, features, freeze_depth, strategies
from experiments.transfer import config as config_lib
from research import checks, typed_config
from research.data import NUM_CLASSES, load_dataset
from research.errors import UserError

DESCRIPTION = 'transfer learning: strategies, frozen depth, domain shift, generic features'
SECTIONS = {'strategies': strategies, 'freeze_depth': freeze_depth,
            'domain_shift': domain_shift, 'features': features}
assert tuple(SECTIONS) == config_lib.SECTION_NAMES


get_config, describe = typed_config.command_line(config_lib.TransferConfig)


def quick(c: ml_collections.ConfigDict) -> None:
  """Under 3 minutes on a 2-core CPU: digits halves, a 3-layer MLP, short runs."""
  c.data = 'digits'
  c.fast_compile = True
  c.model = 'mlp'
  c.depth = 2
  c.width = 64
  c.val_fraction = 0.2
  c.records = 10
  c.source.steps = 600
  c.source.batch_size = 64
  c.strategies.examples = (5, 20, 0)
  c.strategies.steps = 200
  c.strategies.batch_size = 32
  c.freeze_depth.examples = 20
  c.freeze_depth.steps = 200
  c.freeze_depth.batch_size = 32
  c.domain_shift.examples = 20
  c.domain_shift.steps = 200
  c.domain_shift.batch_size = 32


def validate(c: ml_collections.ConfigDict) -> None:
  sections.validate_shared(c, SECTIONS)
  checks.subset('data', (c.data,), NUM_CLASSES)
  classes = NUM_CLASSES[c.data]
  if not classes:
    raise UserError(f'data={c.data} has real-valued targets; transfer needs classes')
  for key, value in (('classes_a', c.classes_a), ('classes_b', c.classes_b)):
    if len(value) < 2 or any(type(k) is not int or not 0 <= k < classes for k in value):
      raise UserError(f'{key}={tuple(value)!r} is not allowed; it takes two or more classes '
                      f'of {c.data}, 0 to {classes - 1}')
  if set(c.classes_a) & set(c.classes_b) or len(c.classes_a) != len(c.classes_b):
    raise UserError('classes_a and classes_b must be disjoint halves of the same size (the '
                    'head is replaced, but the copied layers must fit)')
  checks.choice('model', c.model, ('mlp', 'cnn'))
  for key, value in (('depth', c.depth), ('width', c.width), ('records', c.records),
                     ('source.steps', c.source.steps),
                     ('source.batch_size', c.source.batch_size),
                     ('strategies.steps', c.strategies.steps),
                     ('strategies.batch_size', c.strategies.batch_size),
                     ('freeze_depth.steps', c.freeze_depth.steps),
                     ('freeze_depth.batch_size', c.freeze_depth.batch_size),
                     ('domain_shift.steps', c.domain_shift.steps),
                     ('domain_shift.batch_size', c.domain_shift.batch_size),
                     ('features.random_seeds', c.features.random_seeds),
                     ('features.max_iter', c.features.max_iter)):
    checks.positive(key, value)
  checks.positive_ints('channels', c.channels)
  checks.positive_ints('dense', c.dense)
  if any(type(n) is not int or n < 0 for n in c.strategies.examples) or not c.strategies.examples:
    raise UserError(f'strategies.examples={tuple(c.strategies.examples)!r} is not allowed; it '
                    'takes whole numbers of examples per class (0 = all)')
  for key in ('freeze_depth', 'domain_shift', 'features'):
    checks.at_least(f'{key}.examples', c[key].examples, 0)
  if not c.domain_shift.fractions or any(not 0 <= f <= 1 for f in c.domain_shift.fractions):
    raise UserError(f'domain_shift.fractions={tuple(c.domain_shift.fractions)!r} is not '
                    'allowed; each is a fraction of positions shuffled, 0 to 1')
  checks.rate('strategies.head_fraction', c.strategies.head_fraction)
  checks.greater_than_zero('strategies.head_fraction', c.strategies.head_fraction)
  for key in ('source', 'strategies', 'freeze_depth', 'domain_shift'):
    checks.greater_than_zero(f'{key}.learning_rate', c[key].learning_rate)


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  context = types.SimpleNamespace(
      workdir=workdir, manifest=manifest, config=config,
      load=functools.cache(lambda: load_dataset(config.data, config.data_dir, config.download)))
  measures = {'strategies': lambda: strategies.measure(config.strategies, context),
              'freeze_depth': lambda: freeze_depth.measure(config.freeze_depth, context),
              'domain_shift': lambda: domain_shift.measure(config.domain_shift, context),
              'features': lambda: features.measure(config.features, context)}
  return sections.run_sections(
      SECTIONS, config.sections, measures, workdir,
      'transfer: strategies, frozen depth, domain shift, generic features',
      ' '.join(__doc__.split('\n\n')[1:3]).replace('\n', ' '), manifest)


def summary(results: dict) -> str:
  found = results['headline'].get('strategies', {})
  return ', '.join(f'{k[len("best_"):]} per class: {v}' for k, v in found.items()
                   if k.startswith('best_')) or 'done'
