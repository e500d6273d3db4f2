"""A sweep's summary: per point, the metric over seeds (mean, std, 95% interval) as a table
(summary.md), the same numbers as JSON (summary.json) and one plot (summary.png)."""
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
    ax.set_ylabel(f'{metric} (mean, 95% interval over seeds)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def write(root: pathlib.Path, sweep: dict, points: list[tuple], missing: list[int]) -> dict:
  """`points`: (overrides of the point, its finished runs' metric values) in sweep order."""
  rows = [{'point': list(point), 'values': values, **stats.over_seeds(values)}
          for point, values in points if values]
  metric = sweep['metric']
  table = report.markdown_table(
      ['point', 'seeds', 'mean', 'std', '95% interval'],
      [[' '.join(r['point']) or 'default', r['n'], r['mean'], r['std'],
        f'[{report.fmt(r["ci95_low"])}, {report.fmt(r["ci95_high"])}]'] for r in rows])
  root.mkdir(parents=True, exist_ok=True)
  _plot(root / 'summary.png', metric, rows)
  note = (f'\nNot finished (left out): runs {missing}.\n' if missing else '')
  (root / 'summary.md').write_text(
      f'# Sweep of {sweep["experiment"]}: {metric} over seeds {list(sweep["seeds"])}\n\n'
      f'{table}\n{note}\n![{metric}](summary.png)\n')
  summary = {'metric': metric, 'rows': rows, 'missing_runs': missing,
             'runs_found': sum(r['n'] + r['n_nonfinite'] for r in rows),
             'table_path': str(root / 'summary.md'), 'plot_path': str(root / 'summary.png')}
  rundir.write_json(root / 'summary.json', summary)
  return summary
