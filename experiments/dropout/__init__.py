"""dropout: the dropout family compared honestly, on MLPs, CNNs, LSTMs and ResNets.

Question: how much does each kind of dropout regularise, where, and what does it cost? Five
sections, each with a table (mean ± std over seeds), a plot and a conclusion in report.md:
unit dropout and its variants on an MLP, dropout on convolutional features, dropout in an
LSTM, stochastic depth in a ResNet, and Monte Carlo dropout's calibration.

Seeds and rates of one model are independent runs trained together as one compiled program,
vmapped in batches (research/train/ensemble.py), in WORKDIR/runs/GROUP with checkpoints;
finished sections are kept under sections/, so an interrupted experiment resumes where it
stopped.
"""
import functools
import pathlib
import sys
import types

import ml_collections

from experiments import sections
from research import checks, typed_config
from experiments.dropout import (cnn_variants, lstm_variants, mc_dropout, mlp_variants,
                                 stochastic_depth)
from experiments.dropout import config as config_lib
from experiments.dropout import groups
from research.data import NAMES as DATASETS
from research.data import load_dataset
from research.errors import UserError

DESCRIPTION = 'dropout and its variants: MLP, CNN, LSTM, stochastic depth, MC dropout'
SECTIONS = {'mlp_variants': mlp_variants, 'cnn_variants': cnn_variants,
            'lstm_variants': lstm_variants, 'stochastic_depth': stochastic_depth,
            'mc_dropout': mc_dropout}
assert tuple(SECTIONS) == config_lib.SECTION_NAMES


get_config, describe = typed_config.command_line(config_lib.DropoutConfig)


def quick(c: ml_collections.ConfigDict) -> None:
  """Under 3 minutes on a 2-core CPU: digits everywhere, small subsets and networks, one
  dropout rate outside section 1, short runs. Compiling dominates at this size; convolutional
  and recurrent members run one at a time, which compiles faster than a vmapped batch here."""
  c.data = 'digits'
  c.fast_compile = True
  c.mlp_variants.update(dict(train_examples=300, width=128, epochs=50, batch_size=50,
                             epochs_per_call=0))
  c.cnn_variants.update(dict(data='digits', rates=(0.2,), train_examples=300, channels=(8, 16),
                             dense=(32,), dropblock_size=2, epochs=60, batch_size=50,
                             learning_rate=3e-3, epochs_per_call=0, vmap_members=1))
  c.lstm_variants.update(dict(rates=(0.3,), train_examples=400, hidden=32, epochs=50,
                              batch_size=50, learning_rate=5e-3, epochs_per_call=0,
                              vmap_members=1))
  c.stochastic_depth.update(dict(data='digits', depth=8, train_examples=150, epochs=8,
                                 batch_size=50, flip=False, translate=1, epochs_per_call=4,
                                 vmap_members=1))
  c.mc_dropout.samples = (1, 2, 5, 10, 20, 50)


def validate(c: ml_collections.ConfigDict) -> None:
  sections.validate_shared(c, SECTIONS)
  for key, value in (('data', c.data), ('cnn_variants.data', c.cnn_variants.data),
                     ('stochastic_depth.data', c.stochastic_depth.data)):
    checks.subset(key, (value,), DATASETS)
  m, n, r, s, mc = (c.mlp_variants, c.cnn_variants, c.lstm_variants, c.stochastic_depth,
                    c.mc_dropout)
  checks.subset('mlp_variants.variants', m.variants, mlp_variants.VARIANTS)
  checks.subset('cnn_variants.variants', n.variants, cnn_variants.VARIANTS)
  checks.subset('lstm_variants.variants', r.variants, lstm_variants.VARIANTS)
  for group in ('mlp_variants', 'cnn_variants', 'lstm_variants', 'stochastic_depth'):
    checks.rates(f'{group}.rates', c[group].rates)
    for key in ('epochs', 'batch_size'):
      checks.positive(f'{group}.{key}', c[group][key])
    for key in ('train_examples', 'epochs_per_call', 'vmap_members'):
      checks.whole(f'{group}.{key}', c[group][key])
    checks.greater_than_zero(f'{group}.learning_rate', c[group].learning_rate)
  for key, value in (('mlp_variants.depth', m.depth), ('mlp_variants.width', m.width),
                     ('cnn_variants.dropblock_size', n.dropblock_size),
                     ('lstm_variants.hidden', r.hidden), ('lstm_variants.layers', r.layers),
                     *(('cnn_variants.channels', v) for v in (*n.channels, *n.dense))):
    checks.positive(key, value)
  checks.cifar_resnet_depth('stochastic_depth.depth', s.depth)
  if mc.variant == 'none' or mc.variant not in m.variants:
    raise UserError(f'mc_dropout.variant={mc.variant!r} must be one of the dropout variants of '
                    f'mlp_variants.variants {tuple(m.variants)}: it evaluates those networks')
  if mc.rate not in m.rates:
    raise UserError(f'mc_dropout.rate={mc.rate} must be one of mlp_variants.rates '
                    f'{tuple(m.rates)}: it evaluates those trained networks')
  checks.positive_ints('mc_dropout.samples', mc.samples)


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  load = functools.cache(lambda name, data_dir: load_dataset(name, data_dir, config.download))
  needs_data = {'mlp_variants', 'lstm_variants', 'mc_dropout'} & set(config.sections)
  context = types.SimpleNamespace(
      workdir=workdir, manifest=manifest, config=config, load=load,
      dataset=load(config.data, config.data_dir) if needs_data else None)
  measures = {name: functools.partial(module.measure, config[name], context)
              for name, module in SECTIONS.items()}
  if {'mlp_variants', 'cnn_variants', 'lstm_variants'} & set(config.sections):
    print(groups.TEST_SELECTION, file=sys.stderr)
  return sections.run_sections(
      SECTIONS, config.sections, measures, workdir,
      'dropout: the family, compared over seeds',
      __doc__.split('\n\n')[1] + ' ' + __doc__.split('\n\n')[2].replace('\n', ' '), manifest)


def summary(results: dict) -> str:
  parts = []
  mlp = results['headline'].get('mlp_variants', {})
  if 'best' in mlp:
    parts.append(f"best MLP dropout {mlp['best']}")
  if 'vmap_speedup' in mlp:
    parts.append(f"vmap {mlp['vmap_speedup']:.1f}x faster than one by one")
  mc = results['headline'].get('mc_dropout', {})
  if 'ece_weight_scaling' in mc:
    last = next(k for k in mc if k.startswith('ece_mc_'))
    parts.append(f"ECE {mc['ece_weight_scaling']:.3f} -> {mc[last]:.3f} with MC dropout")
  return ', '.join(parts) or 'done'
