"""Lab-notebook output: markdown tables and plots, written into a run's workdir."""
import math
import pathlib

import matplotlib

matplotlib.use('Agg')  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402


def fmt(value) -> str:
  if isinstance(value, float):
    if math.isnan(value):
      return 'nan'
    return f'{value:.4g}'
  return str(value)


def markdown_table(headers: list[str], rows: list[list]) -> str:
  lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
  lines += ['| ' + ' | '.join(fmt(v) for v in row) + ' |' for row in rows]
  return '\n'.join(lines)


def plot_curves(path: pathlib.Path, series: dict[str, tuple[list, list]], xlabel: str,
                ylabel: str, title: str = '', logy: bool = False) -> None:
  """One line per name in `series`, each given as (xs, ys)."""
  fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
  for name, (xs, ys) in series.items():
    ax.plot(xs, ys, label=name)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  if logy:
    ax.set_yscale('log')
  if title:
    ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
