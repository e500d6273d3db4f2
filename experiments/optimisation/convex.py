"""Section 1. Convex problems, where theory gives the numbers: divergence and convergence rates.

On a quadratic with Hessian eigenvalues in [mu, L] (condition number kappa = L / mu), gradient
descent diverges above the learning rate 2 / L; at 2 / (L + mu) it contracts the distance to
the minimum by (kappa - 1) / (kappa + 1) per step, and heavy-ball momentum with Polyak's (1964)
settings by (sqrt(kappa) - 1) / (sqrt(kappa) + 1). Do optax's optimizers, run on the notes'
line of best fit y = mx + b and on an ill-conditioned quadratic, show exactly these numbers?
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research import report, stats

TITLE = 'Convex problems: thresholds and rates against theory'
THRESHOLD_TOLERANCE = 0.05  # the bounds: the threshold within 5%, rates within 10%
RATE_TOLERANCE = 0.10
ADAM_RATES = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


def problems(cfg, seed: int) -> dict:
  """{name: (loss function, start, minimiser, Hessian eigenvalues)}, in float64."""
  rng = np.random.default_rng(seed)
  x = rng.uniform(0.0, 4.0, cfg.line_points)
  y = 2.0 * x + 1.0 + cfg.line_noise * rng.standard_normal(cfg.line_points)
  design = np.stack([x, np.ones_like(x)], 1)
  line_min = np.linalg.lstsq(design, y, rcond=None)[0]  # the closed form
  line_loss = lambda theta: jnp.mean((design @ theta - y) ** 2)
  eig = np.logspace(0.0, math.log10(cfg.kappa), cfg.dimension)
  quadratic = lambda theta: 0.5 * jnp.sum(eig * theta ** 2)
  return {
      'line': (line_loss, np.zeros(2), line_min, np.linalg.eigvalsh(2 * design.T @ design
                                                                     / cfg.line_points)),
      'quadratic': (quadratic, np.ones(cfg.dimension), np.zeros(cfg.dimension), eig)}


def _distances_after(loss, start, minimiser, tx: optax.GradientTransformation, steps: int):
  """||theta_t - theta*|| for t = 1..steps, traceable (a learning rate may be traced)."""
  def step(carry, _):
    theta, state = carry
    updates, state = tx.update(jax.grad(loss)(theta), state, theta)
    theta = optax.apply_updates(theta, updates)
    return (theta, state), jnp.linalg.norm(theta - minimiser)

  theta = jnp.asarray(start)
  return jax.lax.scan(step, (theta, tx.init(theta)), length=steps)[1]


def distances(loss, start, minimiser, tx: optax.GradientTransformation, steps: int):
  """||theta_t - theta*|| for t = 0..steps under the optimizer `tx`."""
  after = _distances_after(loss, start, minimiser, tx, steps)
  return np.concatenate([[np.linalg.norm(start - minimiser)], np.asarray(after)])


def _over_rate(loss, start, minimiser, optimizer, steps: int):
  """rate -> _distances_after under optimizer(rate), the rate traced: one compiled program
  serves every rate."""
  return jax.jit(lambda lr: _distances_after(loss, start, minimiser, optimizer(lr), steps))


def distances_over_rates(loss, start, minimiser, optimizer, rates, steps: int) -> dict:
  """{rate: distances(..., optimizer(rate), steps)}."""
  after = _over_rate(loss, start, minimiser, optimizer, steps)
  first = np.linalg.norm(start - minimiser)
  return {lr: np.concatenate([[first], np.asarray(after(lr))]) for lr in rates}


def rate(errors: np.ndarray) -> float:
  """The contraction per step: exp of the slope of log ||theta_t - theta*|| over the second
  half of the steps where it is still above rounding (1e-12 of where it started)."""
  alive = np.flatnonzero(errors > 1e-12 * errors[0])
  t = alive[len(alive) // 2:]
  return math.exp(stats.line_fit(t, np.log(errors[t]))['slope'])


def divergence_threshold(loss, start, minimiser, lam_max: float, cfg) -> float:
  """The smallest SGD learning rate, found by bisection, after which the distance to the
  minimum has grown in `threshold_steps` steps."""
  after = _over_rate(loss, start, minimiser, optax.sgd, cfg.threshold_steps)
  first = np.linalg.norm(start - minimiser)
  low, high = 0.0, 4.0 / lam_max
  for _ in range(cfg.bisections):
    lr = 0.5 * (low + high)
    error = float(after(lr)[-1])
    diverged = not np.isfinite(error) or error > first
    low, high = (low, lr) if diverged else (lr, high)
  return 0.5 * (low + high)


def measure_problem(loss, start, minimiser, eig, cfg) -> dict:
  mu, lam = float(eig.min()), float(eig.max())
  kappa, root = lam / mu, math.sqrt(lam / mu)
  polyak_beta = ((root - 1) / (root + 1)) ** 2
  runs = {
      'gd': optax.sgd(2.0 / (lam + mu)),
      'heavy_ball': optax.sgd(4.0 / (math.sqrt(lam) + math.sqrt(mu)) ** 2, momentum=polyak_beta),
      'nesterov': optax.sgd(1.0 / lam, momentum=(root - 1) / (root + 1), nesterov=True)}
  curves = {name: distances(loss, start, minimiser, tx, cfg.steps) for name, tx in runs.items()}
  adam = distances_over_rates(loss, start, minimiser, optax.adam, ADAM_RATES, cfg.steps)
  adam_lr = min(adam, key=lambda lr: np.nan_to_num(adam[lr][-1], nan=np.inf))
  curves['adam'] = adam[adam_lr]
  return {
      'mu': mu, 'lambda_max': lam, 'kappa': kappa, 'adam_lr': adam_lr,
      'threshold': {'theory': 2.0 / lam,
                    'measured': divergence_threshold(loss, start, minimiser, lam, cfg)},
      'rate': {name: {'measured': rate(c)} for name, c in curves.items()},
      'theory_rate': {'gd': (kappa - 1) / (kappa + 1), 'heavy_ball': (root - 1) / (root + 1)},
      'final_distance': {name: float(c[-1]) for name, c in curves.items()},
      'curves': {name: [float(v) for v in c] for name, c in curves.items()}}


def measure(cfg, seed: int) -> dict:
  with jax.enable_x64(True):  # rates read far below float32's resolution of theta*
    return {name: measure_problem(*problem, cfg)
            for name, problem in problems(cfg, seed).items()}


def checks_of(results: dict) -> list[dict]:
  """Every measured number that theory predicts: theory, measured, relative error, bound."""
  rows = []
  for problem, r in results.items():
    if not isinstance(r, dict) or 'threshold' not in r:
      continue  # measured_s
    rows.append({'problem': problem, 'quantity': 'GD divergence threshold (lr)',
                 'theory': r['threshold']['theory'], 'measured': r['threshold']['measured'],
                 'bound': THRESHOLD_TOLERANCE})
    for name, label in (('gd', 'GD rate at lr = 2/(L+mu)'),
                        ('heavy_ball', 'heavy-ball rate, Polyak settings')):
      rows.append({'problem': problem, 'quantity': label, 'theory': r['theory_rate'][name],
                   'measured': r['rate'][name]['measured'], 'bound': RATE_TOLERANCE})
  for row in rows:
    row['relative_error'] = abs(row['measured'] - row['theory']) / row['theory']
    row['holds'] = bool(row['relative_error'] <= row['bound'])
  return rows


def analyze(results) -> dict:
  rows = checks_of(results)
  failed = [f"{r['problem']}: {r['quantity']}" for r in rows if not r['holds']]
  return {
      'headline': {f"{r['problem']}_{r['quantity'].split(' ')[0].lower()}_"
                   f"{'threshold' if 'threshold' in r['quantity'] else 'rate'}_rel_error":
                   r['relative_error'] for r in rows},
      'rows': rows,
      'verdict': ('every measured threshold and rate is within its bound of theory'
                  if rows and not failed else
                  'no check ran' if not rows else
                  'theory is not matched for ' + '; '.join(failed))}


def plot(results, findings, workdir) -> None:
  problems_run = [p for p, r in results.items() if isinstance(r, dict) and 'curves' in r]
  with report.figure(workdir / 'convex.png', panels=len(problems_run)) as (_, axes):
    for ax, problem in zip(axes, problems_run):
      for name, curve in results[problem]['curves'].items():
        ax.semilogy(np.maximum(curve, 1e-300), label=name)
      ax.set_title(f"{problem} (kappa {results[problem]['kappa']:.3g})")
      ax.set_xlabel('step')
      ax.set_ylabel('||theta - theta*||')
      ax.grid(alpha=0.3)
      ax.legend(fontsize=8)


def render(results, findings) -> str:
  table = report.markdown_table(
      ['problem', 'quantity', 'theory', 'measured', 'relative error', 'bound', 'holds'],
      [[r['problem'], r['quantity'], r['theory'], r['measured'], r['relative_error'],
        f"{r['bound']:.0%}", 'yes' if r['holds'] else 'no'] for r in findings['rows']])
  beside = report.markdown_table(
      ['problem', 'kappa', *(f'{n} rate' for n in ('gd', 'heavy_ball', 'nesterov', 'adam'))],
      [[p, r['kappa'], *(r['rate'][n]['measured'] for n in ('gd', 'heavy_ball', 'nesterov',
                                                              'adam'))]
       for p, r in results.items() if isinstance(r, dict) and 'rate' in r])
  return f"""Float64 throughout. The line: y = 2x + 1 plus noise, loss the mean squared error
over (m, b), its minimiser the closed-form least-squares fit. The quadratic: 0.5 sum
lambda_i theta_i^2 with log-spaced eigenvalues. A rate is the contraction of ||theta - theta*||
per step, fitted on the second half of the run; the threshold is found by bisection. Nesterov
runs at lr = 1/L with momentum (sqrt(kappa) - 1) / (sqrt(kappa) + 1); Adam at the best of
{', '.join(map(str, ADAM_RATES))}: neither has a bound checked here.

{table}

Measured rates of every method:

{beside}

![distance to the minimum](convex.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
