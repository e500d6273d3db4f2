"""What the gan sections share: the data, a classifier trained here on the real data whose last
hidden layer is the feature space that scores samples, and one group of GANs per generator
loss, seeds vmapped as one ensemble, whose probe scores a fixed set of samples after every call
and keeps a few of them for the grids over training."""
import dataclasses
import functools
import math
import pathlib
import types

import jax
import jax.numpy as jnp
import numpy as np

from experiments import ensemble_runs, network_features
from research import metrics, optim, tasks
from research.data import pipeline
from research.data.dataset import Dataset, with_normalization
from research.models import build_model
from research.train import ensemble

GAN_KEPT = ('loss', 'd_real', 'd_fake', 'd_accuracy')
PROBE_SEED = 10_007  # the latent codes every snapshot shows, the same for every member and step


def prepare(dataset: Dataset) -> Dataset:
  return with_normalization(dataset, 'channel')


def normalized(data: Dataset, split: str) -> np.ndarray:
  images, _ = data.split(split)
  return np.asarray(pipeline.normalize(images, data.mean, data.std))


@dataclasses.dataclass
class Scorer:
  """Scores images by the feature classifier: its last hidden layer's activations, and its
  predicted classes."""
  model: object
  variables: dict
  layer: str
  real_features: np.ndarray       # of the real test images
  test_accuracy: float = 0.0      # the classifier's, on the real test images

  def features(self, images) -> np.ndarray:
    return network_features.layer_features(self.model, self.variables, images,
                                           [self.layer])[self.layer]

  def predict(self, images) -> np.ndarray:
    return np.concatenate([np.asarray(self._logits(jnp.asarray(images[i:i + 1000]))).argmax(-1)
                           for i in range(0, len(images), 1000)])

  @functools.cached_property
  def _logits(self):
    return jax.jit(lambda x: self.model.apply(self.variables, x, train=False))

  def score(self, images, classes: int) -> dict:
    """Fréchet distance to the real test images in the feature space; the entropy of the
    predicted-class histogram over log(classes) (1: every class equally often); the largest
    class's share. A diverged generator's samples (not finite) score NaN, which the
    summaries over seeds count apart."""
    if not np.all(np.isfinite(images)):
      return {'fd': math.nan, 'entropy': math.nan, 'top_share': math.nan,
              'histogram': [math.nan] * classes}
    shares = np.bincount(self.predict(images), minlength=classes) / len(images)
    entropy = -np.sum(shares[shares > 0] * np.log(shares[shares > 0])) / np.log(classes)
    return {'fd': metrics.frechet_distance(self.features(images), self.real_features),
            'entropy': float(entropy), 'top_share': float(shares.max()),
            'histogram': shares.tolist()}


def scorer(context) -> Scorer:
  """The feature classifier (one member, trained or read back) and the real test features."""
  config, cfg = context.config, context.config.classifier
  data = context.data()
  options = dict(depth=cfg.depth, width=cfg.width)
  group_cfg = ensemble.EnsembleConfig(
      model='mlp', options=options, rate_field='optim.learning_rate', epochs=cfg.epochs,
      batch_size=min(cfg.batch_size, len(data.train_labels)),
      optim=optim.OptimConfig(name='adam', learning_rate=cfg.learning_rate),
      fast_compile=config.fast_compile)
  group = ensemble_runs.train_group('classifier', group_cfg, data, (cfg.learning_rate,),
                                    one_seed_context(context, config.seed), keep_states=True,
                                    kept=('accuracy', 'loss'))
  model = build_model('mlp', options, data.num_classes)
  variables = {'params': ensemble.member(group['states'], 0).params}
  found = Scorer(model, variables, f'hidden_{cfg.depth - 1}', np.zeros(0),
                 group['members'][0]['test']['accuracy'])
  found.real_features = found.features(normalized(data, 'test'))
  return found


def one_seed_context(context, seed: int):
  """The context as ensemble_runs sees it, for a group of one member with `seed`."""
  return types.SimpleNamespace(workdir=context.workdir, manifest=context.manifest,
                               config=types.SimpleNamespace(seeds=1, seed=seed))


def gan_options(config) -> dict:
  return dict(latent=config.latent, kind=config.kind, generator=tuple(config.generator),
              discriminator=tuple(config.discriminator))


def generate(config, params_of_members, shape, count: int) -> np.ndarray:
  """Every member's samples of the fixed probe codes (members x count x shape)."""
  model = build_model('gan', gan_options(config), 0)
  z = jax.random.normal(jax.random.key(PROBE_SEED), (count, config.latent))
  one = lambda params: model.apply({'params': params}, z, shape, method='generate')
  return np.asarray(jax.jit(jax.vmap(one))(params_of_members))


def make_probe(context, score: Scorer, run_dir: pathlib.Path):
  """After every call: each member's scores of its samples ('fd/3' is member 3's), and the
  first `quality.grid` samples of every member saved as run_dir/samples/STEP.npy."""
  config, data = context.config, context.data()

  def probe(states, step: int) -> dict:
    samples = generate(config, states.params, data.image_shape, config.quality.samples)
    (run_dir / 'samples').mkdir(parents=True, exist_ok=True)
    np.save(run_dir / 'samples' / f'{step:08d}.npy', samples[:, :config.quality.grid])
    found = {}
    for k, member_samples in enumerate(samples):
      scores = score.score(member_samples, data.num_classes)
      found.update({f'{name}/{k}': scores[name] for name in ('fd', 'entropy', 'top_share')})
    return found

  return probe


def train_gan(context, generator_loss: str, score: Scorer | None = None, *,
              data: Dataset | None = None, name: str = '', conditional: bool = False,
              epochs: int = 0) -> dict:
  """The group of GANs (one per seed) trained with `generator_loss` on `data` (default: the
  whole training set) for `epochs` (default: the config's): its results with states
  (ensemble_runs.train_group) and its records (per-epoch train metrics, and with a `score`
  the probe's scores after every call)."""
  config = context.config
  data = data or context.data()
  name = name or f'gan_{generator_loss}'
  epochs = epochs or config.epochs
  cfg = ensemble.EnsembleConfig(
      model='gan', options={**gan_options(config), 'conditional': conditional},
      rate_field='optim.learning_rate', epochs=epochs,
      batch_size=min(config.batch_size, len(data.train_labels)),
      optim=optim.OptimConfig(name='adam', learning_rate=config.learning_rate, b1=config.b1),
      task='adversarial', adversarial=tasks.AdversarialConfig(generator_loss=generator_loss),
      epochs_per_call=max(1, epochs // config.snapshots), stop_on_divergence=False,
      fast_compile=config.fast_compile)
  run_dir = context.workdir / 'runs' / name
  group = ensemble_runs.train_group(
      name, cfg, data, (config.learning_rate,), context, keep_states=True, kept=GAN_KEPT,
      probe=make_probe(context, score, run_dir) if score else None)
  return {**group, 'records': ensemble_runs.records(context, name), 'run_dir': run_dir}
