"""Lab-notebook output: markdown tables and plots, written into a run's workdir."""
import contextlib
import math
import pathlib



def _pyplot():
  """matplotlib, imported on first use (half a second that a run's start need not pay)."""
  import matplotlib
  matplotlib.use('Agg')  # files only; never a window
  import matplotlib.pyplot as plt
  return plt


def fmt(value) -> str:
  if isinstance(value, float):
    if math.isnan(value):
      return 'nan'
    return f'{value:.4g}'
  return str(value)


def percent_interval(s: dict) -> str:
  """A stats.over_seeds summary of a fraction as 'mean% ± half-width%' (the 95% interval's),
  the mean alone with one seed."""
  if s['n'] < 2:
    return f"{s['mean']:.1%}"
  return f"{s['mean']:.1%} ± {s['ci95_high'] - s['mean']:.1%}"


def markdown_table(headers: list[str], rows: list[list]) -> str:
  lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
  lines += ['| ' + ' | '.join(fmt(v) for v in row) + ' |' for row in rows]
  return '\n'.join(lines)


@contextlib.contextmanager
def figure(path: pathlib.Path, panels: int = 1, panel_size: tuple[float, float] = (6, 4)):
  """Yields (fig, axes) with `panels` side by side; saves to `path` and frees the figure."""
  plt = _pyplot()
  fig, axes = plt.subplots(1, panels, figsize=(panel_size[0] * panels, panel_size[1]), dpi=110,
                           squeeze=False)
  try:
    yield fig, list(axes[0])
    fig.tight_layout()
    fig.savefig(path)
  finally:
    plt.close(fig)


def confusion_heatmap(ax, confusion, title: str = '') -> None:
  """A confusion matrix [true, predicted] as a heat map, each cell annotated with its count
  (up to 12 classes; beyond that the numbers would not fit)."""
  import numpy as np
  cm = np.asarray(confusion)
  ax.imshow(cm, cmap='Blues')
  if len(cm) <= 12:
    for (i, j), v in np.ndenumerate(cm):
      ax.text(j, i, fmt(v) if not float(v).is_integer() else str(int(v)), ha='center',
              va='center', fontsize=8, color='white' if v > cm.max() / 2 else 'black')
  ax.set(xticks=range(len(cm)), yticks=range(len(cm)), xlabel='predicted', ylabel='true',
         title=title)


def plot_curves(path: pathlib.Path, series: dict[str, tuple[list, list]], xlabel: str,
                ylabel: str, title: str = '', logy: bool = False, logx: bool = False) -> None:
  """One line per name in `series`, each given as (xs, ys)."""
  with figure(path) as (_, (ax,)):
    for name, (xs, ys) in series.items():
      ax.plot(xs, ys, label=name, marker='o' if len(xs) < 20 else None, ms=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
      ax.set_yscale('log')
    if logx:
      ax.set_xscale('log')
    if title:
      ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def image_grid(path: pathlib.Path, rows: list[tuple[str, object]], cell: float = 0.9) -> None:
  """Rows of images (each N x H x W x C), each row's label at its left: reconstructions beside
  the originals, or samples. Every image is drawn on the first row's range of values, so that
  a row's contrast can be compared with the originals'."""
  import numpy as np
  plt = _pyplot()
  columns = max(len(images) for _, images in rows)
  fig, axes = plt.subplots(len(rows), columns, figsize=(cell * columns + 1.5, cell * len(rows)),
                           dpi=110, squeeze=False)
  low, high = float(np.min(rows[0][1])), float(np.max(rows[0][1]))
  try:
    for (label, images), line in zip(rows, axes):
      for ax in line:
        ax.set_axis_off()
      for image, ax in zip(images, line):
        image = np.asarray(image)
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else np.clip((image - low) / (high - low),
                                                                      0, 1),
                  cmap='gray', vmin=low, vmax=high)
      line[0].text(-0.1, 0.5, label, transform=line[0].transAxes, ha='right', va='center',
                   fontsize=8)
    fig.subplots_adjust(left=1.5 / (cell * columns + 1.5), wspace=0.05, hspace=0.05)
    fig.savefig(path)
  finally:
    plt.close(fig)
