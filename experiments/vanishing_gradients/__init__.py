"""vanishing_gradients: how gradients shrink with depth, and what residual connections change.

Question: where do gradients vanish, and do skip connections (H(x) = F(x) + x) and
normalisation let deep networks learn? Four sections, each with a table, a plot and a
conclusion in report.md: gradient norm profiles at initialisation; training deep plain,
residual and highway MLPs; BatchNorm and LayerNorm as the other remedy; and the ResNet paper's
plain-20/56 against ResNet-20/56 on CIFAR-10.

Training runs are `train` runs in WORKDIR/runs/NAME, each resumable; finished sections are kept
under sections/, so an interrupted experiment resumes where it stopped.
"""
import functools
import pathlib
import types

import jax
import ml_collections

from experiments import sections
from research import checks, typed_config
from experiments.vanishing_gradients import (depth_training, init_profiles, normalisation,
                                             resnet_cifar)
from experiments.vanishing_gradients import config as config_lib
from research.data import NAMES as DATASETS
from research.data import load_dataset
from research.data.dataset import NORMALIZATIONS
from research.models.mlp import SKIPS
from research.models.resnet import BLOCKS
from research.nn.activations import ACTIVATIONS
from research.nn.initializers import INITIALIZERS
from research.nn.normalization import NORMS

DESCRIPTION = 'vanishing gradients with and without residual connections, from init to ResNet'
SECTIONS = {'init_profiles': init_profiles, 'depth_training': depth_training,
            'normalisation': normalisation, 'resnet_cifar': resnet_cifar}
assert tuple(SECTIONS) == config_lib.SECTION_NAMES


get_config, describe = typed_config.command_line(config_lib.VanishingGradientsConfig)


def quick(c: ml_collections.ConfigDict) -> None:
  """Under 3 minutes on a 2-core CPU: digits for everything, fewer depths, short runs."""
  c.data = 'digits'
  c.init_profiles.depths = (32,)
  c.init_profiles.skips = ('none', 'residual')
  c.depth_training.depths = (8, 32)
  c.depth_training.skips = ('none', 'residual')
  c.depth_training.steps = 400
  c.depth_training.diagnostics_every = 50
  c.normalisation.depths = (32,)
  c.normalisation.skips = ('none',)
  c.resnet_cifar.data = 'digits'
  c.resnet_cifar.depths = (8, 20)
  c.resnet_cifar.steps = 150
  c.resnet_cifar.boundaries = (75, 110)
  c.resnet_cifar.flip = False  # digits are not mirror-symmetric
  c.resnet_cifar.translate = 1
  c.resnet_cifar.log_every, c.resnet_cifar.eval_every = 10, 150
  c.resnet_cifar.checkpoint_every = 150


def validate(c: ml_collections.ConfigDict) -> None:
  sections.validate_shared(c, SECTIONS)
  checks.subset('data', (c.data,), DATASETS)
  checks.subset('resnet_cifar.data', (c.resnet_cifar.data,), DATASETS)
  p, t, n, r = c.init_profiles, c.depth_training, c.normalisation, c.resnet_cifar
  checks.positive_ints('init_profiles.depths', p.depths)
  checks.subset('init_profiles.activations', p.activations, ACTIVATIONS)
  checks.subset('init_profiles.inits', p.inits, INITIALIZERS)
  checks.subset('init_profiles.skips', p.skips, SKIPS)
  checks.positive_ints('depth_training.depths', t.depths)
  checks.subset('depth_training.skips', t.skips, SKIPS)
  checks.subset('depth_training.activation', (t.activation,), ACTIVATIONS)
  checks.subset('depth_training.weight_init', (t.weight_init,), INITIALIZERS)
  checks.positive_ints('normalisation.depths', n.depths)
  checks.subset('normalisation.skips', n.skips, SKIPS)
  checks.subset('normalisation.norms', n.norms, NORMS)
  checks.subset('resnet_cifar.blocks', r.blocks, BLOCKS)
  checks.positive_ints('resnet_cifar.depths', r.depths)
  for i, depth in enumerate(r.depths):
    checks.cifar_resnet_depth(f'resnet_cifar.depths[{i}]', depth)
  for key, value in (('init_profiles.width', p.width), ('init_profiles.batch', p.batch),
                     ('depth_training.width', t.width), ('depth_training.steps', t.steps),
                     ('depth_training.batch_size', t.batch_size),
                     ('resnet_cifar.steps', r.steps), ('resnet_cifar.batch_size', r.batch_size)):
    checks.positive(key, value)
  checks.at_least('depth_training.diagnostics_every', t.diagnostics_every, 1)
  checks.greater_than_zero('depth_training.learning_rate', t.learning_rate)
  checks.greater_than_zero('resnet_cifar.learning_rate', r.learning_rate)
  checks.choice('resnet_cifar.normalize', r.normalize, NORMALIZATIONS)
  checks.at_least('resnet_cifar.warmup_steps', r.warmup_steps, 0)
  checks.greater_than_zero('resnet_cifar.warmup_factor', r.warmup_factor)


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  load = functools.cache(lambda name, data_dir: load_dataset(name, data_dir, config.download))
  needs_mlp_data = {'init_profiles', 'depth_training', 'normalisation'} & set(config.sections)
  context = types.SimpleNamespace(
      workdir=workdir, manifest=manifest, config=config, load=load,
      dataset=load(config.data, config.data_dir) if needs_mlp_data else None,
      common={'seed': config.seed, 'data': config.data, 'data_dir': config.data_dir,
              'download': config.download, 'backend': config.backend,
              'num_devices': config.num_devices})
  key = jax.random.key(config.seed)
  measures = {
      'init_profiles': lambda: init_profiles.measure(config.init_profiles, context.dataset, key),
      'depth_training': lambda: depth_training.measure(config.depth_training, context),
      'normalisation': lambda: normalisation.measure(config.normalisation, context),
      'resnet_cifar': lambda: resnet_cifar.measure(config.resnet_cifar, context)}
  return sections.run_sections(
      SECTIONS, config.sections, measures, workdir,
      'vanishing_gradients: depth, skip connections and normalisation',
      __doc__.split('\n\n')[1] + ' Every training run is in `runs/`.', manifest)


def summary(results: dict) -> str:
  parts = []
  init = results['headline'].get('init_profiles', {})
  for skip in ('none', 'residual'):
    value = init.get(f'first_over_last_depth32_sigmoid_glorot_{skip}')
    if value is not None:
      parts.append(f'depth-32 sigmoid first/last grad {skip} {value:.1e}')
  training = results['headline'].get('depth_training', {})
  for skip in ('none', 'residual'):
    value = training.get(f'test_accuracy_{skip}_depth32')
    if value is not None:
      parts.append(f'depth-32 {skip} test accuracy {value:.3f}')
  return ', '.join(parts) or 'done'
