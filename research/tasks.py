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

NAMES = ('classification', 'binary', 'regression', 'reconstruction', 'adversarial')
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


GENERATOR_LOSSES = ('non_saturating', 'minimax')
UPDATES = ('alternating', 'simultaneous')


@dataclasses.dataclass(frozen=True)
class AdversarialConfig:
  generator_loss: str = 'non_saturating'  # non_saturating: -log D(G(z)); minimax: log(1 - D(G(z)))
  updates: str = 'alternating'   # alternating (D, then G against the new D) or simultaneous
  discriminator_lr_scale: float = 1.0  # the discriminator's learning rate over optim's


@flax.struct.dataclass
class AdversarialStats:
  count: jax.Array
  loss_sum: jax.Array           # the discriminator's loss: BCE on real (1) and generated (0)
  real_probability_sum: jax.Array
  fake_probability_sum: jax.Array
  correct_sum: jax.Array        # real judged real plus generated judged generated


@dataclasses.dataclass(frozen=True)
class Adversarial:
  """Two players, each with its own optimizer and state, updated in one step (Goodfellow et al.
  2014, Algorithm 1 with k = 1): the discriminator on real images and a batch of generated
  ones, the generator through the discriminator. Its model is research/models/gan.GAN; its
  optimizer research/optim.Players. Latent codes are drawn per example from (seed, step,
  global position); evaluation pits the test images against one fixed batch of generated
  ones."""
  adversarial: AdversarialConfig = AdversarialConfig()
  name = 'adversarial'
  headline = ('d_accuracy', 'loss')

  def output_units(self, num_classes: int) -> int:
    return 0

  def targets(self, images, labels):
    return images

  def make_optimizer(self, cfg, total_steps: int, params):
    from research import optim  # optim does not import tasks; tasks is imported by the step
    d_cfg = dataclasses.replace(
        cfg, learning_rate=cfg.learning_rate * self.adversarial.discriminator_lr_scale)
    return optim.Players(
        generator=optim.make_optimizer(cfg, total_steps, params['generator']),
        discriminator=optim.make_optimizer(d_cfg, total_steps, params['discriminator']))

  @staticmethod
  def latents(model, key, batch: int, axis_name):
    keys_B = rng.example_keys(key, batch, axis_name)
    return jax.vmap(lambda k: jax.random.normal(k, (model.latent,)))(keys_B)

  def update(self, model, tx, cfg, state, images, seed):
    """One step of both players: (new state, global-mean metrics)."""
    mean = (lambda x: jax.lax.pmean(x, cfg.axis_name)) if cfg.axis_name else (lambda x: x)
    key = rng.stream_key(seed, 'latent', state.step)
    z_d, z_g = (self.latents(model, jax.random.fold_in(key, i), images.shape[0], cfg.axis_name)
                for i in (0, 1))
    play = _Play(model, images.shape[1:])
    (d_loss, (real, fake)), grads_d = jax.value_and_grad(play.discriminator_loss, has_aux=True)(
        state.params['discriminator'], state.params['generator'], images, z_d)
    grads_d = mean(grads_d)
    updates_d, opt_d = tx.discriminator.update(grads_d, state.opt_state['discriminator'],
                                               state.params['discriminator'])
    new_d = optax.apply_updates(state.params['discriminator'], updates_d)
    against = new_d if self.adversarial.updates == 'alternating' else state.params['discriminator']
    g_loss, grads_g = jax.value_and_grad(play.generator_loss)(
        state.params['generator'], against, z_g, self.adversarial.generator_loss)
    grads_g = mean(grads_g)
    updates_g, opt_g = tx.generator.update(grads_g, state.opt_state['generator'],
                                           state.params['generator'])
    params = {'generator': optax.apply_updates(state.params['generator'], updates_g),
              'discriminator': new_d}
    new_state = state.replace(step=state.step + 1, params=params,
                              opt_state={'generator': opt_g, 'discriminator': opt_d})
    return new_state, {
        'loss': mean(d_loss), 'g_loss': mean(g_loss),
        'd_real': mean(jax.nn.sigmoid(real).mean()), 'd_fake': mean(jax.nn.sigmoid(fake).mean()),
        'grad_norm': metrics.global_norm({'generator': grads_g, 'discriminator': grads_d})}

  def eval_outputs(self, model, variables, images, key, axis_name):
    """(the discriminator's logits on the real images, on as many generated ones)."""
    z = self.latents(model, key, images.shape[0], axis_name)
    fake = model.apply(variables, z, images.shape[1:], method='generate')
    return (model.apply(variables, images, method='discriminate'),
            model.apply(variables, fake, method='discriminate'))

  def eval_stats(self, cfg, outputs, images, mask_B):
    real_Bx1, fake_Bx1 = outputs
    mask_B = mask_B.astype(jnp.float32)
    bce = optax.sigmoid_binary_cross_entropy
    loss_B = (bce(real_Bx1[:, 0], jnp.ones_like(mask_B))
              + bce(fake_Bx1[:, 0], jnp.zeros_like(mask_B)))
    real_p, fake_p = jax.nn.sigmoid(real_Bx1[:, 0]), jax.nn.sigmoid(fake_Bx1[:, 0])
    correct_B = ((real_Bx1[:, 0] > 0).astype(jnp.float32) + (fake_Bx1[:, 0] < 0)) / 2
    total = lambda x_B: (x_B * mask_B).sum()
    return AdversarialStats(count=mask_B.sum(), loss_sum=total(loss_B),
                            real_probability_sum=total(real_p), fake_probability_sum=total(fake_p),
                            correct_sum=total(correct_B))

  def summarize(self, stats: AdversarialStats) -> dict:
    s = jax.tree.map(lambda x: float(np.asarray(x, np.float64)), stats)
    count = max(s.count, 1.0)
    return {'count': int(s.count), 'loss': s.loss_sum / count,
            'd_real': s.real_probability_sum / count, 'd_fake': s.fake_probability_sum / count,
            'd_accuracy': s.correct_sum / count}


@dataclasses.dataclass(frozen=True)
class _Play:
  """The two players' losses, as functions of their parameters."""
  model: object
  shape: tuple

  def _apply(self, g_params, d_params, *args, method):
    variables = {'params': {'generator': g_params, 'discriminator': d_params}}
    return self.model.apply(variables, *args, method=method)

  def discriminator_loss(self, d_params, g_params, images, z):
    fake = jax.lax.stop_gradient(self._apply(g_params, d_params, z, self.shape, method='generate'))
    real_logit = self._apply(g_params, d_params, images, method='discriminate')[:, 0]
    fake_logit = self._apply(g_params, d_params, fake, method='discriminate')[:, 0]
    bce = optax.sigmoid_binary_cross_entropy
    loss = bce(real_logit, jnp.ones_like(real_logit)).mean() + \
        bce(fake_logit, jnp.zeros_like(fake_logit)).mean()
    return loss, (real_logit, fake_logit)

  def generator_loss(self, g_params, d_params, z, kind: str):
    fake = self._apply(g_params, d_params, z, self.shape, method='generate')
    logit = self._apply(g_params, d_params, fake, method='discriminate')[:, 0]
    if kind == 'non_saturating':  # -log D(G(z))
      return optax.sigmoid_binary_cross_entropy(logit, jnp.ones_like(logit)).mean()
    # minimax: minimise log(1 - D(G(z))) = -BCE(D(G(z)), 0)
    return -optax.sigmoid_binary_cross_entropy(logit, jnp.zeros_like(logit)).mean()


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
