"""autoencoders: what a bottleneck learns: PCA's subspace, a curved code, a denoiser, a loss.

Question: what does an autoencoder learn, and when is it more than PCA? A linear autoencoder
against PCA's principal subspace (Baldi and Hornik 1989), deep autoencoders against PCA at
every code size, denoising autoencoders (Vincent et al. 2008) scored on clean targets and by a
linear probe on their codes, and the reconstruction loss (MSE, MAE, binary cross-entropy).

Learning rates are chosen on a validation split held out of the training data (fixed,
stratified); the test set only reports. Seeds and rates of one autoencoder train together as
one vmapped ensemble (research/train/ensemble.py, task=reconstruction) in WORKDIR/runs/GROUP
with checkpoints; finished sections are kept under sections/, so an interrupted experiment
resumes where it stopped.
"""
import functools
import pathlib
import types

import ml_collections

from experiments import sections
from experiments.autoencoders import config as config_lib
from experiments.autoencoders import (denoising, depth_and_bottleneck, groups, linear_vs_pca,
                                      reconstruction_loss)
from research import checks, tasks, typed_config
from research.data import NUM_CLASSES, load_dataset
from research.errors import UserError

DESCRIPTION = 'autoencoders: PCA subspace, depth and bottleneck, denoising, the loss'
SECTIONS = {'linear_vs_pca': linear_vs_pca, 'depth_and_bottleneck': depth_and_bottleneck,
            'denoising': denoising, 'reconstruction_loss': reconstruction_loss}
assert tuple(SECTIONS) == config_lib.SECTION_NAMES


get_config, describe = typed_config.command_line(config_lib.AutoencodersConfig)


def quick(c: ml_collections.ConfigDict) -> None:
  """Under 3 minutes on a 2-core CPU: digits (8 x 8), small autoencoders, short runs."""
  c.data = 'digits'
  c.fast_compile = True
  c.epochs_per_call = 0
  c.val_fraction = 0.2
  c.linear_vs_pca.codes = (4, 8)
  c.linear_vs_pca.epochs = 100
  c.linear_vs_pca.batch_size = 64
  c.linear_vs_pca.rates = (1e-2, 3e-2)
  c.depth_and_bottleneck.codes = (2, 4, 8, 16)
  c.depth_and_bottleneck.encoders = ((128,), (128, 64))
  c.depth_and_bottleneck.epochs = 100
  c.depth_and_bottleneck.batch_size = 64
  c.depth_and_bottleneck.rates = (1e-3, 3e-3)
  c.denoising.code = 16
  c.denoising.encoder = (128,)
  c.denoising.epochs = 60
  c.denoising.batch_size = 64
  c.denoising.probe_examples = 0
  c.reconstruction_loss.code = 16
  c.reconstruction_loss.encoder = (128,)
  c.reconstruction_loss.epochs = 60
  c.reconstruction_loss.batch_size = 64
  c.reconstruction_loss.rates = (3e-3, 1e-2, 3e-2)


def validate(c: ml_collections.ConfigDict) -> None:
  sections.validate_shared(c, SECTIONS)
  checks.subset('data', (c.data,), NUM_CLASSES)
  if not NUM_CLASSES[c.data]:
    raise UserError(f'data={c.data} is not images; autoencoders reconstruct image data sets')
  for section in ('linear_vs_pca', 'depth_and_bottleneck', 'denoising', 'reconstruction_loss'):
    for key in ('epochs', 'batch_size'):
      checks.positive(f'{section}.{key}', c[section][key])
  for section in ('linear_vs_pca', 'depth_and_bottleneck', 'reconstruction_loss'):
    if not c[section].rates or any(not rate > 0 for rate in c[section].rates):
      raise UserError(f'{section}.rates={tuple(c[section].rates)!r} is not allowed; it takes '
                      'one or more learning rates > 0')
  for section in ('linear_vs_pca', 'depth_and_bottleneck'):
    checks.positive_ints(f'{section}.codes', c[section].codes)
  # An empty encoder is the linear autoencoder (no hidden layer).
  for encoder in (*c.depth_and_bottleneck.encoders, c.denoising.encoder,
                  c.reconstruction_loss.encoder):
    if encoder:
      checks.positive_ints('encoder', encoder)
  checks.positive('denoising.code', c.denoising.code)
  checks.positive('reconstruction_loss.code', c.reconstruction_loss.code)
  checks.subset('reconstruction_loss.losses', c.reconstruction_loss.losses,
                tasks.RECONSTRUCTION_LOSSES)
  checks.greater_than_zero('denoising.learning_rate', c.denoising.learning_rate)
  for key in ('gaussian', 'mask'):
    if any(v < 0 for v in c.denoising[key]):
      raise UserError(f'denoising.{key}={tuple(c.denoising[key])!r} is not allowed; levels '
                      'are 0 or more')
  checks.rate('denoising.mask', max(c.denoising.mask, default=0.0))
  checks.at_least('denoising.eval_gaussian', c.denoising.eval_gaussian, 0)
  checks.rate('denoising.eval_mask', c.denoising.eval_mask)
  checks.at_least('denoising.probe_examples', c.denoising.probe_examples, 0)
  checks.positive('denoising.probe_max_iter', c.denoising.probe_max_iter)


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  raw = functools.cache(lambda: load_dataset(config.data, config.data_dir, config.download))
  prepared = lambda normalization: functools.cache(
      lambda: groups.prepare(raw(), config.val_fraction, normalization))
  context = types.SimpleNamespace(workdir=workdir, manifest=manifest, config=config,
                                  data=prepared('channel'), unit_data=prepared('unit'))
  measures = {name: functools.partial(module.measure, config[name], context)
              for name, module in SECTIONS.items()}
  return sections.run_sections(
      SECTIONS, config.sections, measures, workdir,
      'autoencoders: PCA subspace, depth and bottleneck, denoising, the loss',
      ' '.join(__doc__.split('\n\n')[1:3]).replace('\n', ' '), manifest)


def summary(results: dict) -> str:
  found = results['headline'].get('linear_vs_pca', {})
  return ', '.join(f'{k}: {v:+.2%}' for k, v in found.items() if k.startswith('excess')) or 'done'
