"""Section 1. Regression losses: MSE, MAE and Huber, with and without outliers.

The notes (003 Q9): MSE for regression, MAE "less sensitive to outliers", Huber in between.
First the exact facts behind that: for a constant model, MSE's minimiser is the mean and MAE's
the median. Then a linear target whose training labels are corrupted by one-sided outliers
(0, 5, 10, 20% of them) and scikit-learn's diabetes data: which loss gives the best fit to the
clean test targets, and is the difference outside the seed spread?
"""
import jax
import jax.numpy as jnp
import numpy as np

from experiments.losses import groups
from research import losses, report, stats
from research.data.dataset import make_dataset
from research.tasks.base import REGRESSION_LOSSES, error_loss

TITLE = 'Regression losses against outliers: MSE, MAE and Huber'


def constant_minimiser(name: str, y, delta: float = 1.0, iterations: int = 200) -> float:
  """The constant c that minimises the mean loss of y - c: bisection on the sign of the
  library loss's derivative (jax.grad), which is monotone in c for these convex losses."""
  cfg = losses.LossConfig(name=name, huber_delta=delta)
  y = jnp.asarray(y, jnp.float32)
  slope = jax.jit(jax.grad(lambda c: error_loss(cfg, y - c).mean()))
  low, high = float(y.min()), float(y.max())
  for _ in range(iterations):
    middle = np.float32((low + high) / 2)
    if middle in (low, high):  # adjacent floats: as exact as float32 gets
      break
    low, high = (middle, high) if slope(middle) < 0 else (low, middle)
  return float((low + high) / 2)


def exact_checks(cfg, seed: int) -> dict:
  """Constant-model minimisers on a skewed sample (mean and median far apart)."""
  y = np.random.default_rng(seed).lognormal(0.0, 1.0, cfg.constant_examples).astype(np.float32)
  found = {name: constant_minimiser(name, y, cfg.huber_delta) for name in REGRESSION_LOSSES}
  return {'examples': len(y), 'mean': float(y.astype(np.float64).mean()),
          'median': float(np.median(y)), 'minimiser': found}


def synthetic(cfg, fraction: float, seed: int):
  """y = x.w + noise; a `fraction` of the training targets (a fixed choice) get outlier_scale
  target stds added, all upwards; the test targets are clean."""
  rng = np.random.default_rng([seed, 21])
  w = rng.standard_normal(cfg.features)
  make = lambda n: rng.standard_normal((n, cfg.features)).astype(np.float32)
  x_train, x_test = make(cfg.examples), make(cfg.examples)
  target = lambda x: x @ w + cfg.noise * rng.standard_normal(len(x))
  y_train, y_test = target(x_train), target(x_test)
  corrupt = rng.permutation(cfg.examples)[:round(fraction * cfg.examples)]
  y_train[corrupt] += cfg.outlier_scale * y_train.std()
  return make_dataset(f'linear_outliers_{fraction:g}', x_train, y_train, x_test, y_test, 0)


def measure(cfg, context) -> dict:
  datasets = {f'{p:.0%} outliers': synthetic(cfg, p, context.config.seed)
              for p in cfg.outlier_fractions}
  if cfg.diabetes:
    datasets['diabetes'] = context.load('diabetes')
  fits = {}
  for label, data in datasets.items():
    data = groups.prepare(data, context.config.val_fraction)
    options = dict(depth=cfg.depth, width=64) if cfg.depth else dict(depth=0)
    fits[label] = {}
    for name in REGRESSION_LOSSES:
      group = groups.train(
          f'regression_{name}_{data.name}', context, data, model='mlp', options=options,
          epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
          loss=losses.LossConfig(name=name, huber_delta=cfg.huber_delta), task='regression')
      fits[label][name] = {k: [m['test'][k] for m in group['members']]
                           for k in groups.REGRESSION_KEPT}
  return {'exact': exact_checks(cfg, context.config.seed), 'fits': fits,
          'outlier_scale': cfg.outlier_scale, 'epochs': cfg.epochs, 'depth': cfg.depth,
          'huber_delta': cfg.huber_delta}


def _nan(values):
  return [np.nan if v is None else v for v in values]


def best_loss(per_loss: dict, metric: str = 'rmse') -> dict:
  """The loss with the lowest mean test `metric`, and whether the runner-up's interval is
  clear of it ('inconclusive' when they overlap)."""
  s = {name: stats.over_seeds(_nan(v[metric])) for name, v in per_loss.items()}
  ranked = sorted(s, key=lambda n: s[n]['mean'] if s[n]['n'] else np.inf)
  clear = len(ranked) > 1 and not stats.intervals_overlap(s[ranked[0]], s[ranked[1]])
  return {'best': ranked[0], 'runner_up': ranked[1] if len(ranked) > 1 else None,
          'clear': bool(clear), 'stats': s}


def analyze(results) -> dict:
  exact = results['exact']
  scale = max(abs(exact['mean']), 1.0)
  errors = {'mse_vs_mean': abs(exact['minimiser']['mse'] - exact['mean']) / scale,
            'mae_vs_median': abs(exact['minimiser']['mae'] - exact['median']) / scale}
  per_data = {label: best_loss(per_loss) for label, per_loss in results['fits'].items()}
  outlier_labels = [label for label in per_data if label.endswith('outliers')]
  worst = outlier_labels[-1] if outlier_labels else None
  verdict = 'no outliers were measured'
  if worst and worst != outlier_labels[0]:
    s = per_data[worst]['stats']
    if stats.intervals_overlap(s['mae'], s['mse']):
      verdict = (f'with {worst}, MAE and MSE fit the clean targets equally well within the '
                 'seed spread: inconclusive')
    elif s['mae']['mean'] < s['mse']['mean']:
      verdict = (f"the notes' claim holds: with {worst} MAE's test RMSE is "
                 f"{s['mae']['mean']:.3g} against MSE's {s['mse']['mean']:.3g}")
    else:
      verdict = (f"the notes' claim does not hold here: with {worst} MSE's test RMSE "
                 f"({s['mse']['mean']:.3g}) is below MAE's ({s['mae']['mean']:.3g})")
  key = lambda label: label.replace('% ', 'pct_').replace(' ', '_')  # '20% outliers': 20pct_
  return {'headline': {**{f'exact_{k}': v for k, v in errors.items()},
                       **{f'best_{key(label)}': p['best'] for label, p in per_data.items()},
                       **{f'test_rmse_{name}_{key(label)}': s['mean'] for label, p in
                          per_data.items() for name, s in p['stats'].items()}},
          'exact_errors': errors, 'per_data': per_data, 'verdict': verdict}


def plot(results, findings, workdir) -> None:
  labels = [label for label in findings['per_data'] if label.endswith('outliers')]
  fractions = [float(label.split('%')[0]) for label in labels]
  series = {name: (fractions, [findings['per_data'][label]['stats'][name]['mean']
                               for label in labels]) for name in REGRESSION_LOSSES}
  report.plot_curves(workdir / 'regression.png', series, 'training targets that are outliers (%)',
                     'test RMSE against the clean targets')


def render(results, findings) -> str:
  e = results['exact']
  rows = []
  for label, p in findings['per_data'].items():
    for name, s in p['stats'].items():
      fit = results['fits'][label][name]
      rows.append([label, name, f"{s['mean']:.4g} ± {s['ci95_high'] - s['mean']:.2g}",
                   f"{np.nanmean(_nan(fit['mae'])):.4g}", f"{np.nanmean(_nan(fit['r2'])):.4f}",
                   'best' + ('' if p['clear'] else ' (inconclusive)')
                   if name == p['best'] else ''])
  table = report.markdown_table(['data', 'loss', 'test RMSE (95% CI)', 'test MAE', 'test R^2',
                                 ''], rows)
  depth = 'a linear model' if not results['depth'] else f"an MLP of {results['depth']} layers"
  return f"""**Exact checks.** A constant fitted to {e['examples']} log-normal values (mean
{e['mean']:.6g}, median {e['median']:.6g}) by bisection on the sign of each library loss's
derivative: MSE's minimiser {e['minimiser']['mse']:.6g} (relative error to the mean
{findings['exact_errors']['mse_vs_mean']:.1e}), MAE's {e['minimiser']['mae']:.6g} (to the
median {findings['exact_errors']['mae_vs_median']:.1e}), Huber's (delta
{results['huber_delta']:g}) {e['minimiser']['huber']:.6g}.

**Fits.** {depth.capitalize()}, Adam, {results['epochs']} epochs, on the target standardised by
the training split's mean and std (so Huber's delta {results['huber_delta']:g} is in training
stds). Synthetic: a linear target with Gaussian noise; the outliers add
{results['outlier_scale']:g} target stds, all upwards, to a fixed choice of training targets;
the test targets are clean. Mean over seeds.

{table}

![test RMSE against the outlier fraction](regression.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
