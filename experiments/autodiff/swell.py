"""Section 6. Expression swell: symbolic differentiation against the size of the AD program.

The logistic map l_{k+1} = 4 l_k (1 - l_k), l_0 = x, nested k times (the example of Baydin et
al. 2018). A symbolic derivative written out as an expression tree repeats every shared
subexpression at each use, and the product rule doubles the uses at each level, so its size
grows exponentially with k. AD differentiates the program, not the expression: the gradient
program (the jaxpr of `jax.grad`) gains a fixed number of equations per level. Common
subexpression elimination (`sympy.cse`) is the symbolic route back to sharing.
"""
import math
import time

import jax
import numpy as np
import sympy

from research import report, stats

TITLE = 'Expression swell: symbolic derivatives against the AD program'


def logistic_map(x, nesting: int):
  """Works on a sympy symbol and on a JAX tracer alike."""
  for _ in range(nesting):
    x = 4 * x * (1 - x)
  return x


def tree_size(expr) -> int:
  """Nodes of the expression tree: what a symbolic derivative hands back when written out."""
  return sum(1 for _ in sympy.preorder_traversal(expr))


def cse_size(expr) -> int:
  """Nodes after common subexpression elimination: the shared form."""
  replacements, reduced = sympy.cse(expr)
  return sum(tree_size(e) for _, e in replacements) + sum(tree_size(e) for e in reduced)


def jaxpr_size(fn) -> int:
  return len(jax.make_jaxpr(fn)(1.0).jaxpr.eqns)


def measure(cfg, probe, key) -> dict:
  del probe, key  # sizes, not costs; nothing random
  x = sympy.Symbol('x')
  rows = []
  for nesting in range(1, cfg.max_nesting + 1):
    expr = logistic_map(x, nesting)
    start = time.perf_counter()
    derivative = sympy.diff(expr, x)
    diff_s = time.perf_counter() - start
    rows.append({
        'nesting': nesting, 'function_tree': tree_size(expr),
        'symbolic_tree': tree_size(derivative), 'symbolic_cse': cse_size(derivative),
        'symbolic_diff_s': diff_s,
        'jaxpr_function': jaxpr_size(lambda v, n=nesting: logistic_map(v, n)),
        'jaxpr_grad': jaxpr_size(jax.grad(lambda v, n=nesting: logistic_map(v, n)))})
  return {'rows': rows}


def growth(ks, sizes) -> str:
  """'exponentially', 'linearly' or neither: which of log(size) ~ k and size ~ k fits the sizes
  (r^2 >= 0.98), with a factor per level of at least 1.5 for exponential growth."""
  exponential = stats.line_fit(ks, np.log(sizes))
  linear = stats.line_fit(ks, sizes)
  if math.exp(exponential['slope']) >= 1.5 and exponential['r2'] >= 0.98:
    return 'exponentially'
  if linear['r2'] >= 0.98:
    return 'linearly'
  return 'neither linearly nor exponentially'


def growth_finding(rows) -> str:
  ks = [r['nesting'] for r in rows]
  if len(ks) < 3:
    return 'Fewer than three nestings are too few to tell how the sizes grow.'
  symbolic = [r['symbolic_tree'] for r in rows]
  ad = [r['jaxpr_grad'] for r in rows]
  factor = math.exp(stats.line_fit(ks, np.log(symbolic))['slope'])
  per_level = stats.line_fit(ks, ad)['slope']
  return (f'Fitted over k = {ks[0]}..{ks[-1]}: the symbolic derivative grows '
          f'{growth(ks, symbolic)} (a factor of {factor:.2f} per level; {symbolic[-1]:,} nodes '
          f'at k = {ks[-1]}, {symbolic[-1] / ad[-1]:.0f}x the AD program), the gradient program '
          f'{growth(ks, ad)} ({per_level:.1f} equations per level).')


def analyze(results) -> dict:
  rows = results['rows']
  last, before = rows[-1], rows[-2]
  return {'headline': {
              'symbolic_growth_per_level': last['symbolic_tree'] / before['symbolic_tree'],
              'ad_equations_per_level': last['jaxpr_grad'] - before['jaxpr_grad'],
              'symbolic_over_ad_at_max': last['symbolic_tree'] / last['jaxpr_grad']},
          'growth': growth_finding(rows)}


def plot(results, findings, workdir) -> None:
  rows = results['rows']
  ks = [r['nesting'] for r in rows]
  report.plot_curves(workdir / 'swell.png', {
      'symbolic derivative (tree)': (ks, [r['symbolic_tree'] for r in rows]),
      'symbolic derivative after CSE': (ks, [r['symbolic_cse'] for r in rows]),
      'AD gradient program (jaxpr equations)': (ks, [r['jaxpr_grad'] for r in rows]),
      'the function itself (jaxpr)': (ks, [r['jaxpr_function'] for r in rows])},
      'nesting k of the logistic map', 'size', logy=True, title='expression swell')


def render(results, findings) -> str:
  rows = results['rows']
  table = report.markdown_table(
      ['k', 'f tree nodes', 'df/dx tree nodes', 'df/dx after CSE', 'sympy.diff s',
       'jaxpr of f', 'jaxpr of grad f'],
      [[r['nesting'], r['function_tree'], r['symbolic_tree'], r['symbolic_cse'],
        r['symbolic_diff_s'], r['jaxpr_function'], r['jaxpr_grad']] for r in rows])
  last = rows[-1]
  return f"""Sizes of the derivative of the logistic map nested k times: the expression tree sympy
returns, the same after `sympy.cse`, and the number of equations in the jaxpr of `jax.grad`.

{table}

![size against nesting](swell.png)

**Conclusion.** {findings['growth']} The swell is repetition, not new information:
common subexpression elimination shrinks the tree to {last['symbolic_cse']:,} nodes at
k = {last['nesting']}, which is what AD gets for free by keeping intermediate values instead of
expressions.
"""
