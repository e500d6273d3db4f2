"""Section 1. The generator's loss: minimax against non-saturating.

Goodfellow et al. (2014), section 3: early in learning, when the generator is poor, the
discriminator rejects its samples with high confidence and log(1 - D(G(z))) saturates, giving the
generator almost no gradient; maximising log D(G(z)) instead gives "much stronger gradients early
in learning". Measured twice: from one initialisation, the discriminator alone is trained ever
longer (so it wins ever more easily) and both generator gradients are taken at each point; then
both losses train GANs over seeds, with the generator's gradient norm over training and the
samples' Fréchet distance in the feature space of a classifier trained here.
"""
import jax
import numpy as np
import optax

from experiments.gan import groups
from research import metrics, report, stats
from research.models import build_model
from research.tasks.adversarial import GENERATOR_LOSSES, TwoPlayerLosses
from research.train import state as state_lib

TITLE = "The generator's loss: minimax against non-saturating (Goodfellow et al. 2014)"
SATURATED = 0.1  # minimax's gradient below this share of the non-saturating one's: saturated


def saturation(config, data, d_steps) -> list[dict]:
  """At each of `d_steps` discriminator-only Adam steps from the initialisation: the mean
  D(G(z)) and the norm of each generator loss's gradient on a fixed batch of 256 codes."""
  model = build_model('gan', groups.gan_options(config), 0)
  shape, images = data.image_shape, groups.normalized(data, 'train')
  params = state_lib.init_variables(model, config.seed, shape)['params']
  g, d = params['generator'], params['discriminator']
  play = TwoPlayerLosses(model, shape)
  tx = optax.adam(config.learning_rate, b1=config.b1)
  key, key_fixed = jax.random.split(jax.random.key(config.seed + 1))
  z_fixed = jax.random.normal(key_fixed, (256, config.latent))

  @jax.jit
  def d_step(d, opt, batch, step):
    z = jax.random.normal(jax.random.fold_in(key, step), (batch.shape[0], config.latent))
    grads, _ = jax.grad(play.discriminator_loss, has_aux=True)(d, g, batch, z)
    updates, opt = tx.update(grads, opt, d)
    return optax.apply_updates(d, updates), opt

  @jax.jit
  def observe(d):
    fake = play.apply(g, d, z_fixed, shape, method='generate')
    d_fake = jax.nn.sigmoid(play.apply(g, d, fake, method='discriminate')).mean()
    return d_fake, {kind: metrics.global_norm(jax.grad(play.generator_loss)(g, d, z_fixed, kind))
                    for kind in GENERATOR_LOSSES}

  rows, opt = [], tx.init(d)
  order = np.random.default_rng(config.seed).integers(0, len(images),
                                                      (max(d_steps), config.batch_size))
  for step in range(max(d_steps) + 1):
    if step in d_steps:
      d_fake, norms = jax.device_get(observe(d))
      rows.append({'d_steps': step, 'd_fake': float(d_fake),
                   **{kind: float(norms[kind]) for kind in GENERATOR_LOSSES}})
    if step < max(d_steps):
      d, opt = d_step(d, opt, images[order[step]], step)
  return rows


def _curves(records, name: str, split: str, members: int) -> dict:
  """{'steps', 'mean'} of `name` over members, record by record."""
  mine = [r for r in records if r['split'] == split and f'{name}/0' in r]
  return {'steps': [r['step'] for r in mine],
          'mean': [float(np.mean([r[f'{name}/{k}'] for k in range(members)])) for r in mine]}


def summarize_group(group) -> dict:
  """What the sections keep of a GAN group: final scores per member and curves."""
  members = len(group['members'])
  probes = [r for r in group['records'] if r['split'] == 'diagnostics']
  last = probes[-1]
  return {'fd': [last[f'fd/{k}'] for k in range(members)],
          'entropy': [last[f'entropy/{k}'] for k in range(members)],
          'top_share': [last[f'top_share/{k}'] for k in range(members)],
          'd_accuracy': [m['test']['d_accuracy'] for m in group['members']],
          'fd_curve': _curves(group['records'], 'fd', 'diagnostics', members),
          'g_grad_norm_curve': _curves(group['records'], 'g_grad_norm', 'train', members),
          'd_fake_curve': _curves(group['records'], 'd_fake', 'train', members),
          'seconds': group['seconds']}


def measure(cfg, context) -> dict:
  config, data = context.config, context.data()
  score = context.scorer()
  return {'saturation': saturation(config, data, cfg.d_steps),
          'classifier_accuracy': score.test_accuracy,
          'runs': {loss: summarize_group(context.gan(loss)) for loss in GENERATOR_LOSSES},
          'epochs': config.epochs}


def analyze(results) -> dict:
  rows = results['saturation']
  start, end = rows[0], rows[-1]
  saturated = end['minimax'] < SATURATED * end['non_saturating']
  parts = [f"as the discriminator alone trains for {end['d_steps']} steps (mean D(G(z)) from "
           f"{start['d_fake']:.2f} to {end['d_fake']:.2g}), the minimax generator gradient "
           f"goes from {start['minimax']:.3g} to {end['minimax']:.3g} and the non-saturating one "
           f"from {start['non_saturating']:.3g} to {end['non_saturating']:.3g}: "
           + ("Goodfellow et al.'s saturation reproduced" if saturated else
              f"minimax is not below {SATURATED:.0%} of non-saturating, so no saturation here")]
  fd = {loss: stats.over_seeds(run['fd']) for loss, run in results['runs'].items()}
  better, other = sorted(fd, key=lambda loss: fd[loss]['mean'])
  parts.append(f"trained for {results['epochs']} epochs, the {better.replace('_', '-')} loss "
               f"ends at a Fréchet distance of {fd[better]['mean']:.3g} against "
               f"{fd[other]['mean']:.3g} for {other.replace('_', '-')}: "
               + ('inside the seed spread (inconclusive)'
                  if stats.intervals_overlap(fd[better], fd[other]) else
                  'better beyond the seed spread'))
  first = {loss: run['g_grad_norm_curve']['mean'][0] for loss, run in results['runs'].items()}
  return {'headline': {'saturation_ratio_start': start['minimax'] / start['non_saturating'],
                       'saturation_ratio_end': end['minimax'] / end['non_saturating'],
                       **{f'fd_{loss}': fd[loss]['mean'] for loss in fd},
                       **{f'first_epoch_g_grad_norm_{loss}': v for loss, v in first.items()}},
          'fd': fd, 'saturated': saturated, 'verdict': '; '.join(parts)}


def plot(results, findings, workdir) -> None:
  rows = results['saturation']
  with report.figure(workdir / 'gan_losses.png', panels=3, panel_size=(4.5, 4)) as (_, axes):
    start, grads, quality = axes
    steps = [max(r['d_steps'], 1) for r in rows]
    for kind in GENERATOR_LOSSES:
      start.plot(steps, [r[kind] for r in rows], 'o-', label=kind)
    start.set(xscale='log', yscale='log', xlabel='discriminator-only steps (0 drawn at 1)',
              ylabel="generator gradient norm")
    for loss, run in results['runs'].items():
      grads.plot(run['g_grad_norm_curve']['steps'], run['g_grad_norm_curve']['mean'], label=loss)
      quality.plot(run['fd_curve']['steps'], run['fd_curve']['mean'], 'o-', label=loss)
    grads.set(yscale='log', xlabel='step', ylabel='generator gradient norm (epoch mean)')
    quality.set(yscale='log', xlabel='step', ylabel='Fréchet distance (classifier features)')
    for ax in axes:
      ax.grid(alpha=0.3)
      ax.legend(fontsize=8)


def render(results, findings) -> str:
  saturation_table = report.markdown_table(
      ['discriminator-only steps', 'mean D(G(z))', 'minimax gradient norm',
       'non-saturating gradient norm'],
      [[r['d_steps'], f"{r['d_fake']:.3g}", f"{r['minimax']:.3g}",
        f"{r['non_saturating']:.3g}"] for r in results['saturation']])
  runs_table = report.markdown_table(
      ['generator loss', 'Fréchet distance (mean ± 95%)', 'class entropy', 'D accuracy (test)',
       'seconds'],
      [[loss, f"{findings['fd'][loss]['mean']:.3g} ± "
              f"{findings['fd'][loss]['ci95_high'] - findings['fd'][loss]['mean']:.2g}",
        f"{np.mean(run['entropy']):.3f}", f"{np.mean(run['d_accuracy']):.1%}",
        f"{run['seconds']:.0f}"] for loss, run in results['runs'].items()])
  return f"""From one initialisation, the discriminator trained alone (Adam, the GAN's settings),
both generator gradients taken on 256 fixed codes:

{saturation_table}

Then GANs trained with each loss over seeds for {results['epochs']} epochs (alternating updates,
Adam at the DCGAN settings). The Fréchet distance is between Gaussians fitted to the last hidden
layer of an MLP classifier trained here on the real data (test accuracy
{results['classifier_accuracy']:.1%}), for the samples and the real test images: not the
Inception-based FID, and not comparable with published FIDs. Class entropy: the entropy of the
classifier's predicted classes of the samples over log(classes), 1 when every class is as
frequent.

{runs_table}

![generator gradients at the start and over training, and the Fréchet distance](gan_losses.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
