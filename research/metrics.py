"""Classification metrics as sufficient statistics: summed per batch, `psum`-ed over devices,
added over batches, and only turned into numbers at the end.

Everything is exact except ROC-AUC, which is computed from per-class histograms of log-odds
scores (2,048 bins over [-16, 16]): pairs that share a bin count as ties, so the error is
bounded by the fraction of positive-negative pairs closer than one bin width (1/64 in log-odds).
"""
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from research.nn import switch

ECE_BINS = 15
AUC_BINS = 2048
AUC_RANGE = 16.0


@flax.struct.dataclass
class ClassificationStats:
  count: jax.Array            # number of (unmasked) examples
  loss_sum: jax.Array         # sum of the training loss (whatever loss was used)
  nll_sum: jax.Array          # sum of -log p(true class): log loss
  confusion_CxC: jax.Array    # [true, predicted] counts
  ece_count_K: jax.Array      # per confidence bin: examples, summed confidence, correct
  ece_confidence_K: jax.Array
  ece_correct_K: jax.Array
  auc_pos_CxH: jax.Array      # per class: histogram of log-odds of positives and negatives
  auc_neg_CxH: jax.Array


def classification_stats(logits_BxC, labels_B, loss_B, mask_B=None) -> ClassificationStats:
  """Statistics of one (local) batch; `mask_B` marks real examples (eval padding is 0)."""
  num_classes = logits_BxC.shape[-1]
  mask_B = jnp.ones(labels_B.shape, jnp.float32) if mask_B is None else mask_B.astype(jnp.float32)
  logp_BxC = jax.nn.log_softmax(logits_BxC.astype(jnp.float32))
  probs_BxC = jnp.exp(logp_BxC)
  onehot_BxC = jax.nn.one_hot(labels_B, num_classes)
  predicted_B = jnp.argmax(logits_BxC, -1)
  confidence_B = probs_BxC.max(-1)
  correct_B = (predicted_B == labels_B).astype(jnp.float32)
  ece_bin_B = jnp.minimum((confidence_B * ECE_BINS).astype(jnp.int32), ECE_BINS - 1)
  ece_onehot_BxK = jax.nn.one_hot(ece_bin_B, ECE_BINS) * mask_B[:, None]
  # log p - log(1 - p), computed stably from log-probabilities.
  log_odds_BxC = logp_BxC - jnp.log(-jnp.expm1(jnp.minimum(logp_BxC, -1e-7)))
  auc_bin_BxC = jnp.clip(((log_odds_BxC + AUC_RANGE) / (2 * AUC_RANGE) * AUC_BINS)
                         .astype(jnp.int32), 0, AUC_BINS - 1)
  class_BxC = jnp.broadcast_to(jnp.arange(num_classes), auc_bin_BxC.shape)
  histogram = lambda w_BxC: jnp.zeros((num_classes, AUC_BINS)).at[class_BxC, auc_bin_BxC].add(
      w_BxC * mask_B[:, None])  # integer counts in float32: exact in any summation order
  return ClassificationStats(
      count=mask_B.sum(),
      loss_sum=(loss_B * mask_B).sum(),
      nll_sum=-(jnp.take_along_axis(logp_BxC, labels_B[:, None], -1)[:, 0] * mask_B).sum(),
      confusion_CxC=jnp.einsum('bt,bp->tp', onehot_BxC * mask_B[:, None],
                               jax.nn.one_hot(predicted_B, num_classes)),
      ece_count_K=ece_onehot_BxK.sum(0),
      ece_confidence_K=(ece_onehot_BxK * confidence_B[:, None]).sum(0),
      ece_correct_K=(ece_onehot_BxK * correct_B[:, None]).sum(0),
      auc_pos_CxH=histogram(onehot_BxC),
      auc_neg_CxH=histogram(1.0 - onehot_BxC))


def _sum_of_squares(x: jax.Array) -> jax.Array:
  """sum(x * x); with the CPU-tuned layers (research/nn/switch.py) a large array's as
  ones @ (x * x) over rows of up to 1024: XLA's CPU backend runs a plain full reduction of a
  large array several times slower. Small arrays keep the plain sum, one operation fewer."""
  if x.size < 65536 or not switch.cpu_tuned():
    return jnp.sum(x * x)
  width = next(w for w in (1024, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1) if x.size % w == 0)
  rows = x.reshape(-1, width)
  return (jnp.ones((rows.shape[0],), rows.dtype) @ (rows * rows)).sum()


def scaled_norm(x: jax.Array) -> jax.Array:
  """The L2 norm of x as max|x| * ||x / max|x|||: the squares of entries below about 1e-19
  underflow in float32, so the plain sqrt(sum(x**2)) of a vanished gradient reads 0 where the
  norm is tiny but not zero. Non-finite entries give a non-finite norm; all zeros give 0."""
  x = jnp.asarray(x)
  largest = jnp.max(jnp.abs(x))
  scale = jnp.where(largest > 0, largest, jnp.ones_like(largest))
  return largest * jnp.sqrt(_sum_of_squares(x / scale))


def global_norm(tree) -> jax.Array:
  """The L2 norm of all of a pytree's leaves together (optax.tree.norm's value), as the scaled
  norm of the leaves' scaled norms, so that no square underflows."""
  return scaled_norm(jnp.stack([scaled_norm(x) for x in jax.tree.leaves(tree)]))


def merge(a: ClassificationStats, b: ClassificationStats) -> ClassificationStats:
  """Totals of two batches' statistics, added on the host in NumPy (the same float32 sums).
  With several processes a JAX add of global arrays is a program that every process must run
  together; under load two processes hung in it at their final evaluation, while host sums
  need no one else."""
  return jax.tree.map(lambda x, y: np.add(np.asarray(x), np.asarray(y)), a, b)


def psum(stats: ClassificationStats, axis_name: str | None) -> ClassificationStats:
  """Totals over the devices of `axis_name`; None: this device's are the totals."""
  return lax.psum(stats, axis_name) if axis_name else stats


def _safe_divide(num, den):
  return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def binned_auc(pos_H: np.ndarray, neg_H: np.ndarray) -> float:
  """P(score of a positive > score of a negative), ties counted half, from histograms."""
  neg_below_H = np.cumsum(neg_H) - neg_H
  wins = (pos_H * (neg_below_H + 0.5 * neg_H)).sum()
  pairs = pos_H.sum() * neg_H.sum()
  return float(wins / pairs) if pairs else float('nan')


def per_class(confusion_CxC) -> dict[str, np.ndarray]:
  """Precision, recall, F1 and support of each class from a confusion matrix [true, predicted]
  (counts, or expected counts: any non-negative weights); 0 where a ratio has no denominator,
  as scikit-learn's zero_division=0."""
  cm = np.asarray(confusion_CxC, np.float64)
  tp_C = np.diag(cm)
  precision_C = _safe_divide(tp_C, cm.sum(0))
  recall_C = _safe_divide(tp_C, cm.sum(1))
  return {'precision': precision_C, 'recall': recall_C,
          'f1': _safe_divide(2 * precision_C * recall_C, precision_C + recall_C),
          'support': cm.sum(1)}


def summarize(stats: ClassificationStats) -> dict:
  """Final numbers, as plain Python floats and lists ready for JSON."""
  s = jax.tree.map(lambda x: np.asarray(x, np.float64), stats)
  classes = per_class(s.confusion_CxC)
  tp_C = np.diag(s.confusion_CxC)
  precision_C, recall_C, f1_C = classes['precision'], classes['recall'], classes['f1']
  count = max(float(s.count), 1.0)
  ece = float(np.abs(s.ece_correct_K - s.ece_confidence_K).sum() / count)
  aucs = [binned_auc(p, n) for p, n in zip(s.auc_pos_CxH, s.auc_neg_CxH)]
  present = [a for a in aucs if not np.isnan(a)]
  return {
      'count': int(s.count),
      'loss': float(s.loss_sum / count),
      'accuracy': float(tp_C.sum() / count),
      'log_loss': float(s.nll_sum / count),
      'precision_macro': float(precision_C.mean()),
      'recall_macro': float(recall_C.mean()),
      'f1_macro': float(f1_C.mean()),
      'f1_per_class': [float(f) for f in f1_C],
      'roc_auc_macro': float(np.mean(present)) if present else float('nan'),
      'ece': ece,
      'confusion_matrix': s.confusion_CxC.astype(int).tolist(),
  }


def frechet_distance(a_NxD, b_MxD) -> float:
  """The Fréchet distance between Gaussians fitted to two sets of features:
  |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) (Dowson and Landau 1982), in float64.
  With an Inception network's features this is Heusel et al. 2017's FID; with any other
  network's it is a different number on a different scale."""
  a, b = np.asarray(a_NxD, np.float64), np.asarray(b_MxD, np.float64)
  mean_gap = a.mean(0) - b.mean(0)
  cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
  # Tr (S_a S_b)^(1/2) is the sum of the square roots of S_a S_b's eigenvalues, which are real
  # and >= 0 for covariances: no matrix square root, so features with dead (constant) units,
  # whose covariances are singular, need no special case. Rounding leaves tiny imaginary or
  # negative parts, dropped.
  eigenvalues = np.linalg.eigvals(cov_a @ cov_b).real
  root_trace = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
  return float(mean_gap @ mean_gap + np.trace(cov_a) + np.trace(cov_b) - 2 * root_trace)
