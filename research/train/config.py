"""The typed description of a training run: every option's one home.

Each option is a field of a frozen dataclass with its default and a comment that says what it
is (research/typed_config.py reads those comments, for `python -m experiments config`). A
model's options are the model's own fields (research/models), so a new option is one edit
there. The command line works on `to_config_dict`'s view and comes back through
`from_config_dict`; `validate` is the one place that checks a config before anything runs.
"""
import dataclasses

import ml_collections

from research import checks, losses, optim, tasks, typed_config
from research.data import augment
from research.data.augment import AugmentConfig
from research.data.splits import SplitConfig
from research.train.early_stopping import GOALS, EarlyStoppingConfig
from research.losses import LossConfig
from research.optim import OptimConfig
from research.errors import UserError
from research.models import MODELS
from research.models.gan import KINDS as GAN_KINDS
from research.models.gan import check_image_shape as check_gan_shape
from research.precision import PRECISIONS

# Constructor arguments the run supplies, not the user.
_SUPPLIED = ('num_classes', 'axis_name', 'parent', 'name')


def _options_of(model_class) -> type:
  """A frozen dataclass of the model's user-facing fields, with the model's defaults."""
  fields = [(f.name, f.type, dataclasses.field(default=f.default))
            for f in dataclasses.fields(model_class) if f.name not in _SUPPLIED]
  options = dataclasses.make_dataclass(f'{model_class.__name__}Options', fields, frozen=True)
  options.described_by = model_class  # whose source holds the comments (typed_config)
  return options


OPTIONS = {name: _options_of(model_class) for name, model_class in MODELS.items()}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  seed: int = 0                 # everything random is a function of (seed, step, example index)
  task: str = 'classification'  # classification, binary, regression or reconstruction
  corruption: tasks.CorruptionConfig = tasks.CorruptionConfig()  # reconstruction's inputs
  adversarial: tasks.AdversarialConfig = tasks.AdversarialConfig()  # task=adversarial's rule
  model: str = 'mlp'            # the model group below that is trained: mlp, cnn, resnet, ...
  data: str = 'digits'          # digits, fashion_mnist, mnist, cifar10, breast_cancer, diabetes...
  data_dir: str = ''            # where the data files are; '' = the default places
  split: SplitConfig = SplitConfig()  # validation split and subsets (research/data/splits.py)
  init_from: str = ''           # a run directory whose newest weights start this run; '' = none
  init_exclude: str = ''        # regex over parameter paths kept freshly initialised (a new head)
  early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()  # checked at each evaluation
  download: bool = True         # fetch missing files (sha256-verified) when a network exists
  normalize: str = 'channel'    # channel (x - mean_C) / std_C, pixel_mean (He et al. 2015), unit
  steps: int = 2000             # optimizer updates in all
  batch_size: int = 128         # the global batch, split over the devices
  eval_batch_size: int = 1000   # examples per evaluation call (padded to a device multiple)
  log_every: int = 50           # steps between train-metric records and NaN checks
  steps_per_call: int = 0       # steps per dispatch, as one lax.scan (0: 1 on CPU, 100 on GPU/TPU)
  grad_accum: int = 1           # microbatches per device batch, their gradients averaged
  precision: str = 'float32'    # float32, or mixed: bfloat16 arithmetic, float32 parameters
  eval_every: int = 500         # steps between test evaluations
  checkpoint_every: int = 500   # steps between Orbax checkpoints
  keep_checkpoints: int = 3     # newest checkpoints kept on disk
  diagnostics_every: int = 0    # steps between per-layer gradient/activation probes; 0 = never
  diagnostics_batch: int = 256  # training examples the probe uses (the first ones, fixed)
  profile_steps: tuple[int, ...] = ()  # (a, b): a jax.profiler trace of steps a to b in profile/
  backend: str = 'shard_map'    # shard_map (jax.shard_map under jit) or pmap
  num_devices: int = 0          # devices to use; 0 = all local devices
  mlp: OPTIONS['mlp'] = OPTIONS['mlp']()          # the MLP's options (model=mlp)
  cnn: OPTIONS['cnn'] = OPTIONS['cnn']()          # the CNN's options (model=cnn)
  resnet: OPTIONS['resnet'] = OPTIONS['resnet']()  # the CIFAR ResNet's options (model=resnet)
  vgg: OPTIONS['vgg'] = OPTIONS['vgg']()          # VGG's stages and head (model=vgg)
  inception: OPTIONS['inception'] = OPTIONS['inception']()  # its modules (model=inception)
  xception: OPTIONS['xception'] = OPTIONS['xception']()  # its three flows (model=xception)
  lstm: OPTIONS['lstm'] = OPTIONS['lstm']()       # the row-reading LSTM's options (model=lstm)
  autoencoder: OPTIONS['autoencoder'] = OPTIONS['autoencoder']()  # (task=reconstruction)
  gan: OPTIONS['gan'] = OPTIONS['gan']()          # generator and discriminator (task=adversarial)
  optim: OptimConfig = OptimConfig()        # the optimizer and learning-rate schedule
  loss: LossConfig = LossConfig()           # the training loss
  augment: AugmentConfig = AugmentConfig()  # per-example augmentation

  def model_options(self) -> dict:
    """The trained model's options, as keyword arguments."""
    return dataclasses.asdict(getattr(self, self.model))


def to_dict(config) -> dict:
  return typed_config.to_dict(config)


def to_config_dict(config: TrainConfig) -> ml_collections.ConfigDict:
  return typed_config.to_config_dict(config)


def from_config_dict(values) -> TrainConfig:
  """A TrainConfig from a ConfigDict or a plain dict (config.json); lists become tuples."""
  return typed_config.from_dict(TrainConfig, values)


replace = typed_config.replace


def describe(config: TrainConfig = TrainConfig()) -> list[tuple[str, str, object, str]]:
  return typed_config.describe(config)


def validate(c: TrainConfig) -> None:
  """Every check that needs no data or devices, so a mistake fails in milliseconds, as a
  UserError naming the key. Checks that need the data (a class count) or the devices run
  where those are known and raise the same way."""
  from research.data import NAMES as DATASETS
  from research.data.dataset import NORMALIZATIONS
  from research.models import cnn, lstm, mlp, resnet
  from research.nn.activations import ACTIVATIONS
  from research.nn.initializers import INITIALIZERS
  from research.nn.normalization import NORMS
  from research.train import parallel
  _validate_run(c, DATASETS, NORMALIZATIONS, parallel.BACKENDS)
  _validate_split(c)
  _validate_init(c)
  _validate_early_stopping(c)
  _validate_task(c)
  for group in ('mlp', 'cnn', 'resnet', 'vgg', 'inception', 'xception', 'autoencoder'):
    g = getattr(c, group)
    checks.choice(f'{group}.activation', g.activation, ACTIVATIONS)
    checks.choice(f'{group}.weight_init', g.weight_init, INITIALIZERS)
    if hasattr(g, 'norm'):
      checks.choice(f'{group}.norm', g.norm, NORMS)
  if not all(type(w) is int and w >= 1 for w in c.autoencoder.encoder):
    raise UserError(f'autoencoder.encoder={tuple(c.autoencoder.encoder)!r} is not allowed; it '
                    'takes positive integers (or () for none)')
  checks.at_least('autoencoder.code', c.autoencoder.code, 1)
  checks.choice('gan.weight_init', c.gan.weight_init, INITIALIZERS)
  checks.at_least('gan.latent', c.gan.latent, 1)
  for key in ('generator', 'discriminator'):
    if not all(type(w) is int and w >= 1 for w in getattr(c.gan, key)):
      raise UserError(f'gan.{key}={tuple(getattr(c.gan, key))!r} is not allowed; it takes '
                      'positive integers')
  _validate_models(c, mlp, cnn, lstm, resnet)
  _validate_training(c)


def _validate_run(c: TrainConfig, datasets, normalizations, backends) -> None:
  checks.choice('model', c.model, MODELS)
  checks.choice('data', c.data, datasets)
  checks.choice('normalize', c.normalize, normalizations)
  checks.choice('backend', c.backend, backends)
  checks.choice('precision', c.precision, PRECISIONS)
  for key in ('steps', 'batch_size', 'eval_batch_size', 'log_every', 'eval_every',
              'checkpoint_every', 'keep_checkpoints', 'diagnostics_batch', 'grad_accum'):
    checks.at_least(key, getattr(c, key), 1)
  for key in ('num_devices', 'diagnostics_every', 'seed', 'steps_per_call'):
    checks.at_least(key, getattr(c, key), 0)
  a_b = tuple(c.profile_steps)
  if a_b and not (len(a_b) == 2 and all(type(s) is int for s in a_b)
                  and 0 <= a_b[0] < a_b[1] <= c.steps):
    raise UserError(f'profile_steps={a_b!r} is not allowed: give two steps a,b with '
                    f'0 <= a < b <= steps ({c.steps})')


def _validate_split(c: TrainConfig) -> None:
  from research.data import NUM_CLASSES
  s, loaded = c.split, NUM_CLASSES[c.data]
  checks.rate('split.val_fraction', s.val_fraction)
  checks.whole('split.folds', s.folds)
  if s.folds == 1 or (s.folds and s.val_fraction):
    raise UserError(f'split.folds={s.folds} is not allowed; k-fold takes 2 or more folds, '
                    'instead of split.val_fraction')
  if s.folds and not 0 <= s.fold < s.folds or not s.folds and s.fold:
    raise UserError(f'split.fold={s.fold} is out of range: from 0 to split.folds - 1')
  checks.whole('split.examples_per_class', s.examples_per_class)
  checks.whole('split.train_examples', s.train_examples)
  if s.imbalance and not s.imbalance >= 1:
    raise UserError(f'split.imbalance={s.imbalance} is out of range: a ratio >= 1, or 0 (none)')
  if not loaded and (s.classes or s.imbalance or s.examples_per_class):
    raise UserError(f'data={c.data} has real-valued targets: split.classes, split.imbalance '
                    'and split.examples_per_class need classes')
  if s.classes and (len(set(s.classes)) != len(s.classes) or len(s.classes) < 2 or any(
      type(k) is not int or not 0 <= k < loaded for k in s.classes)):
    raise UserError(f'split.classes={tuple(s.classes)!r} is not allowed; it takes two or more '
                    f'distinct classes of data={c.data}, from 0 to {loaded - 1}')


def _validate_init(c: TrainConfig) -> None:
  import pathlib
  import re
  if c.init_from and not (pathlib.Path(c.init_from) / 'checkpoints').is_dir():
    raise UserError(f'init_from={c.init_from!r} is not a run directory with checkpoints')
  if c.init_exclude and not c.init_from:
    raise UserError('init_exclude re-initialises part of the weights init_from loads: set '
                    'init_from too')
  if len(c.optim.lr_groups) != len(c.optim.lr_group_scales) or any(
      not isinstance(x, (int, float)) or x <= 0 for x in c.optim.lr_group_scales):
    raise UserError(f'optim.lr_group_scales={tuple(c.optim.lr_group_scales)!r} is not allowed; '
                    'it takes one positive factor per pattern of optim.lr_groups')
  for key, patterns in (('init_exclude', (c.init_exclude,)), ('optim.freeze', c.optim.freeze),
                        ('optim.lr_groups', c.optim.lr_groups)):
    for pattern in patterns:
      try:
        re.compile(pattern)
      except re.error as e:
        raise UserError(f'{key}={pattern!r} is not a regular expression: {e}') from None
  checks.at_least('optim.freeze_until', c.optim.freeze_until, 0)
  if c.optim.freeze_until and not c.optim.freeze:
    raise UserError('optim.freeze_until ends the freezing of optim.freeze: set optim.freeze too')


def _validate_early_stopping(c: TrainConfig) -> None:
  e = c.early_stopping
  checks.at_least('early_stopping.patience', e.patience, 0)
  checks.at_least('early_stopping.min_delta', e.min_delta, 0)
  checks.choice('early_stopping.goal', e.goal, GOALS)
  if not e.patience:
    return
  split, _, name = e.metric.partition('.')
  if split != 'val' or name not in tasks.SCALARS.get(c.task, ()):
    raise UserError(f'early_stopping.metric={e.metric!r} is not allowed; it watches the '
                    'validation split: val.' + '|'.join(tasks.SCALARS.get(c.task, ())))
  if not (c.split.val_fraction or c.split.folds):
    raise UserError('early_stopping watches the validation split: set split.val_fraction')


def _validate_task(c: TrainConfig) -> None:
  """The task must fit the data's targets, and the loss the task."""
  from research.data import IMAGE_SHAPES, NUM_CLASSES
  checks.choice('task', c.task, tasks.NAMES)
  classes = len(c.split.classes) or NUM_CLASSES[c.data]
  if c.task == 'regression' and classes:
    raise UserError(f'task=regression needs real-valued targets; data={c.data} has {classes} '
                    'classes (regression data: ' + ', '.join(
                        name for name, n in NUM_CLASSES.items() if not n) + ')')
  if c.task in ('classification', 'binary') and not classes:
    raise UserError(f'task={c.task} needs class labels; data={c.data} has real-valued targets: '
                    'use task=regression')
  if c.task == 'binary' and classes != 2:
    raise UserError(f'task=binary needs two classes; data={c.data} has {classes} (pick two '
                    'with split.classes)')
  for task, model in (('reconstruction', 'autoencoder'), ('adversarial', 'gan')):
    if (c.task == task) != (c.model == model):
      raise UserError(f'task={c.task} with model={c.model}: task={task} trains model={model}, '
                      f'and model={model} only that task')
  checks.choice('adversarial.generator_loss', c.adversarial.generator_loss,
                tasks.GENERATOR_LOSSES)
  checks.choice('adversarial.updates', c.adversarial.updates, tasks.UPDATES)
  checks.choice('gan.kind', c.gan.kind, GAN_KINDS)
  if c.model == 'gan' and c.data in IMAGE_SHAPES:
    check_gan_shape(c.gan.kind, c.gan.generator, IMAGE_SHAPES[c.data])
  checks.greater_than_zero('adversarial.discriminator_lr_scale',
                           c.adversarial.discriminator_lr_scale)
  if c.task == 'adversarial' and c.diagnostics_every:
    raise UserError('diagnostics_every probes one loss; task=adversarial has two: set it to 0')
  checks.choice('corruption.kind', c.corruption.kind, tasks.CORRUPTIONS)
  checks.at_least('corruption.level', c.corruption.level, 0)
  if c.corruption.kind == 'mask':
    checks.rate('corruption.level', c.corruption.level)
  if c.corruption.kind != 'none' and c.task != 'reconstruction':
    raise UserError('corruption corrupts the inputs of task=reconstruction only')
  allowed = {'regression': tasks.REGRESSION_LOSSES, 'binary': tasks.BINARY_LOSSES,
             'reconstruction': tasks.RECONSTRUCTION_LOSSES}
  name = tasks.loss_for(c.task, c.loss).name
  if c.task in allowed and name not in allowed[c.task]:
    raise UserError(f'task={c.task} takes loss.name={" or ".join(allowed[c.task])}, not '
                    f'{name!r}')
  if (c.grad_accum > 1 and name == 'weighted_cross_entropy'
      and c.loss.class_weight_norm == 'weights'):
    raise UserError('grad_accum splits the batch, and weighted_cross_entropy with '
                    "class_weight_norm=weights divides by the whole batch's weights: use "
                    'class_weight_norm=count or grad_accum=1')
  if c.task == 'reconstruction' and name == 'binary_cross_entropy' and c.normalize != 'unit':
    raise UserError('a binary cross-entropy reconstruction needs targets in [0, 1]: set '
                    'normalize=unit')


def _validate_models(c: TrainConfig, mlp, cnn, lstm, resnet) -> None:
  for key in ('mlp.dropout', 'cnn.dropout', 'cnn.conv_dropout', 'lstm.dropout',
              'resnet.stochastic_depth', 'vgg.dropout'):
    group, name = key.split('.')
    checks.rate(key, getattr(getattr(c, group), name))
  for key, value in (('cnn.dropblock_size', c.cnn.dropblock_size), ('lstm.hidden', c.lstm.hidden),
                     ('lstm.layers', c.lstm.layers), ('mlp.width', c.mlp.width)):
    checks.at_least(key, value, 1)
  checks.at_least('mlp.depth', c.mlp.depth, 0)
  checks.choice('mlp.skip', c.mlp.skip, mlp.SKIPS)
  checks.choice('mlp.dropout_kind', c.mlp.dropout_kind, mlp.DROPOUTS)
  checks.at_least('mlp.dropconnect_samples', c.mlp.dropconnect_samples, 0)
  if c.mlp.dropconnect_samples and c.mlp.norm != 'none':
    raise UserError('mlp.dropconnect_samples (Gaussian inference) averages the activation of '
                    'the raw pre-activations: it needs mlp.norm=none')
  checks.choice('cnn.conv_dropout_kind', c.cnn.conv_dropout_kind, cnn.CONV_DROPOUTS)
  checks.choice('cnn.pool', c.cnn.pool, cnn.POOLS)
  checks.choice('cnn.head', c.cnn.head, cnn.HEADS)
  for n in (*c.cnn.channels, *c.cnn.dense, c.cnn.kernel_size, c.cnn.pool_size):
    if not isinstance(n, int) or n < 1:
      raise UserError('cnn.channels, cnn.dense, cnn.kernel_size and cnn.pool_size take '
                      'positive integers')
  checks.at_least('cnn.pool_stride', c.cnn.pool_stride, 0)
  checks.positive('cnn.stride', c.cnn.stride)
  _check_cnn_fits(c, cnn)
  checks.choice('lstm.dropout_kind', c.lstm.dropout_kind, lstm.DROPOUTS)
  checks.choice('resnet.block', c.resnet.block, resnet.BLOCKS)
  if c.resnet.stochastic_depth and c.resnet.block != 'residual':
    raise UserError('resnet.stochastic_depth drops residual branches: it needs '
                    'resnet.block=residual')
  checks.cifar_resnet_depth('resnet.depth', c.resnet.depth)
  _validate_architectures(c)


def _check_cnn_fits(c: TrainConfig, cnn) -> None:
  """The CNN's stages must leave at least one pixel of the image: a one-line error here,
  not a shape error from inside the model."""
  from research.data import IMAGE_SHAPES
  if c.model != 'cnn' or c.data not in IMAGE_SHAPES:
    return
  side = min(IMAGE_SHAPES[c.data][:2])
  for stage in range(len(c.cnn.channels)):
    side = cnn.pooled_side(side, c.cnn.pool, c.cnn.pool_size, c.cnn.pool_stride, c.cnn.stride)
    if side < 1:
      raise UserError(f'cnn: {c.cnn.pool_size} x {c.cnn.pool_size} pooling at stride '
                      f'{c.cnn.pool_stride or c.cnn.pool_size} leaves no pixel of data='
                      f'{c.data} after stage {stage + 1} of {len(c.cnn.channels)}')


def _validate_architectures(c: TrainConfig) -> None:
  """VGG's, Inception's and Xception's options; a network that pools its image away (2 x 2 per
  stage) is refused for the image data sets, whose sides are known before loading."""
  from research.data import IMAGE_SHAPES
  side = min(IMAGE_SHAPES[c.data][:2]) if c.data in IMAGE_SHAPES else None
  pools = {'vgg': _validate_vgg(c.vgg), 'inception': _validate_inception(c.inception)}
  _validate_xception(c.xception)
  if c.model in pools and side is not None and side < 2 ** pools[c.model]:
    raise UserError(f'{c.model} halves the image {pools[c.model]} times; data={c.data} is '
                    f'{side} pixels wide, enough for at most {side.bit_length() - 1}')


def _positive_ints(values) -> bool:
  return all(type(n) is int and n >= 1 for n in values)


def _validate_vgg(g) -> int:
  """Checks vgg.*; returns how many times it halves the image."""
  if not g.stages or not all(stage and _positive_ints(stage) for stage in g.stages):
    raise UserError(f'vgg.stages={g.stages!r} is not allowed; it takes one or more stages, '
                    'each a tuple of positive channel counts, e.g. "((32,32),(64,64))"')
  if not _positive_ints(g.dense):
    raise UserError(f'vgg.dense={tuple(g.dense)!r} is not allowed; it takes positive '
                    'integers (or () for none)')
  return len(g.stages)


def _validate_inception(g) -> int:
  """Checks inception.*; returns how many times it halves the image."""
  if not g.modules or not all(len(m) == 6 and _positive_ints(m) for m in g.modules):
    raise UserError(f'inception.modules={tuple(g.modules)!r} is not allowed; each module is '
                    'six positive widths (n1, r3, n3, r5, n5, np)')
  if not all(type(i) is int and 0 <= i < len(g.modules) for i in g.pool_after):
    raise UserError(f'inception.pool_after={tuple(g.pool_after)!r} is not allowed; it names '
                    f'modules by index, 0 to {len(g.modules) - 1}')
  checks.at_least('inception.stem', g.stem, 1)
  return len(set(g.pool_after))


def _validate_xception(g) -> None:
  """Checks xception.* (its pools are 'SAME': they never empty an image)."""
  if (len(g.stem) != 2 or len(g.exit) != 2 or not g.entry
      or not _positive_ints((*g.stem, *g.entry, *g.exit, *g.final))):
    raise UserError('xception.stem and xception.exit take two positive widths each, '
                    'xception.entry one or more, xception.final none or more')
  checks.at_least('xception.stem_stride', g.stem_stride, 1)
  checks.at_least('xception.middle_blocks', g.middle_blocks, 0)


def _refuse_unused_schedule_options(o: optim.OptimConfig) -> None:
  """An option the chosen schedule never reads is refused, not silently ignored."""
  if o.boundaries and o.schedule != 'step':
    raise UserError(f'optim.boundaries={tuple(o.boundaries)!r} is read by optim.schedule=step '
                    f'only; optim.schedule={o.schedule} ignores it')
  if o.warmup_steps and o.schedule not in ('step', 'warmup_cosine'):
    raise UserError(f'optim.warmup_steps={o.warmup_steps} is read by optim.schedule=step or '
                    f'warmup_cosine only; optim.schedule={o.schedule} ignores it')


def _validate_training(c: TrainConfig) -> None:
  checks.choice('optim.name', c.optim.name, optim.OPTIMIZERS)
  checks.choice('optim.schedule', c.optim.schedule, optim.SCHEDULES)
  checks.greater_than_zero('optim.learning_rate', c.optim.learning_rate)
  checks.greater_than_zero('optim.warmup_factor', c.optim.warmup_factor)
  checks.rate('optim.rmsprop_decay', c.optim.rmsprop_decay)
  _refuse_unused_schedule_options(c.optim)
  for key in ('weight_decay', 'grad_clip', 'warmup_steps'):
    checks.at_least(f'optim.{key}', getattr(c.optim, key), 0)
  checks.choice('loss.name', tasks.loss_for(c.task, c.loss).name, losses.NAMES)
  checks.rate('loss.label_smoothing', c.loss.label_smoothing)
  # (1 - p)^gamma down-weights the easy examples only for gamma >= 0; below 0 it grows without
  # bound as p -> 1. Huber's delta is the width of its quadratic part.
  checks.at_least('loss.focal_gamma', c.loss.focal_gamma, 0)
  checks.greater_than_zero('loss.huber_delta', c.loss.huber_delta)
  checks.choice('loss.class_weight_norm', c.loss.class_weight_norm, losses.WEIGHT_NORMS)
  for key in ('class_weights', 'focal_alpha'):
    values = getattr(c.loss, key)
    if any(not isinstance(w, (int, float)) or w < 0 for w in values):
      raise UserError(f'loss.{key}={tuple(values)!r} is not allowed; it takes one '
                      'non-negative number per class')
  for f in dataclasses.fields(c.augment):
    augment.check_strength(f'augment.{f.name}', f.name, getattr(c.augment, f.name))
