"""Summaries over seeds: the mean, its spread and a 95% confidence interval.

The interval is Student's t: with n seeds, mean ± t(0.975, n - 1) · std / sqrt(n), std with
n - 1 in the denominator. Honest for the handful of seeds a sweep has; undefined (nan) for one.
"""
import math

import numpy as np
from scipy import stats


def over_seeds(values) -> dict:
  """{'n', 'mean', 'std', 'ci95_low', 'ci95_high'} of the finite values (a diverged run's nan
  is counted in 'n_nonfinite', not averaged)."""
  values = np.asarray(values, np.float64)
  finite = values[np.isfinite(values)]
  n = len(finite)
  mean = float(finite.mean()) if n else math.nan
  std = float(finite.std(ddof=1)) if n > 1 else math.nan
  half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else math.nan
  return {'n': n, 'n_nonfinite': int(len(values) - n), 'mean': mean, 'std': std,
          'ci95_low': mean - half, 'ci95_high': mean + half}


def intervals_overlap(a: dict, b: dict) -> bool:
  """Whether two over_seeds 95% intervals overlap: a difference inside the seed spread (an
  undefined interval, from one seed, overlaps everything)."""
  return not (a['ci95_high'] < b['ci95_low'] or b['ci95_high'] < a['ci95_low'])


def line_fit(x, y) -> dict:
  """Least-squares y = slope * x + intercept, with r^2 (1 for a perfect line; nan when y is
  constant or fewer than two points): how conclusions test a claimed trend, not assume it."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if len(x) < 2 or np.ptp(x) == 0:
    return {'slope': math.nan, 'intercept': math.nan, 'r2': math.nan, 'points': len(x)}
  slope, intercept = np.polyfit(x, y, 1)
  residual = float(np.sum((y - (slope * x + intercept)) ** 2))
  total = float(np.sum((y - y.mean()) ** 2))
  return {'slope': float(slope), 'intercept': float(intercept),
          'r2': 1.0 - residual / total if total > 0 else math.nan, 'points': len(x)}
