"""Section 2. Batch, stochastic and mini-batch gradient descent on the same network.

Batch gradient descent takes one exact step per epoch; stochastic gradient descent (batch 1)
takes one step per example, each on a noisy gradient; mini-batches sit between. Which reaches
a lower validation loss per epoch and per second, and does the mini-batch gradient's variance
fall as 1/B, as sampling theory says?
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments.optimisation import groups
from research import losses, optim, report, stats
from research.data import pipeline
from research.models import build_model
from research.train import state as state_lib

TITLE = 'Gradient descent: batch, stochastic and mini-batch'
SLOPE_BOUNDS = (-1.2, -0.8)  # "about 1/B": the log-log slope of the variance against B


def label(batch: int, total: int) -> str:
  return ('batch' if batch == total else 'stochastic' if batch == 1 else 'mini-batch')


def options(cfg) -> dict:
  return dict(depth=1, width=cfg.width, activation='relu', weight_init='he')


def train_variants(cfg, context) -> list[dict]:
  total = len(context.dataset.train_labels)
  rows = []
  for batch in cfg.batch_sizes:
    b = batch or total
    group = groups.train(f'gd_batch{b}', context, model='mlp', options=options(cfg),
                         optim_cfg=optim.OptimConfig(name='sgd', learning_rate=cfg.learning_rate),
                         epochs=cfg.epochs, batch_size=b)
    seeds = range(len(group['members']))
    val = np.array([groups.curve(group['records'], 'val', 'loss', k) for k in seeds], float)
    rows.append({
        'batch_size': b, 'kind': label(b, total), 'steps_per_epoch': group['steps'] // cfg.epochs,
        'seconds_per_epoch': group['run_s'] / cfg.epochs,
        'val_loss_curve': groups.nan_to_none(np.nanmean(val, 0)),
        'val_loss': stats.over_seeds(val[:, -1]),
        'val_accuracy': stats.over_seeds([groups.member_value(m, 'val', 'accuracy')
                                          for m in group['members']]),
        'test_accuracy': stats.over_seeds([groups.member_value(m, 'test', 'accuracy')
                                           for m in group['members']])})
  return rows


def gradient_variance(cfg, dataset, seed: int) -> dict:
  """E||g_B - g||^2 of mini-batches drawn without replacement from `variance_examples`
  training examples, at the network's initialisation, against (sigma^2 / B)(n - B)/(n - 1)."""
  n = min(cfg.variance_examples, len(dataset.train_labels))
  images = jnp.asarray(pipeline.normalize(dataset.train_images[:n], dataset.mean, dataset.std))
  labels = jnp.asarray(dataset.train_labels[:n])
  model = build_model('mlp', options(cfg), dataset.num_classes)
  params = state_lib.init_variables(model, seed, dataset.image_shape)['params']

  def mean_grad(x, y):
    loss = lambda p: losses.per_example_loss(losses.LossConfig(),
                                             model.apply({'params': p}, x, train=False), y).mean()
    return ravel_pytree(jax.grad(loss)(params))[0]

  # Jitted, not eager: run op by op, every batch size would compile each primitive again.
  @jax.jit
  def squared_distance(x_DxB, y_DxB, full):
    """Mean of ||g_B - full||^2 over the D mini-batches."""
    return jnp.mean(jnp.sum((jax.vmap(mean_grad)(x_DxB, y_DxB) - full) ** 2, axis=1))

  full = jax.jit(mean_grad)(images, labels)
  per_example = jax.jit(lambda x, y: jax.lax.map(
      lambda xy: jnp.sum(mean_grad(xy[0][None], xy[1][None]) ** 2), (x, y), batch_size=100))
  sigma2 = float(per_example(images, labels).mean() - jnp.sum(full ** 2))
  rng = np.random.default_rng(seed)
  rows = []
  for b in (b for b in cfg.variance_batches if b < n):
    index = np.stack([rng.choice(n, b, replace=False) for _ in range(cfg.variance_draws)])
    measured = float(squared_distance(images[index], labels[index], full))
    rows.append({'batch_size': b, 'measured': measured,
                 'theory': sigma2 / b * (n - b) / (n - 1)})
  fit = stats.line_fit(np.log([r['batch_size'] for r in rows]),
                       np.log([r['measured'] for r in rows]))
  return {'examples': n, 'sigma2': sigma2, 'rows': rows, 'slope': fit['slope'],
          'draws': cfg.variance_draws}


def measure(cfg, context) -> dict:
  return {'rows': train_variants(cfg, context),
          'variance': gradient_variance(cfg, context.dataset, context.config.seed),
          'learning_rate': cfg.learning_rate, 'epochs': cfg.epochs,
          'data': context.dataset.name, 'train_examples': len(context.dataset.train_labels)}


def seconds_to(row: dict, target: float):
  epoch = groups.first_epoch_at(row['val_loss_curve'], target)
  return None if epoch is None else epoch * row['seconds_per_epoch']


def analyze(results) -> dict:
  rows = results['rows']
  finished = [r for r in rows if r['val_loss']['n']]
  best = min(finished, key=lambda r: r['val_loss']['mean']) if finished else None
  # The loss to reach in time: the second-best final validation loss, so that at least two
  # variants reach it and the faster of them is a comparison.
  finals = sorted(r['val_loss']['mean'] for r in finished)
  target = finals[min(1, len(finals) - 1)] if finals else None
  times = {r['batch_size']: seconds_to(r, target) for r in finished}
  timed = {b: t for b, t in times.items() if t is not None}
  fastest = min(timed, key=timed.get) if timed else None
  others = [r for r in finished if r is not best]
  clear = bool(best) and not any(stats.intervals_overlap(best['val_loss'], r['val_loss'])
                                 for r in others)
  v = results['variance']
  lo, hi = SLOPE_BOUNDS
  return {
      'headline': {**{f"val_loss_batch{r['batch_size']}": r['val_loss']['mean'] for r in rows},
                   **{f"test_accuracy_batch{r['batch_size']}": r['test_accuracy']['mean']
                      for r in rows},
                   'variance_slope': v['slope']},
      'target': target, 'seconds_to_target': times, 'fastest_in_time': fastest,
      'best_per_epoch': best and best['batch_size'],
      'per_epoch': ('no run finished' if not best else
                    f"batch size {best['batch_size']} ({best['kind']}) reaches the lowest "
                    f"validation loss after {results['epochs']} epochs" +
                    ('' if clear else ', but not outside the seed spread of every other: '
                     'inconclusive against those')),
      'per_second': ('no run reached the target' if fastest is None else
                     f'batch size {fastest} reaches validation loss {target:.4f} first, in '
                     f'{timed[fastest]:.2f} s'),
      'variance': (f"the variance falls as B^{v['slope']:.2f}: " +
                   ('about 1/B, as theory says' if lo <= v['slope'] <= hi else
                    f'not the 1/B of theory (slope outside [{lo}, {hi}])'))}


def plot(results, findings, workdir) -> None:
  rows = results['rows']
  with report.figure(workdir / 'gd_variants.png', panels=3) as (_, (by_epoch, by_time, var)):
    for r in rows:
      epochs = np.arange(1, len(r['val_loss_curve']) + 1)
      curve = np.array(r['val_loss_curve'], float)
      name = f"{r['kind']} (B={r['batch_size']})"
      by_epoch.plot(epochs, curve, label=name)
      by_time.plot(epochs * r['seconds_per_epoch'], curve, label=name)
    for ax, xlabel in ((by_epoch, 'epoch'), (by_time, 'seconds')):
      ax.set_xlabel(xlabel)
      ax.set_ylabel('validation loss')
      ax.set_yscale('log')
      ax.grid(alpha=0.3)
      ax.legend(fontsize=7)
    by_time.set_xscale('log')
    v = results['variance']['rows']
    var.loglog([r['batch_size'] for r in v], [r['measured'] for r in v], 'o', label='measured')
    var.loglog([r['batch_size'] for r in v], [r['theory'] for r in v], '-',
               label='sigma^2/B (n-B)/(n-1)')
    var.set_xlabel('batch size B')
    var.set_ylabel('E||g_B - g||^2')
    var.grid(alpha=0.3)
    var.legend(fontsize=7)


def _seconds(value) -> str:
  return 'not reached' if value is None else f'{value:.3g}'


def render(results, findings) -> str:
  table = report.markdown_table(
      ['kind', 'batch', 'steps/epoch', 's/epoch', 'final val loss', 'val accuracy %',
       'test accuracy %', 's to target'],
      [[r['kind'], r['batch_size'], r['steps_per_epoch'], r['seconds_per_epoch'],
        groups.interval(r['val_loss'], digits=4), groups.interval(r['val_accuracy'], 100),
        groups.interval(r['test_accuracy'], 100),
        _seconds(findings['seconds_to_target'].get(r['batch_size']))] for r in results['rows']])
  v = results['variance']
  variance = report.markdown_table(
      ['B', 'measured E||g_B - g||^2', 'theory', 'measured / theory'],
      [[r['batch_size'], r['measured'], r['theory'], r['measured'] / r['theory']]
       for r in v['rows']])
  return f"""A one-hidden-layer ReLU MLP ({results['train_examples']} training examples of
{results['data']}), plain SGD at learning rate {results['learning_rate']} for every batch
size (the same rate, so the comparison is of the gradient's noise and the number of steps, not
of tuned rates), {results['epochs']} epochs. Means over seeds with 95% intervals. The target
loss, for the seconds each needs, is the second-best final validation loss,
{findings['target']:.4f}.

{table}

The gradient's variance at initialisation, over {v['draws']} mini-batches per size drawn
without replacement from {v['examples']} examples (sigma^2 = {v['sigma2']:.4g}):

{variance}

![validation loss per epoch and per second, gradient variance](gd_variants.png)

**Conclusion.** Per epoch, {findings['per_epoch']}. Per second, {findings['per_second']}.
Gradient noise: {findings['variance']}.
"""
