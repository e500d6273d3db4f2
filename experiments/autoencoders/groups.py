"""What the autoencoder sections share: the data (normalised by its training statistics, with a
fixed validation split), its splits as flat vectors, PCA fitted on the training split, and
groups of seeds and learning rates trained as one vmapped ensemble each, the rate chosen on the
validation split."""
import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments import ensemble_runs
from research import losses, optim, tasks
from research.data import pipeline, splits
from research.data.dataset import Dataset, with_normalization
from research.errors import UserError
from research.train import ensemble

KEPT = ('loss', 'mse', 'mae')


def prepare(dataset: Dataset, val_fraction: float, normalization: str = 'channel') -> Dataset:
  return splits.apply(with_normalization(dataset, normalization),
                      splits.SplitConfig(val_fraction=val_fraction))


def flat(data: Dataset, split: str) -> np.ndarray:
  """The split's images as the autoencoders see them: normalised, one row per example."""
  images, _ = data.split(split)
  return np.asarray(pipeline.normalize(images, data.mean, data.std)).reshape(len(images), -1)


def fit_pca(train_x: np.ndarray, components: int):
  """PCA of the training split (scikit-learn, exact SVD)."""
  from sklearn.decomposition import PCA
  if components > min(train_x.shape):
    raise UserError(f'a code of {components - 1} units needs {components} principal '
                    f'components; the data has {train_x.shape[1]} values per example')
  return PCA(n_components=components, svd_solver='full').fit(train_x)


def pca_mse(pca, x: np.ndarray, k: int) -> float:
  """Per-value squared error of x projected onto the top k components, about the mean."""
  basis_KxD = pca.components_[:k]
  centred = x - pca.mean_
  return float((((centred @ basis_KxD.T) @ basis_KxD - centred) ** 2).mean())


def train(name: str, context, data: Dataset, *, options: dict, epochs: int, batch_size: int,
          rates, corruption: tasks.CorruptionConfig = tasks.CorruptionConfig(),
          loss: losses.LossConfig = losses.LossConfig()) -> dict:
  """One group of autoencoders: every seed at every learning rate (Adam, cosine decay to 0),
  with its trained members (ensemble_runs.train_group with keep_states)."""
  cfg = ensemble.EnsembleConfig(
      model='autoencoder', options=options, rate_field='optim.learning_rate', epochs=epochs,
      batch_size=min(batch_size, len(data.train_labels)),
      optim=optim.OptimConfig(name='adam', learning_rate=float(rates[0]), schedule='cosine'),
      task='reconstruction', corruption=corruption, loss=loss,
      epochs_per_call=context.config.epochs_per_call, stop_on_divergence=False,
      fast_compile=context.config.fast_compile)
  return ensemble_runs.train_group(name, cfg, data, tuple(rates), context, keep_states=True,
                                   kept=KEPT)


def chosen(group: dict, rates, seeds: int, metric: str = 'mse') -> dict:
  """The rate with the lowest mean validation `metric` over seeds (a diverged member counts
  as infinitely bad), and its members: indices, validation `metric`, test MSE and MAE."""
  val = [[m['val'][metric] for m in group['members'][i * seeds:(i + 1) * seeds]]
         for i in range(len(rates))]
  score = [np.mean([v if v is not None and math.isfinite(v) else math.inf for v in row])
           for row in val]
  best = int(np.argmin(score))
  members = list(range(best * seeds, (best + 1) * seeds))
  return {'rate': float(rates[best]), 'members': members, f'val_{metric}': val[best],
          **{f'test_{key}': [group['members'][k]['test'][key] for k in members]
             for key in ('mse', 'mae')}}


def apply(group: dict, k: int, x: np.ndarray, codes_only: bool = False) -> np.ndarray:
  """Member k's reconstructions (or codes) of normalised flat inputs x, 1,000 at a time."""
  ens = group['ensemble']
  model = ens.model(float(ens.rates[k]))
  params = ensemble.member(group['states'], k).params
  shape = ens.dataset.image_shape
  run = jax.jit(lambda batch: model.apply({'params': params}, batch.reshape(-1, *shape),
                                          train=False, codes_only=codes_only))
  out = [np.asarray(run(jnp.asarray(x[i:i + 1000]))) for i in range(0, len(x), 1000)]
  return np.concatenate(out).reshape(len(x), -1)


def decoder_basis(group: dict, k: int) -> np.ndarray:
  """Member k's decoder output weights (code x values): their rows span its reconstructions
  (about the output bias)."""
  return np.asarray(ensemble.member(group['states'], k).params['output']['kernel'])
