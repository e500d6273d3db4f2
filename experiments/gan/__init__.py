"""gan: generative adversarial networks: the generator's loss, the samples, augmentation.

Question: do the notes' and Goodfellow et al.'s claims about GANs hold when measured? The
minimax generator loss against the non-saturating one (the saturation argument, measured as
gradient norms); what the samples look like over training: their Fréchet distance to real
images in the feature space of a classifier trained here, their class histogram (mode
collapse), and grids of the same latent codes; and whether class-conditional samples help a
classifier trained on a small labelled set.

A generator and its discriminator train together in the engine's two-player step
(research/tasks/adversarial.py: each with its own optimizer, alternating updates); seeds train
as one vmapped ensemble in WORKDIR/runs/GROUP with checkpoints, a probe scoring the samples after
every call; finished sections are kept under sections/, so an interrupted experiment resumes
where it stopped.
"""
import functools
import pathlib
import types

import ml_collections

from experiments import sections
from experiments.gan import config as config_lib
from experiments.gan import as_augmentation, groups, losses, quality
from research import checks, typed_config
from research.data import IMAGE_SHAPES, NUM_CLASSES, load_dataset
from research.errors import UserError
from research.models.gan import KINDS as GAN_KINDS
from research.models.gan import check_image_shape

DESCRIPTION = 'GANs: minimax against non-saturating loss, sample quality, augmentation'
SECTIONS = {'losses': losses, 'quality': quality, 'as_augmentation': as_augmentation}
assert tuple(SECTIONS) == config_lib.SECTION_NAMES


get_config, describe = typed_config.command_line(config_lib.GanConfig)


def quick(c: ml_collections.ConfigDict) -> None:
  """Under 3 minutes on a 2-core CPU: digits (8 x 8), MLP players (DCGAN-style ones take
  about 10 minutes here: transposed convolutions are slow on XLA's CPU backend), short runs."""
  c.data = 'digits'
  c.fast_compile = True
  c.latent = 16
  c.kind = 'mlp'
  c.generator = (128, 128)
  c.discriminator = (128, 128)
  c.epochs = 150
  c.snapshots = 5
  c.batch_size = 32
  c.classifier.width = 128
  c.classifier.epochs = 30
  c.classifier.batch_size = 64
  c.losses.d_steps = (0, 10, 100, 300)
  c.quality.samples = 1000
  c.as_augmentation.gan_epochs = 200
  c.as_augmentation.classifier_epochs = 60


def validate(c: ml_collections.ConfigDict) -> None:
  sections.validate_shared(c, SECTIONS)
  checks.subset('data', (c.data,), NUM_CLASSES)
  if not NUM_CLASSES[c.data]:
    raise UserError(f'data={c.data} is not images; a GAN here generates image data sets')
  for key, value in (('latent', c.latent), ('epochs', c.epochs), ('snapshots', c.snapshots),
                     ('batch_size', c.batch_size), ('classifier.depth', c.classifier.depth),
                     ('classifier.width', c.classifier.width),
                     ('classifier.epochs', c.classifier.epochs),
                     ('classifier.batch_size', c.classifier.batch_size),
                     ('quality.samples', c.quality.samples), ('quality.grid', c.quality.grid),
                     ('as_augmentation.examples_per_class',
                      c.as_augmentation.examples_per_class),
                     ('as_augmentation.generated_per_class',
                      c.as_augmentation.generated_per_class),
                     ('as_augmentation.gan_epochs', c.as_augmentation.gan_epochs),
                     ('as_augmentation.classifier_epochs', c.as_augmentation.classifier_epochs),
                     ('as_augmentation.batch_size', c.as_augmentation.batch_size)):
    checks.positive(key, value)
  checks.choice('kind', c.kind, GAN_KINDS)
  check_image_shape(c.kind, c.generator, IMAGE_SHAPES[c.data], prefix='')
  checks.positive_ints('generator', c.generator)
  checks.positive_ints('discriminator', c.discriminator)
  if c.epochs % c.snapshots:
    raise UserError(f'epochs={c.epochs} must be a multiple of snapshots={c.snapshots}: a '
                    'snapshot follows every call of epochs / snapshots epochs')
  if not c.losses.d_steps or any(type(s) is not int or s < 0 for s in c.losses.d_steps):
    raise UserError(f'losses.d_steps={tuple(c.losses.d_steps)!r} is not allowed; it takes '
                    'whole numbers of discriminator steps')
  if c.quality.grid > c.quality.samples:
    raise UserError('quality.grid must be at most quality.samples')
  checks.greater_than_zero('learning_rate', c.learning_rate)
  checks.greater_than_zero('classifier.learning_rate', c.classifier.learning_rate)
  checks.rate('b1', c.b1)


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  context = types.SimpleNamespace(workdir=workdir, manifest=manifest, config=config)
  context.data = functools.cache(lambda: groups.prepare(
      load_dataset(config.data, config.data_dir, config.download)))
  context.scorer = functools.cache(lambda: groups.scorer(context))
  context.gan = functools.cache(lambda loss: groups.train_gan(context, loss, context.scorer()))
  measures = {name: functools.partial(module.measure, config[name], context)
              for name, module in SECTIONS.items()}
  return sections.run_sections(
      SECTIONS, config.sections, measures, workdir,
      'gan: the generator\'s loss, the samples\' quality, GAN samples as augmentation',
      ' '.join(__doc__.split('\n\n')[1:3]).replace('\n', ' '), manifest)


def summary(results: dict) -> str:
  found = results['headline'].get('quality', {})
  return (f"Fréchet distance {found['fd_start']:.3g} -> {found['fd_final']:.3g}"
          if found else 'done')
