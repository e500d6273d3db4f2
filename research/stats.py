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
