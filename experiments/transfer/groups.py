"""What the transfer sections share: the two halves of the classes, the source networks
(pre-trained as ordinary `train` runs, so that any run can start from them with `init_from=`),
the layers a network has, and groups of seeds trained on B as one vmapped ensemble each."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments import cli, ensemble_runs
from research import optim
from research.data import splits
from research.data.dataset import Dataset
from research.errors import UserError
from research.models import build_model
from research.train import ensemble


def model_options(config) -> dict:
  if config.model == 'mlp':
    return dict(depth=config.depth, width=config.width)
  return dict(channels=tuple(config.channels), dense=tuple(config.dense))


def half(context, classes, examples: int = 0) -> Dataset:
  """The data of `classes` (relabelled 0..k-1), with a fixed stratified validation split and,
  with `examples`, that many training examples per class (the same ones for every seed)."""
  data = splits.apply(context.load(), splits.SplitConfig(
      classes=tuple(classes), val_fraction=context.config.val_fraction))
  return splits.per_class(data, examples) if examples else data


def source_overrides(config, classes, examples: int = 0) -> list[str]:
  """The `train` run that pre-trains on `classes` (with `examples` per class): what a user
  types to make it. It holds out the validation split `half` holds out, so a source on B
  never trains on the examples that choose."""
  cfg = config.source
  options = model_options(config)
  return [f'model={config.model}', f'data={config.data}', f'seed={config.seed}',
          f'split.classes={tuple(classes)!r}'.replace(' ', ''),
          f'split.val_fraction={config.val_fraction}',
          *([f'split.examples_per_class={examples}'] if examples else []), f'steps={cfg.steps}',
          f'batch_size={cfg.batch_size}', f'optim.learning_rate={cfg.learning_rate}',
          *(f'{config.model}.{k}={v!r}'.replace(' ', '') for k, v in options.items()),
          *([f'data_dir={config.data_dir}'] if config.data_dir else []),
          f'download={config.download}']


def source_run(context, name: str, classes, examples: int = 0) -> str:
  """Trains (or finds finished) the source network on `classes` in WORKDIR/NAME."""
  workdir = context.workdir / name
  argv = ['run', 'train', '--workdir', str(workdir),
          *source_overrides(context.config, classes, examples)]
  if cli.main(argv) != 0:
    raise UserError(f'the source run {workdir} failed (see above)')
  return str(workdir)


def layers(config, image_shape, classes: int) -> list[str]:
  """The network's layers, input to output ('hidden_0', ..., 'output')."""
  model = build_model(config.model, model_options(config), classes)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, *image_shape)),
                                             train=False))
  return list(dict.fromkeys(shapes['params']))


def any_of(names) -> str:
  """A regex matching every parameter of the layers `names`."""
  return f'({"|".join(names)})/.*' if names else ''


@dataclasses.dataclass(frozen=True)
class Start:
  """Where a network on B starts: fresh, or from a source with some layers re-initialised,
  some frozen (for good, or until a step)."""
  init_from: str = ''
  reinit: tuple[str, ...] = ()    # layers that keep their own initialisation
  frozen: tuple[str, ...] = ()    # layers whose parameters do not train
  frozen_share: float = 0.0       # the share of the steps before they train; 0 = never


def epochs_for(steps: int, data: Dataset, batch_size: int) -> tuple[int, int, int]:
  """(epochs, batch, steps per epoch) closest to `steps`, the batch at most the split."""
  batch = min(batch_size, len(data.train_labels))
  per_epoch = max(len(data.train_labels) // batch, 1)
  return max(1, round(steps / per_epoch)), batch, per_epoch


def train(name: str, context, data: Dataset, start: Start, steps: int, batch_size: int,
          learning_rate: float) -> dict:
  """One group on B: every seed from `start`, about `steps` Adam steps, evaluated
  `records` times; its results (ensemble_runs.train_group) and per-record val accuracy."""
  config = context.config
  epochs, batch, per_epoch = epochs_for(steps, data, batch_size)
  # At an epoch's end, and at least one epoch in; 0 (frozen for good) only when asked.
  frozen_until = (max(1, round(start.frozen_share * epochs)) * per_epoch
                  if start.frozen_share else 0)
  cfg = ensemble.EnsembleConfig(
      model=config.model, options=model_options(config), rate_field='optim.learning_rate',
      epochs=epochs, batch_size=batch,
      optim=optim.OptimConfig(name='adam', learning_rate=learning_rate,
                              freeze=(any_of(start.frozen),) if start.frozen else (),
                              freeze_until=frozen_until if start.frozen else 0),
      epochs_per_call=max(1, epochs // config.records), stop_on_divergence=False,
      fast_compile=config.fast_compile, init_from=start.init_from,
      init_exclude=any_of(start.reinit))
  group = ensemble_runs.train_group(name, cfg, data, (learning_rate,), context,
                                    kept=('accuracy', 'loss'))
  records = [r for r in ensemble_runs.records(context, name) if r['split'] == 'val']
  seeds = len(group['members'])
  return {'test_accuracy': [m['test']['accuracy'] for m in group['members']],
          'val_accuracy': [m['val']['accuracy'] for m in group['members']],
          'steps': group['steps'], 'seconds': group['seconds'],
          'curve_steps': [r['step'] for r in records],
          'val_curve': [float(np.mean([r[f'accuracy/{k}'] for k in range(seeds)]))
                        for r in records]}
