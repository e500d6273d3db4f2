"""Two-player (adversarial) training: a GAN's generator and discriminator, each with its own
optimizer and state, updated in one step."""
import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from research import metrics, rng
from research.train import microbatches

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
    return num_classes  # the labels a conditional GAN is given

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

  def update(self, model, tx, cfg, state, images, labels_B, seed):
    """One step of both players: (new state, global-mean metrics). A conditional GAN's
    generated examples take the labels of the real batch, so both see one class mix."""
    mean = (lambda x: jax.lax.pmean(x, cfg.axis_name)) if cfg.axis_name else (lambda x: x)
    key = rng.stream_key(seed, 'latent', state.step)
    z_d, z_g = (self.latents(model, jax.random.fold_in(key, i), images.shape[0], cfg.axis_name)
                for i in (0, 1))
    play = TwoPlayerLosses(model, images.shape[1:])
    # Both players' gradients go through the step's microbatches (grad_accum), as one model's do.
    d_fn = lambda d, carry, *batch: _with_carry(
        play.discriminator_loss(d, state.params['generator'], *batch), carry)
    (d_loss, ((real, fake), _)), grads_d = microbatches.value_and_grad(d_fn, cfg.grad_accum)(
        state.params['discriminator'], {}, images, z_d, labels_B)
    grads_d = mean(grads_d)
    updates_d, opt_d = tx.discriminator.update(grads_d, state.opt_state['discriminator'],
                                               state.params['discriminator'])
    new_d = optax.apply_updates(state.params['discriminator'], updates_d)
    against = new_d if self.adversarial.updates == 'alternating' else state.params['discriminator']
    g_fn = lambda g, carry, *batch: _with_carry(
        (play.generator_loss(g, against, batch[0], self.adversarial.generator_loss, batch[1]),
         ()), carry)
    (g_loss, _), grads_g = microbatches.value_and_grad(g_fn, cfg.grad_accum)(
        state.params['generator'], {}, z_g, labels_B)
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
        'grad_norm': metrics.global_norm({'generator': grads_g, 'discriminator': grads_d}),
        'g_grad_norm': metrics.global_norm(grads_g), 'd_grad_norm': metrics.global_norm(grads_d)}

  def eval_outputs(self, model, variables, images, labels_B, key, axis_name):
    """(the discriminator's logits on the real images, on as many generated ones, of the
    same labels if conditional)."""
    labels_B = labels_B if model.conditional else None
    z = self.latents(model, key, images.shape[0], axis_name)
    fake = model.apply(variables, z, images.shape[1:], labels_B, method='generate')
    return (model.apply(variables, images, labels_B, method='discriminate'),
            model.apply(variables, fake, labels_B, method='discriminate'))

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


def _with_carry(loss_and_aux, carry):
  """(loss, aux) as microbatches.value_and_grad wants it: (loss, (aux, carry))."""
  loss, aux = loss_and_aux
  return loss, (aux, carry)


@dataclasses.dataclass(frozen=True)
class TwoPlayerLosses:
  """The two players' losses, as functions of their parameters."""
  model: object
  shape: tuple

  def apply(self, g_params, d_params, *args, method):
    variables = {'params': {'generator': g_params, 'discriminator': d_params}}
    return self.model.apply(variables, *args, method=method)

  def discriminator_loss(self, d_params, g_params, images, z, labels_B=None):
    labels_B = labels_B if self.model.conditional else None
    fake = jax.lax.stop_gradient(self.apply(g_params, d_params, z, self.shape, labels_B,
                                            method='generate'))
    real_logit = self.apply(g_params, d_params, images, labels_B, method='discriminate')[:, 0]
    fake_logit = self.apply(g_params, d_params, fake, labels_B, method='discriminate')[:, 0]
    bce = optax.sigmoid_binary_cross_entropy
    loss = bce(real_logit, jnp.ones_like(real_logit)).mean() + \
        bce(fake_logit, jnp.zeros_like(fake_logit)).mean()
    return loss, (real_logit, fake_logit)

  def generator_loss(self, g_params, d_params, z, kind: str, labels_B=None):
    labels_B = labels_B if self.model.conditional else None
    fake = self.apply(g_params, d_params, z, self.shape, labels_B, method='generate')
    logit = self.apply(g_params, d_params, fake, labels_B, method='discriminate')[:, 0]
    if kind == 'non_saturating':  # -log D(G(z))
      return optax.sigmoid_binary_cross_entropy(logit, jnp.ones_like(logit)).mean()
    # minimax: minimise log(1 - D(G(z))) = -BCE(D(G(z)), 0)
    return -optax.sigmoid_binary_cross_entropy(logit, jnp.zeros_like(logit)).mean()
