"""What the CNN sections share: the data (normalised by its training statistics, a fixed
stratified validation split, a stratified training subset), groups of seeds and learning rates
trained as one vmapped ensemble each with the rate chosen on validation, and what a network
costs: its parameters and XLA's count of its forward pass's FLOPs."""
import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments import ensemble_runs
from research import optim, report
from research.data import augment as augment_lib
from research.data import splits
from research.data.dataset import Dataset, with_normalization
from research.models import build_model
from research.nn import switch
from research.train import ensemble

KEPT = ('accuracy', 'loss')


def prepare(dataset: Dataset, val_fraction: float, train_examples: int) -> Dataset:
  """Normalised by the full training set's statistics; validation held out of the training
  set first (the same split for every subset size), then `train_examples` kept (0 = all)."""
  return splits.apply(with_normalization(dataset, 'channel'),
                      splits.SplitConfig(val_fraction=val_fraction,
                                         train_examples=train_examples))


def reference_options(config) -> dict:
  """The reference CNN of sections 1, 2 and 4: a 3 x 3 convolution, ReLU and 2 x 2 max pool
  per stage, flatten, the dense layers, the logits."""
  return dict(channels=tuple(config.channels), dense=tuple(config.dense))


def train(name: str, context, data: Dataset, model: str, options: dict, *, epochs: int,
          rates, rate_field: str = 'optim.learning_rate', learning_rate: float = 0.0,
          augment: augment_lib.AugmentConfig = augment_lib.AugmentConfig(),
          batch_size: int = 0) -> dict:
  """One group: every seed at every value of `rate_field` (learning rates by default; Adam
  with a cosine decay to 0), with its trained members (ensemble_runs.train_group); batches of
  `batch_size` (0: the experiment's)."""
  config = context.config
  batch_size = min(batch_size or config.batch_size, len(data.train_labels))
  cfg = ensemble.EnsembleConfig(
      model=model, options=options, rate_field=rate_field, epochs=epochs, batch_size=batch_size,
      optim=optim.OptimConfig(name='adam', learning_rate=learning_rate or float(rates[0]),
                              schedule='cosine'),
      augment=augment, epochs_per_call=config.epochs_per_call,
      stop_on_divergence=False, fast_compile=config.fast_compile)
  group = ensemble_runs.train_group(name, cfg, data, tuple(rates), context, keep_states=True,
                                    kept=KEPT)
  return {**group, 'batch_size': batch_size}


def accuracy(member: dict, split: str) -> float:
  value = member[split]['accuracy']
  return math.nan if value is None else value


def chosen(group: dict, rates, seeds: int) -> dict:
  """The value (rate) with the highest mean validation accuracy, and its members: indices and
  train, validation and test accuracies (a diverged member counts as NaN, the worst)."""
  val = [np.nan_to_num([accuracy(m, 'val') for m in group['members'][i * seeds:(i + 1) * seeds]],
                       nan=-1.0).mean() for i in range(len(rates))]
  best = int(np.argmax(val))
  members = list(range(best * seeds, (best + 1) * seeds))
  return {'rate': float(rates[best]), 'members': members,
          **{split: [accuracy(group['members'][k], split) for k in members]
             for split in ('train', 'val', 'test')}}


def throughput(group: dict) -> float:
  """Training examples per second, all members together, over the steps this group ran in its
  last process (compiles apart)."""
  return (group['run_steps'] * group['batch_size'] * len(group['members'])
          / max(group['run_s'], 1e-9))


def same_network(model: str, a: dict, b: dict, data: Dataset) -> bool:
  """Whether two option sets build the same network (an option at its default or not)."""
  return build_model(model, a, data.num_classes) == build_model(model, b, data.num_classes)


def parameters(model: str, options: dict, data: Dataset) -> int:
  net = build_model(model, options, data.num_classes)
  shapes = jax.eval_shape(lambda: net.init(jax.random.key(0),
                                           jnp.zeros((1, *data.image_shape)), train=False))
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(shapes['params'])))


def xla_flops(fn, *args) -> float:
  """XLA's FLOP count of fn(*args) (a multiply-add is 2), from its cost analysis of the
  program as lowered, before optimisation: the arithmetic as written, without a compile
  (which at -O2 takes seconds per network on a CPU)."""
  return float(jax.jit(fn).lower(*args).cost_analysis()['flops'])


def forward_flops(model: str, options: dict, data: Dataset) -> float:
  """XLA's FLOP count of one example's test-mode forward pass, with flax's layers: the
  arithmetic as the architecture defines it, not as the CPU-tuned layers rearrange it
  (research/nn/switch.py)."""
  with switch.forced('plain'):
    net = build_model(model, options, data.num_classes)
    image = jnp.zeros((1, *data.image_shape))
    variables = jax.eval_shape(lambda: net.init(jax.random.key(0), image, train=False))
    return xla_flops(lambda v, x: net.apply(v, x, train=False), variables, image)


def cost_table(rows: list[dict], names: list[str]) -> str:
  """Rows of a network comparison (its rate, test_stats, parameters, flops and examples_per_s),
  each under its name, as one markdown table."""
  return report.markdown_table(
      ['network', 'learning rate', 'test accuracy', 'parameters', 'MFLOPs per example',
       'training examples/s'],
      [[name, f"{r['rate']:g}", report.percent_interval(r['test_stats']),
        f"{r['parameters']:,}", f"{r['flops'] / 1e6:.2f}", f"{r['examples_per_s']:,.0f}"]
       for name, r in zip(names, rows)])
