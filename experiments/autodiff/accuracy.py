"""Section 5. Accuracy: each method's error against an analytic derivative, over the step h.

Finite differences trade truncation error (falls with h) for round-off error (grows as eps/h):
a V in log-log axes, its floor near eps^(1/2) for forward and eps^(2/3) for central differences.
The complex step has no subtraction, so no cancellation: its error falls with h^2 and then stays
at rounding level down to h = 1e-20 and beyond. SPSA's error falls as 1/sqrt(samples). Automatic
differentiation is exact up to rounding, with no step to choose.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

from research import autodiff, report, stats

TITLE = 'Accuracy: finite differences, complex step, SPSA and AD against the analytic derivative'
STEP_METHODS = ('forward_difference', 'central_difference', 'complex_step')
DTYPES = {'float32': jnp.float32, 'float64': jnp.float64}


def squire_trapp(x):
  """e^x / sqrt(sin^3 x + cos^3 x): the test function of Squire and Trapp (1998)."""
  return jnp.exp(x) / jnp.sqrt(jnp.sin(x) ** 3 + jnp.cos(x) ** 3)


def squire_trapp_derivative(x: float) -> float:
  """By hand: d/dx log f = 1 - (3/2)(sin^2 x cos x - cos^2 x sin x) / (sin^3 x + cos^3 x)."""
  s, c = math.sin(x), math.cos(x)
  f = math.exp(x) / math.sqrt(s**3 + c**3)
  return f * (1 - 1.5 * (s * s * c - c * c * s) / (s**3 + c**3))


def rosenbrock(x_N):
  """The extended Rosenbrock function, a standard many-input test case."""
  return jnp.sum(100 * (x_N[1:] - x_N[:-1] ** 2) ** 2 + (1 - x_N[:-1]) ** 2)


def rosenbrock_gradient(x_N: np.ndarray) -> np.ndarray:
  """By hand, in float64 NumPy."""
  g = np.zeros_like(x_N)
  inner = x_N[1:] - x_N[:-1] ** 2
  g[:-1] += -400 * x_N[:-1] * inner - 2 * (1 - x_N[:-1])
  g[1:] += 200 * inner
  return g


def _squire_trapp_1(x_1):
  return squire_trapp(x_1[0])


def _rosenbrock_1(x_N):
  return rosenbrock(x_N)[None]


# Jitted once per (method, dtype): the sweep varies h and the key, not the program.
_gradient = jax.jit(autodiff.gradient, static_argnames=('f', 'method'))
_spsa = jax.jit(autodiff.spsa_estimates, static_argnames=('f', 'samples'))


def _relative(estimate, reference) -> float:
  return float(np.linalg.norm(np.asarray(estimate, np.float64) - reference)
               / np.linalg.norm(reference))


def step_sweep(cfg) -> list[dict]:
  reference = squire_trapp_derivative(cfg.x)
  rows = []
  for dtype_name, dtype in DTYPES.items():
    x_1 = jnp.asarray([cfg.x], dtype)
    ad = _gradient(_squire_trapp_1, x_1, 'reverse')
    rows.append({'method': 'reverse_mode_ad', 'dtype': dtype_name, 'h': None,
                 'error': _relative(ad, reference)})
    for exponent in range(cfg.min_exponent, cfg.max_exponent + 1):
      h = 10.0 ** -exponent
      for method in STEP_METHODS:
        estimate = _gradient(_squire_trapp_1, x_1, method, jnp.asarray(h, dtype))
        rows.append({'method': method, 'dtype': dtype_name, 'h': h,
                     'error': _relative(estimate, reference)})
  return rows


def spsa_sweep(cfg, key: jax.Array) -> list[dict]:
  """Each trial draws max(samples) estimates once; the estimate from K samples is the mean of
  the first K, so every K costs one compiled program and the sweep is nested, as in practice."""
  x_N = np.linspace(-1.2, 1.2, cfg.spsa_dim)
  reference = rosenbrock_gradient(x_N)
  errors = {k: [] for k in cfg.spsa_samples}
  for trial in range(cfg.spsa_trials):
    estimates_KxN = _spsa(_rosenbrock_1, jnp.asarray(x_N), jax.random.fold_in(key, trial),
                          max(cfg.spsa_samples), c=1e-4)[:, 0]
    running_KxN = np.cumsum(np.asarray(estimates_KxN), axis=0)
    for k in cfg.spsa_samples:
      errors[k].append(_relative(running_KxN[k - 1] / k, reference))
  return [{'samples': k, 'evaluations': 2 * k, 'error_median': float(np.median(errors[k])),
           'theory': math.sqrt((cfg.spsa_dim - 1) / k)} for k in cfg.spsa_samples]


def measure(cfg, probe, key: jax.Array) -> dict:
  del probe  # accuracy, not cost
  with jax.enable_x64(True):  # float64 must exist for this section, and only for it
    return {'x': cfg.x, 'steps': step_sweep(cfg), 'spsa_dim': cfg.spsa_dim,
            'spsa_trials': cfg.spsa_trials, 'spsa': spsa_sweep(cfg, key)}


def _best(rows, method, dtype) -> dict:
  mine = [r for r in rows if r['method'] == method and r['dtype'] == dtype]
  return min(mine, key=lambda r: (r['error'], -(r['h'] or 0)))


def _at(rows, method, dtype, h) -> dict | None:
  return next((r for r in rows if r['method'] == method and r['dtype'] == dtype
               and r['h'] is not None and math.isclose(r['h'], h)), None)


def _plots(workdir, results) -> None:
  steps = results['steps']
  with report.figure(workdir / 'accuracy.png', panels=2) as (_, (ax_h, ax_spsa)):
    for dtype, style in (('float64', '-'), ('float32', ':')):
      for method, color in zip(STEP_METHODS, ('C0', 'C1', 'C2')):
        mine = [r for r in steps if r['method'] == method and r['dtype'] == dtype]
        ax_h.plot([r['h'] for r in mine], [max(r['error'], 1e-17) for r in mine], style,
                  color=color, marker='o', ms=2, label=f'{method} {dtype}')
      ad = _best(steps, 'reverse_mode_ad', dtype)['error']
      ax_h.axhline(max(ad, 1e-17), color='k', ls=style, lw=1, label=f'AD {dtype}')
    ax_h.set_xscale('log')
    ax_h.set_yscale('log')
    ax_h.invert_xaxis()
    ax_h.set_xlabel('step h')
    ax_h.set_ylabel('relative error (floored at 1e-17)')
    ax_h.set_title(f"f = e^x / sqrt(sin^3 x + cos^3 x) at x = {results['x']}")
    ax_h.legend(fontsize=6)
    spsa = results['spsa']
    ax_spsa.plot([r['samples'] for r in spsa], [r['error_median'] for r in spsa], 'o-',
                 label='SPSA, median over trials')
    ax_spsa.plot([r['samples'] for r in spsa], [r['theory'] for r in spsa], 'k--',
                 label='sqrt((n - 1) / samples)')
    ax_spsa.set_xscale('log')
    ax_spsa.set_yscale('log')
    ax_spsa.set_xlabel('samples (2 evaluations each)')
    ax_spsa.set_ylabel('relative error of the gradient')
    ax_spsa.set_title(f"SPSA on Rosenbrock, n = {results['spsa_dim']}")
    ax_spsa.legend(fontsize=8)
    for ax in (ax_h, ax_spsa):
      ax.grid(alpha=0.3)


V_DEPTH = 10.0  # the floor of a V lies at least this far below both ends of the sweep


def has_v(rows, method: str, dtype: str) -> bool:
  """Whether the error against h falls to a floor inside the sweep and rises again on both
  sides: truncation error at large h, cancellation at small h."""
  mine = sorted((r for r in rows if r['method'] == method and r['dtype'] == dtype),
                key=lambda r: r['h'])
  if len(mine) < 3:
    return False
  floor = min(r['error'] for r in mine)
  return min(mine[0]['error'], mine[-1]['error']) >= V_DEPTH * max(floor, 1e-300)


def v_finding(rows) -> str:
  shaped = [f'{m} in {d}' for d in DTYPES for m in ('forward_difference', 'central_difference')
            if has_v(rows, m, d)]
  if len(shaped) == 2 * len(DTYPES):
    return ('Finite differences draw the V in both precisions: the error falls with h '
            '(truncation) to a floor and rises again as h shrinks (cancellation)')
  if not shaped:
    return 'No finite difference drew a V over this range of h'
  return f"Only {', '.join(shaped)} drew a V over this range of h"


def spsa_finding(spsa) -> str:
  """SPSA's error against the number of samples, fitted in log-log axes; theory: slope -1/2."""
  fit = stats.line_fit(np.log([r['samples'] for r in spsa]),
                       np.log([r['error_median'] for r in spsa]))
  slope = fit['slope']
  if math.isnan(slope):
    return 'SPSA was run with one sample count only'
  if -0.7 <= slope <= -0.3:
    return (f'SPSA\'s error falls like 1/sqrt(samples) (fitted exponent {slope:.2f}), so it '
            'is a tool for when evaluations are all one has and the dimension is large, not '
            'for accuracy')
  return f'SPSA\'s error falls with exponent {slope:.2f} in the samples, not the -1/2 of theory'


def analyze(results) -> dict:
  steps, headline = results['steps'], {}
  for dtype in DTYPES:
    for method in (*STEP_METHODS, 'reverse_mode_ad'):
      best = _best(steps, method, dtype)
      headline[f'best_{method}_{dtype}'] = best['error']
      if best['h']:
        headline[f'best_h_{method}_{dtype}'] = best['h']
  tiny = _at(steps, 'complex_step', 'float64', 1e-20)
  if tiny:
    headline['complex_step_float64_h1e-20'] = tiny['error']
  return {'headline': headline, 'v': v_finding(steps), 'spsa': spsa_finding(results['spsa'])}


def plot(results, findings, workdir) -> None:
  _plots(workdir, results)


def render(results, findings) -> str:
  steps, h = results['steps'], findings['headline']
  best_rows = [[dtype, method, report.fmt(best['h']) if best['h'] else '-', best['error']]
               for dtype in DTYPES for method in (*STEP_METHODS, 'reverse_mode_ad')
               for best in [_best(steps, method, dtype)]]
  spsa_table = report.markdown_table(
      ['samples', 'evaluations', 'relative error (median)', 'theory (r.m.s.) sqrt((n-1)/K)'],
      [[r['samples'], r['evaluations'], r['error_median'], r['theory']]
       for r in results['spsa']])
  tiny = h.get('complex_step_float64_h1e-20')
  tiny_text = (f"at h = 1e-20 its float64 error is {tiny:.1e}" if tiny is not None
               else 'h = 1e-20 was outside the sweep')
  hs = [r['h'] for r in steps if r['h']]
  return f"""Relative error of df/dx at x = {results['x']} against the derivative worked out by
hand, for h from {max(hs):.0e} down to {min(hs):.0e}, in float32 and float64. The best error of
each method, with the step that gave it:

{report.markdown_table(['dtype', 'method', 'best h', 'relative error'], best_rows)}

SPSA on the {results['spsa_dim']}-input Rosenbrock function (step c = 1e-4, float64, median of
{results['spsa_trials']} trials); a central-difference gradient needs {2 * results['spsa_dim']}
evaluations for comparison:

{spsa_table}

![error against step and against samples](accuracy.png)

**Conclusion.** {findings['v']}: in float64 the best central difference reaches
{h['best_central_difference_float64']:.1e} at h = {h['best_h_central_difference_float64']:.0e},
the best forward difference {h['best_forward_difference_float64']:.1e}; in float32 their best
errors are {h['best_forward_difference_float32']:.1e} and
{h['best_central_difference_float32']:.1e}.
The complex step needs no compromise: {tiny_text}, with nothing to tune. {findings['spsa']}.
AD's error is {h['best_reverse_mode_ad_float64']:.1e} in float64
and {h['best_reverse_mode_ad_float32']:.1e} in float32, with no step at all.
"""
