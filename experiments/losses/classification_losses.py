"""Section 2. Classification losses: cross-entropy against MSE and MAE on softmax outputs.

The notes pair cross-entropy with softmax outputs and derive backprop for a squared error on
them. Why prefer cross-entropy? The saturation argument: with a softmax, the gradient of MSE
(and MAE) with respect to the true class's logit vanishes as that class's probability p goes
to 0, exactly where the model is most wrong; cross-entropy's is p - 1. Here that gradient
analytically and by `jax.grad` of the library's losses, side by side; then the three losses
train the same MLP (each at its own validation-chosen rate): speed, accuracy and calibration.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments import ensemble_runs
from experiments.losses import groups
from research import losses, report, stats

TITLE = 'Cross-entropy against MSE and MAE on softmax outputs'
CLOSED_FORMS = ('cross_entropy', 'mse', 'mae')  # the losses whose gradient is derived below


def analytic_gradient(name: str, p, classes: int):
  """d loss / d z_true for logits (z, 0, ..., 0), the true class first, whose softmax gives
  the true class p and every other (1 - p) / (C - 1); the MSE and MAE are means over the C
  outputs, as research/losses.py takes them."""
  p = np.asarray(p, np.float64)
  if name == 'cross_entropy':
    return p - 1.0
  if name == 'mse':
    return -2.0 * p * (1.0 - p) ** 2 / (classes - 1)
  if name == 'mae':
    return -2.0 * p * (1.0 - p) / classes
  raise ValueError(f'no closed form for {name!r}')


def autodiff_gradient(name: str, p, classes: int) -> np.ndarray:
  """The same derivative by jax.grad of research/losses.per_example_loss."""
  p = jnp.asarray(p, jnp.float32)
  z = jnp.log(p * (classes - 1) / (1.0 - p))
  cfg = losses.LossConfig(name=name)
  logits = lambda z_: jnp.concatenate([z_[None], jnp.zeros(classes - 1)])[None]
  loss = lambda z_: losses.per_example_loss(cfg, logits(z_), jnp.zeros(1, jnp.int32))[0]
  return np.asarray(jax.vmap(jax.grad(loss))(z), np.float64)


def gradient_curves(names, classes: int, points: int) -> dict:
  p = np.linspace(0.01, 0.99, points)
  return {'p': p.tolist(), 'classes': classes,
          'analytic': {n: analytic_gradient(n, p, classes).tolist() for n in names},
          'autodiff': {n: autodiff_gradient(n, p, classes).tolist() for n in names}}


def measure(cfg, context) -> dict:
  data = context.dataset
  trained = {}
  for name in cfg.losses:
    group = groups.train(f'loss_{name}', context, data, model='mlp',
                         options=dict(depth=cfg.depth, width=cfg.width), epochs=cfg.epochs,
                         batch_size=cfg.batch_size, learning_rate=cfg.rates[0],
                         loss=losses.LossConfig(name=name), rates=cfg.rates,
                         epochs_per_call=1)  # the curves are per epoch
    records = ensemble_runs.records(context, f'loss_{name}')
    trained[name] = {
        'members': [{'rate': m['rate'], 'seed': m['seed'],
                     **{f'{split}_{k}': m[split][k] for split in ('val', 'test')
                        for k in ('accuracy', 'ece', 'log_loss')}} for m in group['members']],
        'val_accuracy_curves': [[r[f'accuracy/{i}'] for r in records if r['split'] == 'val']
                                for i in range(len(group['members']))]}
  return {'gradients': gradient_curves(cfg.losses, data.num_classes, cfg.probabilities),
          'trained': trained, 'data': data.name, 'epochs': cfg.epochs,
          'rates': list(cfg.rates)}


def _value(v):
  return math.nan if v is None else v


def chosen(trained: dict) -> dict:
  """The rate with the best mean validation accuracy, and its members' figures."""
  rates = sorted({m['rate'] for m in trained['members']})
  mean_val = {r: np.nanmean([_value(m['val_accuracy']) for m in trained['members']
                             if m['rate'] == r]) for r in rates}
  rate = max(rates, key=lambda r: -np.inf if np.isnan(mean_val[r]) else mean_val[r])
  index = [i for i, m in enumerate(trained['members']) if m['rate'] == rate]
  at = lambda key: stats.over_seeds([_value(trained['members'][i][key]) for i in index])
  curve = np.nanmean([[_value(v) for v in trained['val_accuracy_curves'][i]] for i in index],
                     axis=0)
  return {'rate': rate, 'test_accuracy': at('test_accuracy'), 'test_ece': at('test_ece'),
          'test_log_loss': at('test_log_loss'), 'val_curve': curve.tolist()}


def analyze(results) -> dict:
  g = results['gradients']
  worst = max(np.max(np.abs(np.subtract(g['analytic'][n], g['autodiff'][n])))
              for n in g['analytic'])
  small = {n: abs(g['analytic'][n][0]) for n in g['analytic']}
  per = {name: chosen(t) for name, t in results['trained'].items()}
  target = 0.95 * max(p['val_curve'][-1] for p in per.values())
  for p in per.values():
    p['epochs_to_target'] = next((e for e, v in enumerate(p['val_curve'], 1) if v >= target),
                                 None)
  best = max(per, key=lambda n: per[n]['test_accuracy']['mean'])
  others = [n for n in per if n != best]
  clear = all(not stats.intervals_overlap(per[best]['test_accuracy'],
                                          per[n]['test_accuracy']) for n in others)
  verdict = (f'the best test accuracy is {best}\'s ({per[best]["test_accuracy"]["mean"]:.2%})'
             + (', outside the seed spread of every other loss' if clear else
                ', but inside the seed spread of another loss: inconclusive'))
  return {'headline': {'gradient_max_abs_error': float(worst),
                       **{f'test_accuracy_{n}': p['test_accuracy']['mean'] for n, p in per.items()},
                       **{f'epochs_to_target_{n}': p['epochs_to_target'] for n, p in per.items()}},
          'gradient_error': float(worst), 'gradient_at_small_p': small, 'per_loss': per,
          'target': target, 'best': best, 'verdict': verdict}


def plot(results, findings, workdir) -> None:
  g = results['gradients']
  with report.figure(workdir / 'classification_losses.png', panels=2) as (_, (left, right)):
    for name in g['analytic']:
      line, = left.plot(g['p'], np.abs(g['analytic'][name]), label=f'{name} (closed form)')
      left.plot(g['p'], np.abs(g['autodiff'][name]), ls='', marker='.', color=line.get_color(),
                label=f'{name} (jax.grad)')
    left.set_xlabel('probability of the true class')
    left.set_ylabel('|d loss / d true logit|')
    left.legend(fontsize=7)
    for name, p in findings['per_loss'].items():
      right.plot(range(1, len(p['val_curve']) + 1), p['val_curve'], marker='o', ms=3,
                 label=f"{name} (rate {p['rate']:g})")
    right.axhline(findings['target'], color='grey', ls=':', label='target')
    right.set_xlabel('epoch')
    right.set_ylabel('validation accuracy (mean over seeds)')
    right.legend(fontsize=7)


def render(results, findings) -> str:
  rows = [[name, f"{p['rate']:g}", report.percent_interval(p['test_accuracy']),
           report.percent_interval(p['test_ece']), f"{p['test_log_loss']['mean']:.3f}",
           p['epochs_to_target'] or 'not reached',
           f"{findings['gradient_at_small_p'][name]:.3g}"]
          for name, p in findings['per_loss'].items()]
  table = report.markdown_table(
      ['loss', 'chosen rate', 'test accuracy', 'test ECE', 'test log loss',
       f"epochs to {findings['target']:.1%} val accuracy", '|gradient| at p = 0.01'], rows)
  return f"""An MLP on {results['data']}, Adam for {results['epochs']} epochs at each rate of
{results['rates']}; each loss's rate chosen on the validation split (mean over seeds), the test
set only reports. MSE and MAE compare the softmax probabilities with the one-hot target. The
gradient curves (left) put the closed form beside `jax.grad` of the library's losses, for
{results['gradients']['classes']} classes: the largest difference is
{findings['gradient_error']:.1e}. At p = 0.01 cross-entropy's gradient is
{findings['gradient_at_small_p'].get('cross_entropy', math.nan):.3g}, MSE's
{findings['gradient_at_small_p'].get('mse', math.nan):.3g}: the saturation argument.

{table}

![gradient against p, and validation accuracy per epoch](classification_losses.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""

