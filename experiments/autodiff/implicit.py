"""Section 8. Implicit differentiation: the gradient of a solution through its optimality condition.

The notes (004) list implicit differentiation among the methods. A layer whose output is the
fixed point z* = tanh(z* W + x) (a deep equilibrium layer; W scaled to spectral norm below 1, so
the map is a contraction) is solved by iterating to a tolerance. Its gradient can come from
differentiating the unrolled iterations (reverse mode stores every iterate) or from the
implicit function theorem at z* alone (research/implicit.py: an adjoint fixed point, nothing of
the forward iterations kept). Measured against a float64 reference unrolled to convergence: the
error of each, its temporary memory, and its time.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments.autodiff.random_params import host_normal
from research import implicit, report

TITLE = 'Implicit differentiation against the unrolled solver: a fixed-point layer'


def problem(cfg, key: jax.Array):
  """((W, x), c): the layer's parameters and the loss's weights, float32 on the host."""
  k_w, k_x, k_c = jax.random.split(key, 3)
  w = host_normal(k_w, (cfg.width, cfg.width))
  w *= cfg.spectral_norm / np.linalg.norm(w, 2)
  return (w, host_normal(k_x, (cfg.batch, cfg.width), cfg.input_scale)), \
      host_normal(k_c, (cfg.batch, cfg.width))


def layer(params, z):
  w, x = params
  return jnp.tanh(z @ w + x)


def losses(c: np.ndarray, max_iter: int):
  """(implicit loss(params, tol), unrolled loss(params, iterations)): a fixed linear read-out
  of z*, so that the gradient reaches both W and x through the solution."""
  read_out = lambda z: jnp.mean(z * c)
  start = lambda params: jnp.zeros_like(params[1])
  return (lambda params, tol: read_out(implicit.fixed_point(layer, params, start(params), tol,
                                                            max_iter)),
          lambda params, n: read_out(implicit.unrolled(layer, params, start(params), n)))


def _flat(tree) -> np.ndarray:
  return np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in tree])


def measure(cfg, probe, key: jax.Array) -> dict:
  params, c = problem(cfg, key)
  implicit_loss, unrolled_loss = losses(c, cfg.max_iter)
  # Contraction by at most the spectral norm per step: this many reach float64 rounding.
  reference_iterations = math.ceil(math.log(1e-17) / math.log(cfg.spectral_norm))
  with jax.enable_x64(True):
    reference = _flat(jax.jit(jax.grad(unrolled_loss), static_argnums=1)(
        jax.tree.map(lambda a: np.asarray(a, np.float64), params), reference_iterations))
  error = lambda g: float(np.linalg.norm(_flat(g) - reference) / np.linalg.norm(reference))
  rows = []
  for n in cfg.iterations:
    cost = probe(lambda p, n=n: jax.grad(unrolled_loss)(p, n), params)
    rows.append({'method': 'unrolled', 'iterations': n, 'tol': None,
                 'error': error(cost.output), 'temp_bytes': cost.temp_bytes,
                 'time_s': cost.time_s})
  for tol in cfg.tolerances:
    cost = probe(lambda p, tol=tol: jax.grad(implicit_loss)(p, tol), params)
    steps = jax.jit(lambda p, tol=tol: implicit.iterate(layer, p, jnp.zeros_like(p[1]), tol,
                                                        cfg.max_iter)[1])(params)
    rows.append({'method': 'implicit', 'iterations': int(steps), 'tol': tol,
                 'error': error(cost.output), 'temp_bytes': cost.temp_bytes,
                 'time_s': cost.time_s, 'hit_max_iter': int(steps) >= cfg.max_iter})
  return {'width': cfg.width, 'batch': cfg.batch, 'spectral_norm': cfg.spectral_norm,
          'reference_iterations': reference_iterations, 'rows': rows}


def analyze(results) -> dict:
  unrolled = [r for r in results['rows'] if r['method'] == 'unrolled']
  implicit_rows = [r for r in results['rows'] if r['method'] == 'implicit']
  growth = lambda rows, key: max(r[key] for r in rows) / max(min(r[key] for r in rows), 1)
  within = [r for r in implicit_rows if r['error'] <= r['tol'] and not r['hit_max_iter']]
  unrolled_growth = growth(unrolled, 'temp_bytes')
  implicit_growth = growth(implicit_rows, 'temp_bytes')
  tightest = min(implicit_rows, key=lambda r: r['tol'])
  matching = [r for r in unrolled if r['error'] <= tightest['error']]
  parts = [
      f"the implicit gradient is within its solver tolerance of the float64 reference at "
      f"{len(within)} of {len(implicit_rows)} tolerances "
      f"({tightest['error']:.1e} at tolerance {tightest['tol']:g})",
      f"unrolling's temporary memory grows {unrolled_growth:.0f}x from "
      f"{unrolled[0]['iterations']} to {unrolled[-1]['iterations']} iterations, while the "
      f"implicit gradient's "
      + (f"stays at {tightest['temp_bytes'] / 2**20:.2f} MiB" if implicit_growth < 1.1 else
         f"grows {implicit_growth:.1f}x")
      + f" whether it iterates {min(r['iterations'] for r in implicit_rows)} or "
      f"{max(r['iterations'] for r in implicit_rows)} times"]
  if matching:
    cheapest = min(matching, key=lambda r: r['iterations'])
    parts.append(f"to be as accurate, the unrolled gradient needs {cheapest['iterations']} "
                 f"iterations and {cheapest['temp_bytes'] / max(tightest['temp_bytes'], 1):.0f}x "
                 'the memory')
  return {'headline': {'unrolled_memory_growth': unrolled_growth,
                       'implicit_memory_growth': implicit_growth,
                       **{f"implicit_error_tol{r['tol']:g}": r['error'] for r in implicit_rows}},
          'within_tolerance': len(within), 'verdict': '; '.join(parts)}


def plot(results, findings, workdir) -> None:
  by = {m: [r for r in results['rows'] if r['method'] == m] for m in ('unrolled', 'implicit')}
  with report.figure(workdir / 'implicit.png', panels=2) as (_, (error, memory)):
    for ax, key, scale in ((error, 'error', 1), (memory, 'temp_bytes', 2**20)):
      ax.plot([r['iterations'] for r in by['unrolled']],
              [r[key] / scale for r in by['unrolled']], 'o-', label='unrolled')
      ax.plot([r['iterations'] for r in by['implicit']],
              [r[key] / scale for r in by['implicit']], 's--', label='implicit (tolerances)')
      ax.set_xscale('log')
      ax.set_yscale('log')
      ax.set_xlabel('forward iterations')
      ax.grid(alpha=0.3)
      ax.legend(fontsize=8)
    error.set_ylabel('relative gradient error')
    memory.set_ylabel('temporary memory (MiB)')


def render(results, findings) -> str:
  table = report.markdown_table(
      ['method', 'tolerance', 'iterations', 'relative error', 'temporary MiB', 'time (ms)'],
      [[r['method'], '' if r['tol'] is None else f"{r['tol']:g}", r['iterations'],
        f"{r['error']:.2e}", f"{r['temp_bytes'] / 2**20:.3f}", f"{r['time_s'] * 1e3:.3g}"]
       for r in results['rows']])
  return f"""Width {results['width']}, batch {results['batch']}, W of spectral norm
{results['spectral_norm']}; float32. The reference is the gradient of the unrolled solver in
float64 after {results['reference_iterations']} iterations. The implicit solver stops when a
step is below the tolerance relative to the iterate, forward and adjoint alike; temporary memory
is XLA's `memory_analysis` of the compiled gradient.

{table}

![error and memory against iterations](implicit.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
