"""Section 4. The optimizers compared, each at its own learning rate chosen on validation.

SGD, momentum, Nesterov, RMSProp, Adam and AdamW, each with the rate whose mean final
validation loss is lowest (section 3's ensembles), then compared by the epochs each needs to
reach a target validation loss and by test accuracy, over seeds. Kingma & Ba (2015) found Adam
fastest on their MNIST MLP; Wilson et al. (2017) that adaptive methods can generalise worse
than SGD. Are either reproduced here?
"""
import math

from experiments.optimisation import groups
from research import report, stats

TITLE = 'Optimizers at their validation-chosen learning rates'
ADAPTIVE = ('rmsprop', 'adam', 'adamw')


def _chosen_rate(group: dict) -> float:
  val = groups.by_rate(group, 'val', 'loss')
  finite = {r: s for r, s in val.items() if s['n'] and not s['n_nonfinite']}
  return min(finite, key=lambda r: finite[r]['mean']) if finite else None


def _at_rate(group: dict, rate: float, steps_per_epoch: int) -> dict:
  index = [k for k, m in enumerate(group['members']) if m['rate'] == rate]
  members = [group['members'][k] for k in index]
  return {
      'rate': rate, 'steps_per_epoch': steps_per_epoch,
      'val_curves': [groups.nan_to_none(groups.curve(group['records'], 'val', 'loss', k))
                     for k in index],
      'val_loss': stats.over_seeds([groups.member_value(m, 'val', 'loss') for m in members]),
      'test_accuracy': stats.over_seeds([groups.member_value(m, 'test', 'accuracy')
                                         for m in members])}


def measure(cfg, context) -> dict:
  trained = groups.train_sweep(cfg, context)
  chosen = {}
  for name, group in trained.items():
    rate = _chosen_rate(group)
    if rate is not None:
      chosen[name] = _at_rate(group, rate, group['steps'] // cfg.epochs)
  return {'chosen': chosen, 'target_val_loss': cfg.target_val_loss, 'epochs': cfg.epochs,
          'data': context.dataset.name, 'rates': list(cfg.rates)}


def steps_to_target(r: dict, target: float) -> dict:
  """stats.over_seeds of the steps each seed needs (NaN for one that never gets there)."""
  epochs = [groups.first_epoch_at(c, target) for c in r['val_curves']]
  return stats.over_seeds([math.nan if e is None else e * r['steps_per_epoch'] for e in epochs])


def _compare(a: tuple[str, dict], b: tuple[str, dict], lower_is_better: bool) -> str:
  """'a' or 'b' when one is better outside the seed spread, else 'inconclusive'."""
  (na, sa), (nb, sb) = a, b
  if not (sa['n'] and sb['n']) or stats.intervals_overlap(sa, sb):
    return 'inconclusive'
  better_a = sa['mean'] < sb['mean'] if lower_is_better else sa['mean'] > sb['mean']
  return na if better_a else nb


def kingma_verdict(ranked: list[str], reached: dict, adam_ran: bool) -> str:
  """Whether Adam reaches the target first, outside the seed spread of the next fastest."""
  if not adam_ran:
    return 'not run'
  if 'adam' not in reached:
    return 'not reproduced: Adam did not reach the target with every seed'
  if ranked[0] != 'adam':
    leader = ranked[0]
    if _compare((leader, reached[leader]), ('adam', reached['adam']), True) == leader:
      return f'not reproduced: {leader} reaches the target first, outside Adam\'s seed spread'
    return f'inconclusive: {leader} reaches the target first, but inside Adam\'s seed spread'
  if len(ranked) == 1:
    return 'reproduced: Adam is the only optimizer whose every seed reaches the target'
  runner_up = ranked[1]
  if _compare(('adam', reached['adam']), (runner_up, reached[runner_up]), True) == 'adam':
    return f'reproduced: Adam is the fastest, outside the seed spread of {runner_up}'
  return f'inconclusive: Adam is fastest, but inside the seed spread of {runner_up}'


def analyze(results) -> dict:
  chosen = results['chosen']
  target = results['target_val_loss'] or 1.25 * min(
      (r['val_loss']['mean'] for r in chosen.values()), default=math.nan)
  speed = {name: steps_to_target(r, target) for name, r in chosen.items()}
  reached = {n: s for n, s in speed.items() if s['n'] and not s['n_nonfinite']}
  ranked = sorted(reached, key=lambda n: reached[n]['mean'])
  best = {kind: max(((n, r['test_accuracy']) for n, r in chosen.items()
                     if (n in ADAPTIVE) == (kind == 'adaptive') and r['test_accuracy']['n']),
                    key=lambda t: t[1]['mean'], default=None)
          for kind in ('adaptive', 'sgd_family')}
  if None in best.values():
    wilson = 'not run (needs an adaptive and a non-adaptive optimizer)'
  else:
    winner = _compare(best['sgd_family'], best['adaptive'], lower_is_better=False)
    wilson = ('inconclusive: the best adaptive and the best SGD-family optimizer are inside '
              'each other\'s seed spread' if winner == 'inconclusive' else
              f'reproduced: {winner} (SGD family) generalises better than the best adaptive '
              'method' if winner == best['sgd_family'][0] else
              f'not reproduced: {winner} (adaptive) has the higher test accuracy')
  return {
      'headline': {**{f'test_accuracy_{n}': r['test_accuracy']['mean'] for n, r in chosen.items()},
                   **{f'steps_to_target_{n}': s['mean'] for n, s in speed.items()}},
      'target': target, 'speed': speed, 'ranked': ranked,
      'kingma': kingma_verdict(ranked, reached, 'adam' in chosen), 'wilson': wilson}


def plot(results, findings, workdir) -> None:
  with report.figure(workdir / 'optimizers.png') as (_, (ax,)):
    for name, r in results['chosen'].items():
      curves = [[math.nan if v is None else v for v in c] for c in r['val_curves']]
      mean = [sum(vs) / len(vs) for vs in zip(*curves)]
      steps = [(e + 1) * r['steps_per_epoch'] for e in range(len(mean))]
      ax.plot(steps, mean, label=f"{name} (lr {r['rate']:g})")
    ax.axhline(findings['target'], color='grey', ls=':', label='target')
    ax.set_xlabel('step')
    ax.set_ylabel('validation loss (mean over seeds)')
    ax.set_yscale('log')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _steps(s: dict) -> str:
  if not s['n']:
    return 'not reached'
  never = s['n_nonfinite']
  return groups.interval(s, digits=0) + (f' ({never} of {s["n"] + never} seeds never)'
                                         if never else '')


def render(results, findings) -> str:
  table = report.markdown_table(
      ['optimizer', 'chosen rate', 'final val loss', 'steps to target', 'test accuracy %'],
      [[name, r['rate'], groups.interval(r['val_loss'], digits=4),
        _steps(findings['speed'][name]),
        groups.interval(r['test_accuracy'], 100)] for name, r in results['chosen'].items()])
  return f"""Each optimizer's learning rate is chosen from {results['rates']} by its mean final
validation loss (never the test set); its seeds are then compared at that rate. Target
validation loss: {findings['target']:.4f}. Means over seeds with 95% intervals (Student's t).

{table}

![validation loss](optimizers.png)

**Conclusion.** Order of reaching the target: {', '.join(findings['ranked']) or 'none reached it'}.
Kingma & Ba 2015 (Adam fastest on an MNIST MLP): {findings['kingma']}. Wilson et al. 2017
(adaptive methods generalise worse): {findings['wilson']}.
"""
