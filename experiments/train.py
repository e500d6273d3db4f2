"""train: any model on any dataset with any optimizer.

Question: how well does this configuration learn? The generic experiment every other one builds
on; `python -m experiments run train model=cnn data=fashion_mnist steps=2000` and so on.
"""
import pathlib

import ml_collections

from experiments import checks
from research import losses, optim, report
from research.data import NAMES as DATASETS
from research.data.dataset import NORMALIZATIONS
from research.data import load_dataset
from research.errors import UserError
from research.models import MODELS
from research.models import cnn, lstm, mlp
from research.models.cnn import POOLS
from research.models.mlp import SKIPS
from research.models.resnet import BLOCKS, blocks_per_stage
from research.nn.activations import ACTIVATIONS
from research.nn.initializers import INITIALIZERS
from research.nn.normalization import NORMS
from research.train import distributed, loop, metrics_log, parallel

DESCRIPTION = 'train any model on any dataset with any optimizer (the generic experiment)'
MULTI_PROCESS = True  # runs under jax.distributed: see research/train/distributed.py


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.model = 'mlp'
  c.data = 'digits'
  c.data_dir = ''             # '' = the default places (see research/data)
  c.download = True           # fetch missing files (sha256-verified) when a network exists
  c.normalize = 'channel'     # or 'pixel_mean' (He et al.): see research/data/dataset.py
  c.steps = 2000
  c.batch_size = 128          # global: split over devices
  c.eval_batch_size = 1000
  c.log_every = 50
  c.steps_per_call = 1        # >1: that many steps per dispatch, as one lax.scan (see loop.py)
  c.eval_every = 500
  c.checkpoint_every = 500
  c.keep_checkpoints = 3
  c.diagnostics_every = 0     # per-layer gradient and activation statistics (0 = never)
  c.diagnostics_batch = 256   # on this many fixed training examples
  c.backend = 'shard_map'     # or 'pmap'
  c.num_devices = 0           # 0 = all local devices
  c.mlp = dict(depth=2, width=256, activation='relu', weight_init='he', norm='none',
               skip='none', dropout=0.0, dropout_kind='standard',
               dropconnect_per_example=False, dropconnect_samples=0)
  c.cnn = dict(channels=(32, 64), kernel_size=3, dense=(256,), activation='relu',
               weight_init='he', norm='none', pool='max', dropout=0.0, conv_dropout=0.0,
               conv_dropout_kind='standard', dropblock_size=3)
  c.resnet = dict(depth=20, block='residual', activation='relu', weight_init='he', norm='batch',
                  stochastic_depth=0.0)
  c.lstm = dict(hidden=128, layers=1, dropout=0.0, dropout_kind='variational')
  c.optim = dict(name='adam', learning_rate=1e-3, momentum=0.9, b1=0.9, b2=0.999,
                 weight_decay=0.0, grad_clip=0.0, schedule='constant', warmup_steps=0,
                 warmup_factor=0.1,
                 boundaries=(), decay_factor=0.1, freeze=())
  c.loss = dict(name='cross_entropy', label_smoothing=0.0, focal_gamma=2.0, huber_delta=1.0,
                class_weights=(), class_weight_norm='weights', focal_alpha=())
  c.augment = dict(flip=False, translate=0, rotate=0.0, scale=0.0, brightness=0.0,
                   contrast=0.0, noise=0.0)
  return c.lock()


def quick(c: ml_collections.ConfigDict) -> None:
  """The demo preset: 600 steps, which take the MLP on digits past 95% test accuracy."""
  c.steps, c.log_every, c.eval_every, c.checkpoint_every = 600, 50, 50, 200


def validate(c: ml_collections.ConfigDict) -> None:
  """Every check that needs no data or devices, so mistakes fail in milliseconds."""
  checks.choice('model', c.model, MODELS)
  checks.choice('data', c.data, DATASETS)
  checks.choice('normalize', c.normalize, NORMALIZATIONS)
  checks.choice('backend', c.backend, parallel.BACKENDS)
  for key in ('steps', 'batch_size', 'eval_batch_size', 'log_every', 'eval_every',
              'checkpoint_every', 'keep_checkpoints', 'steps_per_call'):
    checks.at_least(key, c[key], 1)
  checks.at_least('num_devices', c.num_devices, 0)
  checks.at_least('diagnostics_every', c.diagnostics_every, 0)
  checks.at_least('diagnostics_batch', c.diagnostics_batch, 1)
  checks.at_least('seed', c.seed, 0)
  for group in ('mlp', 'cnn', 'resnet'):
    g = c[group]
    checks.choice(f'{group}.activation', g.activation, ACTIVATIONS)
    checks.choice(f'{group}.weight_init', g.weight_init, INITIALIZERS)
    checks.choice(f'{group}.norm', g.norm, NORMS)
  for key in ('mlp.dropout', 'cnn.dropout', 'cnn.conv_dropout', 'lstm.dropout',
              'resnet.stochastic_depth'):
    group, name = key.split('.')
    checks.rate(key, c[group][name])
  checks.choice('mlp.skip', c.mlp.skip, SKIPS)
  checks.choice('mlp.dropout_kind', c.mlp.dropout_kind, mlp.DROPOUTS)
  checks.choice('cnn.conv_dropout_kind', c.cnn.conv_dropout_kind, cnn.CONV_DROPOUTS)
  checks.choice('lstm.dropout_kind', c.lstm.dropout_kind, lstm.DROPOUTS)
  checks.choice('resnet.block', c.resnet.block, BLOCKS)
  if c.resnet.stochastic_depth and c.resnet.block != 'residual':
    raise UserError('resnet.stochastic_depth drops residual branches: it needs '
                    'resnet.block=residual')
  for key in ('cnn.dropblock_size', 'lstm.hidden', 'lstm.layers'):
    group, name = key.split('.')
    checks.at_least(key, c[group][name], 1)
  blocks_per_stage(c.resnet.depth)
  checks.at_least('mlp.depth', c.mlp.depth, 1)
  checks.at_least('mlp.dropconnect_samples', c.mlp.dropconnect_samples, 0)
  if c.mlp.dropconnect_samples and c.mlp.norm != 'none':
    raise UserError('mlp.dropconnect_samples (Gaussian inference) averages the activation of '
                    'the raw pre-activations: it needs mlp.norm=none')
  checks.at_least('mlp.width', c.mlp.width, 1)
  checks.choice('cnn.pool', c.cnn.pool, POOLS)
  for n in (*c.cnn.channels, *c.cnn.dense, c.cnn.kernel_size):
    if not isinstance(n, int) or n < 1:
      raise UserError('cnn.channels, cnn.dense and cnn.kernel_size take positive integers')
  checks.choice('optim.name', c.optim.name, optim.OPTIMIZERS)
  checks.choice('optim.schedule', c.optim.schedule, optim.SCHEDULES)
  checks.greater_than_zero('optim.learning_rate', c.optim.learning_rate)
  checks.greater_than_zero('optim.warmup_factor', c.optim.warmup_factor)
  for key in ('weight_decay', 'grad_clip', 'warmup_steps'):
    checks.at_least(f'optim.{key}', c.optim[key], 0)
  checks.choice('loss.name', c.loss.name, losses.NAMES)
  checks.rate('loss.label_smoothing', c.loss.label_smoothing)
  checks.choice('loss.class_weight_norm', c.loss.class_weight_norm, losses.WEIGHT_NORMS)
  for key in ('class_weights', 'focal_alpha'):
    if any(not isinstance(w, (int, float)) or w < 0 for w in c.loss[key]):
      raise UserError(f'loss.{key}={tuple(c.loss[key])!r} is not allowed; it takes one '
                      'non-negative number per class')
  for key in ('translate', 'rotate', 'scale', 'brightness', 'contrast', 'noise'):
    checks.at_least(f'augment.{key}', c.augment[key], 0)


def _write_report(workdir: pathlib.Path, config, results: dict) -> None:
  records = metrics_log.read_records(workdir)
  train = [r for r in records if r['split'] == 'train']
  test = [r for r in records if r['split'] == 'test']
  report.plot_curves(workdir / 'loss.png', {
      'train loss': ([r['step'] for r in train], [r['loss'] for r in train]),
      'test loss': ([r['step'] for r in test], [r['loss'] for r in test])},
      'step', 'loss', title=f'{config.model} on {config.data}', logy=True)
  t = results['test']
  table = report.markdown_table(
      ['metric', 'value'],
      [[k, t[k]] for k in ('accuracy', 'loss', 'log_loss', 'precision_macro', 'recall_macro',
                           'f1_macro', 'roc_auc_macro', 'ece')])
  (workdir / 'report.md').write_text(f"""# train: {config.model} on {config.data}

## Question
How well does a {config.model} learn {config.data} with {config.optim.name}
(lr {config.optim.learning_rate}, {config.optim.schedule}) in {config.steps} steps of batch
{config.batch_size}?

## Setup
{results['num_params']:,} parameters; {results['devices']} device(s), backend {config.backend};
seed {config.seed}. Full config: `config.json`; versions and machine: `manifest.json`.

## Measurement (test set, {t['count']} examples)
{table}

![loss curves](loss.png)

## Conclusion
After {config.steps} steps the test accuracy is {t['accuracy']:.2%} (log loss
{t['log_loss']:.4f}, ECE {t['ece']:.4f}). Final state fingerprint
`{results['state_fingerprint']}`.
""")


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  dataset = load_dataset(config.data, config.data_dir, config.download)
  results = loop.train_and_evaluate(config, workdir, dataset, manifest)
  if distributed.is_main():
    _write_report(workdir, config, results)
  return results


def summary(results: dict) -> str:
  return (f'test accuracy {results["test"]["accuracy"]:.4f}, '
          f'fingerprint {results["state_fingerprint"][:16]}')
