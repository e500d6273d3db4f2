"""Section 9. Hybrid differentiation: a block AD cannot see through, inside a network.

The notes (004) list hybrid methods: automatic differentiation where the program is visible,
numerical estimates where it is not. Here a small network's hidden layer feeds a simulator
written in NumPy and called through `jax.pure_callback` (a stand-in for an external physics
code): AD stops at it, so its VJP is estimated from its evaluations alone, by central finite
differences (2n evaluations per example) or by SPSA (2 per random direction, Spall 1992),
with research/autodiff.with_estimated_vjp. The same simulator written in JAX gives the AD
gradient where AD exists; the reference is that AD gradient in float64. Measured: the error of
the network's whole parameter gradient, the simulator evaluations it took (counted inside the
callback), and the time.
"""
import jax
import jax.numpy as jnp
import numpy as np

from experiments.autodiff.random_params import host_normal
from research import autodiff, report, stats

TITLE = 'Hybrid differentiation: finite differences and SPSA through a black box, against AD'


class Simulator:
  """`steps` Euler steps of h <- h + dt sin(h A): a smooth map of R^n with a dense Jacobian,
  in NumPy (float64 inside, the caller's dtype out), counting the examples it evaluates."""

  def __init__(self, a_NxN: np.ndarray, steps: int, dt: float = 0.1):
    self.a, self.steps, self.dt, self.evaluations = a_NxN, steps, dt, 0

  def numpy(self, h):
    h = np.asarray(h)
    self.evaluations += h.size // h.shape[-1]
    out = h.astype(np.float64)
    for _ in range(self.steps):
      out = out + self.dt * np.sin(out @ self.a)
    return out.astype(h.dtype)

  def jax(self, h):
    """The same map in JAX: what AD can differentiate."""
    for _ in range(self.steps):
      h = h + self.dt * jnp.sin(h @ self.a.astype(h.dtype))
    return h

  def callback(self, h_N):
    """One example through the host: opaque to AD."""
    return jax.pure_callback(self.numpy, jax.ShapeDtypeStruct(h_N.shape, h_N.dtype), h_N,
                             vmap_method='broadcast_all')


def problem(cfg, key: jax.Array):
  """(params, x, y, simulator): a 1-hidden-layer regression with the simulator after it."""
  k_a, k_1, k_2, k_x, k_y = jax.random.split(key, 5)
  simulator = Simulator(host_normal(k_a, (cfg.width, cfg.width), 1 / np.sqrt(cfg.width)),
                        cfg.simulator_steps)
  params = {'w1': host_normal(k_1, (cfg.inputs, cfg.width), 1 / np.sqrt(cfg.inputs)),
            'w2': host_normal(k_2, (cfg.width, 1), 1 / np.sqrt(cfg.width))}
  return (params, host_normal(k_x, (cfg.batch, cfg.inputs)), host_normal(k_y, (cfg.batch, 1)),
          simulator)


def loss_fn(block, x, y):
  """Squared error of tanh(x W1) -> block -> W2, `block` applied per example with a key."""
  def loss(params, key):
    h = jnp.tanh(x @ params['w1'])
    keys = jax.random.split(key, h.shape[0])
    return jnp.mean((jax.vmap(block)(h, keys) @ params['w2'] - y) ** 2)
  return loss


def _flat(tree) -> np.ndarray:
  return np.concatenate([np.ravel(np.asarray(tree[k], np.float64)) for k in sorted(tree)])


def measure(cfg, probe, key: jax.Array) -> dict:
  params, x, y, simulator = problem(cfg, key)
  with jax.enable_x64(True):
    as_64 = lambda a: np.asarray(a, np.float64)
    reference = _flat(jax.jit(jax.grad(loss_fn(lambda h, _: simulator.jax(h), as_64(x),
                                                   as_64(y))))(
        jax.tree.map(as_64, params), jax.random.key(0)))
  methods = [('AD (simulator in JAX)', None, lambda h, _: simulator.jax(h))]
  methods += [('central difference', h, autodiff.with_estimated_vjp(
      simulator.callback, 'central_difference', h=h)) for h in cfg.steps]
  methods += [('SPSA', k, autodiff.with_estimated_vjp(
      simulator.callback, 'spsa', h=cfg.spsa_step, samples=k)) for k in cfg.spsa_samples]
  rows = []
  for name, setting, block in methods:
    grad = jax.jit(jax.grad(loss_fn(block, x, y)))
    sample_key = jax.random.fold_in(key, 1)
    simulator.evaluations = 0
    gradient = grad(params, sample_key)
    jax.block_until_ready(gradient)
    evaluations = simulator.evaluations / cfg.batch
    cost = probe(grad, params, sample_key)
    rows.append({'method': name, 'setting': setting, 'evaluations': evaluations,
                 'error': float(np.linalg.norm(_flat(gradient) - reference)
                                / np.linalg.norm(reference)),
                 'time_s': cost.time_s})
  return {'width': cfg.width, 'inputs': cfg.inputs, 'batch': cfg.batch,
          'simulator_steps': cfg.simulator_steps, 'spsa_step': cfg.spsa_step, 'rows': rows}


def analyze(results) -> dict:
  rows = results['rows']
  ad = rows[0]
  fd = min((r for r in rows if r['method'] == 'central difference'), key=lambda r: r['error'])
  spsa = [r for r in rows if r['method'] == 'SPSA']
  fit = stats.line_fit(np.log([r['setting'] for r in spsa]), np.log([r['error'] for r in spsa]))
  as_good = [r for r in spsa if r['error'] <= fd['error']]
  parts = [f"AD through the simulator written in JAX agrees with the float64 reference to "
           f"{ad['error']:.1e} (float32 rounding)",
           f"central differences (best step {fd['setting']:g}) reach {fd['error']:.1e} with "
           f"{fd['evaluations']:g} simulator evaluations per example, "
           f"{fd['time_s'] / ad['time_s']:.0f}x AD's time",
           f"SPSA's error falls as samples^{fit['slope']:.2f} (theory -0.5), to "
           f"{spsa[-1]['error']:.1e} at {spsa[-1]['setting']} samples "
           f"({spsa[-1]['evaluations']:g} evaluations)"]
  parts.append(f"SPSA matches the finite differences' error with {as_good[0]['setting']} samples"
               if as_good else 'no SPSA sample count tried matches the finite differences\' '
               'error: with this few inputs, perturbing one at a time is the cheaper estimate')
  return {'headline': {'ad_error': ad['error'], 'central_difference_error': fd['error'],
                       'central_difference_evaluations': fd['evaluations'],
                       'spsa_slope': fit['slope'], 'spsa_best_error': spsa[-1]['error']},
          'spsa_slope': fit['slope'], 'verdict': '; '.join(parts)}


def plot(results, findings, workdir) -> None:
  rows = results['rows']
  with report.figure(workdir / 'hybrid.png') as (_, (ax,)):
    for name, style in (('central difference', 'o-'), ('SPSA', 's-')):
      mine = [r for r in rows if r['method'] == name]
      ax.plot([r['evaluations'] for r in mine], [r['error'] for r in mine], style, label=name)
    ax.axhline(rows[0]['error'], color='k', ls=':', label='AD (float32)')
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel('simulator evaluations per example per gradient')
    ax.set_ylabel('relative gradient error')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def render(results, findings) -> str:
  table = report.markdown_table(
      ['method', 'step or samples', 'evaluations per example', 'relative error', 'time (ms)'],
      [[r['method'], '' if r['setting'] is None else f"{r['setting']:g}",
        f"{r['evaluations']:g}", f"{r['error']:.2e}", f"{r['time_s'] * 1e3:.3g}"]
       for r in results['rows']])
  return f"""A regression tanh(x W1) -> simulator -> W2 with {results['inputs']} inputs, a
{results['width']}-unit hidden layer and batch {results['batch']}; the simulator is
{results['simulator_steps']} Euler steps of h <- h + 0.1 sin(h A) in NumPy (float64 inside,
float32 out). Errors of the whole parameter gradient against AD through the JAX simulator in
float64; SPSA with perturbation {results['spsa_step']:g}, Rademacher directions drawn per
example; evaluations counted inside the callback (the forward pass's one included).

{table}

![gradient error against simulator evaluations](hybrid.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
