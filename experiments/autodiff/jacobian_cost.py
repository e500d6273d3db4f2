"""Section 1. Jacobian cost: forward mode against reverse mode over the shape grid.

f: R^n -> R^m is a small network, x -> W3 tanh(W2 tanh(W1 x)) with a fixed hidden width. The
full Jacobian takes n JVPs in forward mode and m VJPs in reverse mode, so theory puts the
crossover on the diagonal n = m, with reverse mode paying a constant factor for the forward pass
it must store.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments.autodiff.random_params import host_normal
from research import report, stats

TITLE = 'Jacobian cost: forward vs reverse mode over (n, m)'


def network(n: int, m: int, hidden: int, key: jax.Array):
  """(params, f) with f(params, x_N) -> y_M; params are arguments, not baked-in constants."""
  k1, k2, k3 = jax.random.split(key, 3)
  params = (host_normal(k1, (hidden, n), 1 / math.sqrt(n)),
            host_normal(k2, (hidden, hidden), 1 / math.sqrt(hidden)),
            host_normal(k3, (m, hidden), 1 / math.sqrt(hidden)))

  def f(params, x_N):
    w1, w2, w3 = params
    return w3 @ jnp.tanh(w2 @ jnp.tanh(w1 @ x_N))

  return params, f


def measure(cfg, probe, key: jax.Array) -> dict:
  cells = []
  for n in cfg.sizes:
    for m in cfg.sizes:
      params, f = network(n, m, cfg.hidden, jax.random.fold_in(key, n * 100003 + m))
      x_N = jnp.ones(n)
      costs = {'eval': probe(f, params, x_N),
               'forward': probe(jax.jacfwd(f, argnums=1), params, x_N),
               'reverse': probe(jax.jacrev(f, argnums=1), params, x_N)}
      cells.append({'n': n, 'm': m, **{f'{mode}_{k}': getattr(c, k) for mode, c in costs.items()
                                       for k in ('time_s', 'flops')}})
  return {'hidden': cfg.hidden, 'sizes': list(cfg.sizes), 'corner': list(cfg.corner),
          'cells': cells}


def _ratio_grid(cells, sizes, kind: str) -> np.ndarray:
  """log2(forward / reverse) with rows n and columns m."""
  grid = np.zeros((len(sizes), len(sizes)))
  for c in cells:
    grid[sizes.index(c['n']), sizes.index(c['m'])] = math.log2(c[f'forward_{kind}'] /
                                                               c[f'reverse_{kind}'])
  return grid


def _crossing(ns: list[int], log_ratios: np.ndarray) -> float | None:
  """The n where log(t_fwd / t_rev) first rises through 0, interpolated in log n."""
  for i in range(len(ns) - 1):
    a, b = log_ratios[i], log_ratios[i + 1]
    if a <= 0 <= b and a < b:
      frac = -a / (b - a)
      return 2 ** (math.log2(ns[i]) + frac * (math.log2(ns[i + 1]) - math.log2(ns[i])))
  return None


def crossovers(cells, sizes) -> list[dict]:
  """For each m, the n at which forward mode stops being the cheaper one (theory: n = m);
  where it never is, or always is, inside the grid, `n_cross` is None and `side` says which."""
  rows = []
  for kind in ('time_s', 'flops'):
    grid = _ratio_grid(cells, sizes, kind)
    for j, m in enumerate(sizes):
      column = grid[:, j]
      side = 'below' if column[0] > 0 else 'above' if (column <= 0).all() else None
      rows.append({'kind': kind, 'm': m, 'n_cross': _crossing(sizes, column), 'side': side})
  return rows


def _corner(results, n, m) -> dict:
  return next(c for c in results['cells'] if c['n'] == n and c['m'] == m)


def _heatmaps(path, results) -> None:
  sizes = results['sizes']
  with report.figure(path, panels=2, panel_size=(5, 4.2)) as (fig, axes):
    for ax, kind, label in zip(axes, ('time_s', 'flops'), ('time', 'FLOPs')):
      grid = _ratio_grid(results['cells'], sizes, kind)
      limit = max(1.0, float(np.abs(grid).max()))
      image = ax.imshow(grid, cmap='coolwarm', vmin=-limit, vmax=limit, origin='lower')
      ax.plot([-0.5, len(sizes) - 0.5], [-0.5, len(sizes) - 0.5], 'k--', lw=1, label='n = m')
      ax.set_xticks(range(len(sizes)), sizes)
      ax.set_yticks(range(len(sizes)), sizes)
      ax.set_xlabel('m (outputs)')
      ax.set_ylabel('n (inputs)')
      ax.set_title(f'log2({label} forward / reverse)')
      ax.legend(loc='upper left', fontsize=8)
      fig.colorbar(image, ax=ax, shrink=0.8)


def flop_finding(cells) -> str:
  """Theory: forward FLOPs / reverse FLOPs grows as n/m. Tested by the slope of the log ratio
  against log(n/m) over the grid: within 0.8-1.2 with r^2 >= 0.9, it follows n/m."""
  fit = stats.line_fit([math.log(c['n'] / c['m']) for c in cells],
                       [math.log(c['forward_flops'] / c['reverse_flops']) for c in cells])
  if math.isnan(fit['slope']):
    return 'One shape is too few to test how the FLOP ratio scales'
  if 0.8 <= fit['slope'] <= 1.2 and fit['r2'] >= 0.9:
    return (f"The FLOP ratio follows n/m, as the theory says (fitted exponent {fit['slope']:.2f}, "
            f"r^2 {fit['r2']:.3f}): the cost of a Jacobian is set by the smaller side of f, "
            'which is why gradients of a scalar loss (m = 1) are computed in reverse mode')
  return (f"The FLOP ratio does not follow n/m (fitted exponent {fit['slope']:.2f}, r^2 "
          f"{fit['r2']:.3f}, theory 1)")


def analyze(results) -> dict:
  sizes = results['sizes']
  small, large = results['corner']  # the (few, many) sizes the question names
  few, many = _corner(results, small, large), _corner(results, large, small)
  crossover = crossovers(results['cells'], sizes)
  cross = {(r['kind'], r['m']): r for r in crossover}
  time_cross = [cross[('time_s', m)]['n_cross'] / m for m in sizes
                if cross[('time_s', m)]['n_cross']]
  return {'headline': {
              f'forward_speedup_time_n{small}_m{large}':
                  few['reverse_time_s'] / few['forward_time_s'],
              f'forward_speedup_flops_n{small}_m{large}':
                  few['reverse_flops'] / few['forward_flops'],
              f'reverse_speedup_time_n{large}_m{small}':
                  many['forward_time_s'] / many['reverse_time_s'],
              f'reverse_speedup_flops_n{large}_m{small}':
                  many['forward_flops'] / many['reverse_flops'],
              'crossover': crossover},
          'flops': flop_finding(results['cells']),
          'time_crossover': (f'the measured time crossover sits at n/m between '
                             f'{min(time_cross):.2g} and {max(time_cross):.2g}' if time_cross
                             else 'no crossover fell inside the grid')}


def plot(results, findings, workdir) -> None:
  _heatmaps(workdir / 'jacobian_heatmap.png', results)


def _tables(results, findings) -> tuple[str, str, str]:
  """The ratio grid, the two corners and the crossovers, as markdown."""
  sizes = results['sizes']
  small, large = results['corner']
  time_grid = _ratio_grid(results['cells'], sizes, 'time_s')
  flop_grid = _ratio_grid(results['cells'], sizes, 'flops')
  grid_rows = [[n] + [f'{2 ** time_grid[i, j]:.3g} ({2 ** flop_grid[i, j]:.3g})'
                      for j in range(len(sizes))] for i, n in enumerate(sizes)]
  corner_rows = [[c['n'], c['m'], c['eval_time_s'] * 1e6, c['forward_time_s'] * 1e6,
                  c['reverse_time_s'] * 1e6, c['forward_flops'], c['reverse_flops']]
                 for c in (_corner(results, small, large), _corner(results, large, small))]
  cross = {(r['kind'], r['m']): r for r in findings['headline']['crossover']}

  def shown(row):
    if row['n_cross'] is not None:
      return row['n_cross']
    return {'below': f'< {sizes[0]}', 'above': f'> {sizes[-1]}'}.get(row['side'], 'none')

  cross_rows = [[m, shown(cross[('time_s', m)]), shown(cross[('flops', m)]), m] for m in sizes]
  return (report.markdown_table(['n, m'] + [str(m) for m in sizes], grid_rows),
          report.markdown_table(['n', 'm', 'f(x) us', 'jacfwd us', 'jacrev us', 'jacfwd FLOPs',
                                 'jacrev FLOPs'], corner_rows),
          report.markdown_table(['m', 'n* (time)', 'n* (FLOPs)', 'theory'], cross_rows))


def render(results, findings) -> str:
  small, large = results['corner']
  h = findings['headline']
  grid, corners, crossings = _tables(results, findings)
  return f"""Hidden width {results['hidden']}; n and m over {results['sizes']}. Cells: forward /
reverse, time (FLOPs); below 1 forward mode is cheaper.

{grid}

The two corners the question names (times in microseconds, median of repeats):

{corners}

Where forward mode stops being cheaper, for each m (interpolated in log n; theory n = m):

{crossings}

![forward/reverse heat map](jacobian_heatmap.png)

**Conclusion.** With few inputs and many outputs (n={small}, m={large}) forward mode is
{h[f'forward_speedup_time_n{small}_m{large}']:.1f}x faster than reverse mode
({h[f'forward_speedup_flops_n{small}_m{large}']:.1f}x fewer FLOPs); with many inputs and few
outputs (n={large}, m={small}) reverse mode is
{h[f'reverse_speedup_time_n{large}_m{small}']:.1f}x faster
({h[f'reverse_speedup_flops_n{large}_m{small}']:.1f}x fewer FLOPs).
{findings['flops']}, and {findings['time_crossover']}.
"""
