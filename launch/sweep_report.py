"""A sweep's summary: per point, the selection metric over seeds (mean, std, 95% interval) and
the reported one beside it, as a table (summary.md), the same numbers as JSON (summary.json)
and one plot (summary.png); and the point chosen, with whether the choice is beyond the seed
spread."""
import math
import pathlib

from experiments import rundir
from research import report, stats


def _split(override: str) -> tuple[str, str]:
  key, _, value = override.partition('=')
  return key, value


def _number(text: str) -> float | None:
  try:
    return float(text)
  except ValueError:
    return None


def _plot(path: pathlib.Path, metric: str, rows: list[dict]) -> None:
  """The metric against the sweep's last key, one line per setting of the other keys, with
  95% intervals as error bars."""
  x_key = _split(rows[0]['point'][-1])[0] if rows[0]['point'] else 'point'
  lines: dict[str, list[tuple[str, dict]]] = {}
  for row in rows:
    overrides = dict(_split(o) for o in row['point'])
    x = overrides.pop(x_key, ' '.join(row['point']))
    lines.setdefault(', '.join(f'{k}={v}' for k, v in overrides.items()) or metric,
                     []).append((x, row))
  xs = [x for line in lines.values() for x, _ in line]
  numeric = all(_number(x) is not None for x in xs)
  categories = list(dict.fromkeys(xs))
  position = (lambda x: _number(x)) if numeric else categories.index
  with report.figure(path) as (_, (ax,)):
    for label, line in lines.items():
      means = [r['mean'] for _, r in line]
      errors = [0.0 if math.isnan(r['ci95_high']) else r['ci95_high'] - r['mean']
                for _, r in line]
      ax.errorbar([position(x) for x, _ in line], means, yerr=errors, marker='o', ms=4,
                  capsize=3, label=label)
    values = [_number(x) for x in xs] if numeric else []
    if values and min(values) > 0 and max(values) / min(values) >= 10:
      ax.set_xscale('log')
    if not numeric:
      ax.set_xticks(range(len(categories)), categories)
    ax.set_xlabel(x_key)
    ax.set_ylabel(f'{metric} (mean, 95% interval over runs)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def selection(rows: list[dict], goal: str) -> dict:
  """The best point by mean (goal 'max' or 'min'), and whether it beats the runner-up beyond
  the seed spread: their 95% intervals do not overlap. Otherwise the choice is inconclusive."""
  finite = [r for r in rows if not math.isnan(r['mean'])]
  if not finite:
    return {'best': None, 'runner_up': None, 'separated': False,
            'sentence': 'No point has a finite value; nothing to choose.'}
  ranked = sorted(finite, key=lambda r: r['mean'], reverse=goal == 'max')
  best = ranked[0]
  name = lambda r: ' '.join(r['point']) or 'default'
  if len(ranked) == 1:
    return {'best': best['point'], 'runner_up': None, 'separated': False,
            'sentence': f'One point only: {name(best)}.'}
  second = ranked[1]
  separated = not stats.intervals_overlap(best, second)  # best leads by mean in goal's sense
  verdict = ('beyond the seed spread (the 95% intervals do not overlap)' if separated else
             'inconclusive: within the seed spread of the runner-up')
  return {'best': best['point'], 'runner_up': second['point'], 'separated': bool(separated),
          'sentence': f'Best by mean: {name(best)} ({report.fmt(best["mean"])}); against the '
                      f'runner-up {name(second)} ({report.fmt(second["mean"])}) the choice is '
                      f'{verdict}.'}


def _folds(sweep: dict) -> str:
  return f' and {sweep["folds"]} cross-validation folds' if sweep.get('folds') else ''


def write(root: pathlib.Path, sweep: dict, points: list[tuple], missing: list[int]) -> dict:
  """`points`: (overrides of the point, its finished runs' selection-metric values and reported
  values) in sweep order."""
  rows = [{'point': list(point), 'values': values, **stats.over_seeds(values),
           'reported': {'values': reported, **stats.over_seeds(reported)}}
          for point, values, reported in points if values]
  metric, reported = sweep['metric'], sweep['report']
  table = report.markdown_table(
      ['point', 'seeds', f'{metric} mean', 'std', '95% interval', f'{reported} mean'],
      [[' '.join(r['point']) or 'default', r['n'], r['mean'], r['std'],
        f'[{report.fmt(r["ci95_low"])}, {report.fmt(r["ci95_high"])}]',
        r['reported']['mean']] for r in rows])
  chosen = selection(rows, sweep['goal'])
  root.mkdir(parents=True, exist_ok=True)
  _plot(root / 'summary.png', metric, rows)
  note = (f'\nNot finished (left out): runs {missing}.\n' if missing else '')
  (root / 'summary.md').write_text(
      f'# Sweep of {sweep["experiment"]}: {metric} over seeds {list(sweep["seeds"])}'
      f'{_folds(sweep)}\n\n'
      f'{table}\n{note}\n![{metric}](summary.png)\n\n'
      f'**Choice** ({sweep["goal"]} {metric}). {chosen["sentence"]}\n')
  summary = {'metric': metric, 'goal': sweep['goal'], 'report': reported, 'selection': chosen,
             'rows': rows, 'missing_runs': missing,
             'runs_found': sum(r['n'] + r['n_nonfinite'] for r in rows),
             'table_path': str(root / 'summary.md'), 'plot_path': str(root / 'summary.png')}
  rundir.write_json(root / 'summary.json', summary)
  return summary
