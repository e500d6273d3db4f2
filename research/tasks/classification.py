"""Classification (one logit per class) and binary classification (one logit and a sigmoid,
evaluated as classification on the logits (0, z), whose softmax is exactly
(1 - sigmoid z, sigmoid z))."""
import dataclasses

import jax.numpy as jnp
import numpy as np
import optax

from research import losses, metrics
from research.tasks.base import LabelTargets

BINARY_LOSSES = ('cross_entropy', 'binary_cross_entropy')  # the same for one logit


@dataclasses.dataclass(frozen=True)
class Classification(LabelTargets):
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
