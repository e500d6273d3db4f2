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
- reconstruction: the target is the (normalised) input itself, for autoencoders, optionally
  corrupted on the way in (denoising); with binary cross-entropy the outputs are logits of
  pixels in [0, 1];
- adversarial: a GAN's two players, each with its own optimizer, in one step.

Each lives in its own module here; this one names them and builds one from a config.
"""
import dataclasses

import numpy as np

from research import losses

from research.tasks.adversarial import (GENERATOR_LOSSES, UPDATES, Adversarial,
                                        AdversarialConfig)
from research.tasks.base import REGRESSION_LOSSES
from research.tasks.classification import BINARY_LOSSES, Binary, Classification
from research.tasks.reconstruction import (CORRUPTIONS, RECONSTRUCTION_LOSSES, CorruptionConfig,
                                          Reconstruction)
from research.tasks.regression import Regression

NAMES = ('classification', 'binary', 'regression', 'reconstruction', 'adversarial')
__all__ = ['Adversarial', 'AdversarialConfig', 'BINARY_LOSSES', 'Binary', 'CORRUPTIONS',
           'Classification', 'CorruptionConfig', 'DEFAULT_LOSS', 'GENERATOR_LOSSES', 'NAMES',
           'RECONSTRUCTION_LOSSES', 'REGRESSION_LOSSES', 'Reconstruction', 'Regression', 'SCALARS', 'Task', 'UPDATES',
           'loss_for', 'make_task']

Task = Classification | Binary | Regression | Reconstruction | Adversarial

# The scalar metrics each task's evaluation reports (what early stopping and sweeps may watch).
SCALARS = {
    'classification': ('accuracy', 'loss', 'log_loss', 'precision_macro', 'recall_macro',
                       'f1_macro', 'roc_auc_macro', 'ece'),
    'regression': ('loss', 'rmse', 'mae', 'r2'),
    'reconstruction': ('loss', 'mse', 'mae'),
    'adversarial': ('loss', 'd_real', 'd_fake', 'd_accuracy'),
}
SCALARS['binary'] = SCALARS['classification']

# The loss each task trains with when loss.name is left empty.
DEFAULT_LOSS = {'classification': 'cross_entropy', 'binary': 'cross_entropy',
                'regression': 'mse', 'reconstruction': 'mse', 'adversarial': 'cross_entropy'}


def loss_for(task: str, cfg: losses.LossConfig) -> losses.LossConfig:
  """`cfg` with its name filled in: an empty name is the task's own loss."""
  return cfg if cfg.name else dataclasses.replace(cfg, name=DEFAULT_LOSS[task])


def make_task(name: str, train_targets: np.ndarray,
              corruption: CorruptionConfig = CorruptionConfig(),
              adversarial: AdversarialConfig = AdversarialConfig()):
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
  if name == 'adversarial':
    return Adversarial(adversarial)
  raise ValueError(f'task {name!r} is unknown; choose one of {", ".join(NAMES)}')
