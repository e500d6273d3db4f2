"""What a run trains: its targets, the size of the model's output, its loss and its metrics.

A task is a few pure functions of (outputs, targets); the step, the backends, the loop and
ensembles call them and never ask which task runs. Each loss is this device's share of the
global batch's loss, as research/losses.batch_loss is, so gradients are exact on any number of
devices; evaluation statistics are sums, `psum`-ed over devices and added over batches, turned
into numbers only at the end (as research/metrics.py does for classification).

- classification: integer labels, one logit per class, the losses of research/losses.py;
- binary: labels 0 and 1, one logit z and a sigmoid, binary cross-entropy. Its evaluation is
  classification's on the two logits (0, z), whose softmax is exactly (1 - sigmoid z, sigmoid z);
- regression: float targets, one linear output. The model predicts the target standardised by
  the training split's mean and std (so one learning rate suits any units); the loss is taken
  on that scale, and RMSE and MAE are reported in the target's own units;
- reconstruction: the target is the (normalised) input itself, for autoencoders; in training
  the model may see it corrupted (Gaussian noise, or a fraction of its values masked to the
  mean: Vincent et al. 2008's denoising criterion), drawn per example from (seed, step, global
  position). Evaluation reconstructs the clean input.
"""
import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from research import losses, metrics, rng

NAMES = ('classification', 'binary', 'regression', 'reconstruction')
REGRESSION_LOSSES = ('mse', 'mae', 'huber')  # also reconstruction's, per value
CORRUPTIONS = ('none', 'gaussian', 'mask')


@dataclasses.dataclass(frozen=True)
class CorruptionConfig:
  kind: str = 'none'    # none, gaussian or mask: what reconstruction's training inputs suffer
  level: float = 0.0    # gaussian: noise std in normalised units; mask: fraction set to the mean


class _LabelTargets:
  """Tasks whose targets are the labels, and whose model sees the inputs as they are."""

  def training_io(self, images, labels, key, axis_name):
    del key, axis_name
    return images, labels

  def targets(self, images, labels):
    return labels
BINARY_LOSSES = ('cross_entropy', 'binary_cross_entropy')  # the same for one logit


@dataclasses.dataclass(frozen=True)
class Classification(_LabelTargets):
  name = 'classification'
  headline = ('accuracy', 'loss')  # what an ensemble logs per member

  def output_units(self, num_classes: int) -> int:
    return num_classes

  def batch_loss(self, cfg: losses.LossConfig, logits_BxC, labels_B, axis_name=None):
    return losses.batch_loss(cfg, logits_BxC, labels_B, axis_name)

  def train_metrics(self, logits_BxC, labels_B) -> dict:
    """Batch means, averaged over devices by the step."""
    return {'accuracy': (jnp.argmax(logits_BxC, -1) == labels_B).mean()}

  def eval_stats(self, cfg: losses.LossConfig, logits_BxC, labels_B, mask_B):
    loss_B = losses.per_example_loss(cfg, logits_BxC, labels_B)
    return metrics.classification_stats(logits_BxC, labels_B, loss_B, mask_B)

  def summarize(self, stats) -> dict:
    return metrics.summarize(stats)


@dataclasses.dataclass(frozen=True)
class Binary(Classification):
  name = 'binary'

  def output_units(self, num_classes: int) -> int:
    return 1

  @staticmethod
  def _per_example(logit_Bx1, labels_B):
    return optax.sigmoid_binary_cross_entropy(logit_Bx1[:, 0], labels_B.astype(jnp.float32))

  @staticmethod
  def two_class_logits(logit_Bx1):
    """(0, z): their softmax is (1 - sigmoid z, sigmoid z), class 1 the positive one."""
    return jnp.concatenate([jnp.zeros_like(logit_Bx1), logit_Bx1], -1)

  def batch_loss(self, cfg: losses.LossConfig, logit_Bx1, labels_B, axis_name=None):
    return self._per_example(logit_Bx1, labels_B).mean()

  def train_metrics(self, logit_Bx1, labels_B) -> dict:
    return {'accuracy': ((logit_Bx1[:, 0] > 0) == (labels_B == 1)).mean()}

  def eval_stats(self, cfg: losses.LossConfig, logit_Bx1, labels_B, mask_B):
    return metrics.classification_stats(self.two_class_logits(logit_Bx1), labels_B,
                                        self._per_example(logit_Bx1, labels_B), mask_B)

  @staticmethod
  def curves(logit_Bx1, labels_B) -> dict:
    """Exact ROC and precision-recall curves of the positive class (label 1), by scikit-learn
    over every threshold, with the areas under them."""
    from sklearn import metrics as sk_metrics  # slow to import; only the final report needs it
    scores, labels = np.asarray(logit_Bx1, np.float64)[:, 0], np.asarray(labels_B)
    fpr, tpr, roc_thresholds = sk_metrics.roc_curve(labels, scores)
    precision, recall, pr_thresholds = sk_metrics.precision_recall_curve(labels, scores)
    as_list = lambda a: [float(x) for x in a]
    return {'roc_auc': float(sk_metrics.roc_auc_score(labels, scores)),
            'average_precision': float(sk_metrics.average_precision_score(labels, scores)),
            'roc': {'fpr': as_list(fpr), 'tpr': as_list(tpr), 'logit': as_list(roc_thresholds)},
            'precision_recall': {'precision': as_list(precision), 'recall': as_list(recall),
                                 'logit': as_list(pr_thresholds)}}


@flax.struct.dataclass
class RegressionStats:
  """Sums over examples, on the standardised scale: the sufficient statistics of RMSE, MAE and
  R^2 (whose ratio needs no units)."""
  count: jax.Array
  loss_sum: jax.Array
  squared_error_sum: jax.Array
  absolute_error_sum: jax.Array
  target_sum: jax.Array
  target_squared_sum: jax.Array


@dataclasses.dataclass(frozen=True)
class Regression(_LabelTargets):
  target_mean: float = 0.0   # of the training targets: the model predicts (y - mean) / std
  target_std: float = 1.0
  name = 'regression'
  headline = ('rmse', 'loss')

  def output_units(self, num_classes: int) -> int:
    return 1

  def _errors(self, output_Bx1, targets_B):
    """(prediction - target, standardised target), both on the standardised scale."""
    standard_B = (targets_B.astype(jnp.float32) - self.target_mean) / self.target_std
    return output_Bx1[:, 0] - standard_B, standard_B

  def per_example_loss(self, cfg: losses.LossConfig, output_Bx1, targets_B):
    error_B, _ = self._errors(output_Bx1, targets_B)
    return _error_loss(cfg, error_B)

  def batch_loss(self, cfg: losses.LossConfig, output_Bx1, targets_B, axis_name=None):
    return self.per_example_loss(cfg, output_Bx1, targets_B).mean()

  def train_metrics(self, output_Bx1, targets_B) -> dict:
    error_B, _ = self._errors(output_Bx1, targets_B)
    return {'mae': jnp.abs(error_B).mean() * self.target_std}

  def eval_stats(self, cfg: losses.LossConfig, output_Bx1, targets_B, mask_B):
    error_B, standard_B = self._errors(output_Bx1, targets_B)
    mask_B = mask_B.astype(jnp.float32)
    return RegressionStats(
        count=mask_B.sum(),
        loss_sum=(self.per_example_loss(cfg, output_Bx1, targets_B) * mask_B).sum(),
        squared_error_sum=(error_B ** 2 * mask_B).sum(),
        absolute_error_sum=(jnp.abs(error_B) * mask_B).sum(),
        target_sum=(standard_B * mask_B).sum(),
        target_squared_sum=(standard_B ** 2 * mask_B).sum())

  def summarize(self, stats: RegressionStats) -> dict:
    s = jax.tree.map(lambda x: float(np.asarray(x, np.float64)), stats)
    count = max(s.count, 1.0)
    # R^2 against the evaluated split's own mean, as sklearn.metrics.r2_score defines it.
    total = s.target_squared_sum - s.target_sum ** 2 / count
    return {'count': int(s.count), 'loss': s.loss_sum / count,
            'rmse': float(np.sqrt(s.squared_error_sum / count)) * self.target_std,
            'mae': s.absolute_error_sum / count * self.target_std,
            'r2': 1.0 - s.squared_error_sum / total if total > 0 else float('nan')}


@flax.struct.dataclass
class ReconstructionStats:
  count: jax.Array              # examples
  values: jax.Array             # examples x values per example
  loss_sum: jax.Array
  squared_error_sum: jax.Array
  absolute_error_sum: jax.Array


@dataclasses.dataclass(frozen=True)
class Reconstruction:
  corruption: CorruptionConfig = CorruptionConfig()
  name = 'reconstruction'
  headline = ('mse', 'loss')

  def output_units(self, num_classes: int) -> int:
    return 0  # the autoencoder's output takes the input's shape

  def training_io(self, images, labels, key, axis_name):
    """(what the model sees, what it must reproduce): the clean images are the target."""
    del labels
    c = self.corruption
    if c.kind == 'none' or not c.level:
      return images, images
    keys_B = rng.example_keys(key, images.shape[0], axis_name)
    if c.kind == 'gaussian':
      noise = jax.vmap(lambda k: jax.random.normal(k, images.shape[1:]))(keys_B)
      return images + c.level * noise, images
    kept = jax.vmap(lambda k: jax.random.bernoulli(k, 1.0 - c.level, images.shape[1:]))(keys_B)
    return jnp.where(kept, images, 0.0), images

  def targets(self, images, labels):
    return images

  def per_example_loss(self, cfg: losses.LossConfig, outputs, images):
    error = (outputs - images).reshape(images.shape[0], -1)
    return _error_loss(cfg, error).mean(-1)

  def batch_loss(self, cfg: losses.LossConfig, outputs, images, axis_name=None):
    return self.per_example_loss(cfg, outputs, images).mean()

  def train_metrics(self, outputs, images) -> dict:
    return {}

  def eval_stats(self, cfg: losses.LossConfig, outputs, images, mask_B):
    error_BxV = (outputs - images).reshape(images.shape[0], -1)
    mask_B = mask_B.astype(jnp.float32)
    per_example = lambda values_BxV: (values_BxV.sum(-1) * mask_B).sum()
    return ReconstructionStats(
        count=mask_B.sum(), values=mask_B.sum() * error_BxV.shape[1],
        loss_sum=(self.per_example_loss(cfg, outputs, images) * mask_B).sum(),
        squared_error_sum=per_example(error_BxV ** 2),
        absolute_error_sum=per_example(jnp.abs(error_BxV)))

  def summarize(self, stats: ReconstructionStats) -> dict:
    """Per-value errors on the normalised scale (where 1 is one standard deviation)."""
    s = jax.tree.map(lambda x: float(np.asarray(x, np.float64)), stats)
    values = max(s.values, 1.0)
    return {'count': int(s.count), 'loss': s.loss_sum / max(s.count, 1.0),
            'mse': s.squared_error_sum / values, 'mae': s.absolute_error_sum / values}


def _error_loss(cfg: losses.LossConfig, error):
  """MSE, MAE or Huber of an error, element by element."""
  if cfg.name == 'mse':
    return error ** 2
  if cfg.name == 'mae':
    return jnp.abs(error)
  if cfg.name == 'huber':
    return optax.huber_loss(error, delta=cfg.huber_delta)
  raise ValueError(f'loss {cfg.name!r} is not an error loss; choose one of '
                   f'{", ".join(REGRESSION_LOSSES)}')


Task = Classification | Binary | Regression | Reconstruction

# The scalar metrics each task's evaluation reports (what early stopping and sweeps may watch).
SCALARS = {
    'classification': ('accuracy', 'loss', 'log_loss', 'precision_macro', 'recall_macro',
                       'f1_macro', 'roc_auc_macro', 'ece'),
    'regression': ('loss', 'rmse', 'mae', 'r2'),
    'reconstruction': ('loss', 'mse', 'mae'),
}
SCALARS['binary'] = SCALARS['classification']


def make_task(name: str, train_targets: np.ndarray,
              corruption: CorruptionConfig = CorruptionConfig()):
  """The task `name` for a dataset whose training targets are `train_targets`."""
  if name == 'classification':
    return Classification()
  if name == 'binary':
    return Binary()
  if name == 'regression':
    targets = np.asarray(train_targets, np.float64)
    std = float(targets.std())
    return Regression(target_mean=float(targets.mean()), target_std=std if std > 0 else 1.0)
  if name == 'reconstruction':
    return Reconstruction(corruption)
  raise ValueError(f'task {name!r} is unknown; choose one of {", ".join(NAMES)}')
