"""Sweeps: a grid (or a list) of overrides times seeds, each point a run of one experiment.

    python -m launch.sweep plan FILE                      the runs, numbered, with their workdirs
    python -m launch.sweep run FILE [--index I]           run them here, one after another
    python -m launch.sweep slurm FILE [slurm.sh options]  one SLURM job array, a task per run
    python -m launch.sweep aggregate FILE                 one table and one plot over seeds

A sweep file is a small Python file that defines SWEEP (launch/sweeps/ has examples):

    SWEEP = dict(
        experiment='train',
        quick=True,                            # the experiment's --quick preset
        fixed=['data=digits'],                 # overrides every run gets
        grid={'model': ['mlp', 'cnn'],         # every combination of these ...
              'optim.learning_rate': [1e-3, 3e-3, 1e-2]},
        # points=[['model=mlp'], ['model=cnn']],  # ... or an explicit list instead of grid
        seeds=[0, 1],                          # ... times these seeds
        folds=0,                               # ... times k folds (k-fold CV; 0 = off)
        metric='val.accuracy',                 # what selects: a dotted path into results.json
        goal='max',                            # max or min: which end of the metric is best
        report='test.accuracy',                # what is reported beside it (default test.*)
        workdir='runs/sweeps/lr',              # default: runs/sweeps/<file name>
    )

Points are chosen on the validation split (`split.val_fraction` in `fixed`, or folds=k: every
run once per fold, `split.folds=k split.fold=i`, and each point's figure over seeds and folds);
the test set only reports. A sweep that selects on test.* runs, with a warning that says so.

Each run is a point with a seed (and a fold), in WORKDIR/<point>/seed=<s>[/fold=<k>]: a normal
run directory, so a rerun of the sweep skips finished runs and resumes the interrupted one.
Every run's config is checked before the first one starts.
"""
import argparse
import dataclasses
import itertools
import json
import pathlib
import runpy
import subprocess
import sys

from experiments import cli, rundir
from research.errors import UserError

FIELDS = ('experiment', 'quick', 'fixed', 'grid', 'points', 'seeds', 'folds', 'metric', 'goal',
          'report', 'workdir')


@dataclasses.dataclass(frozen=True)
class Run:
  index: int
  point: tuple[str, ...]  # the point's overrides, without the seed
  seed: int
  workdir: pathlib.Path
  fold: int | None = None  # with k-fold cross-validation: the validation fold

  def argv(self, sweep: dict) -> list[str]:
    """The `python -m experiments` arguments of this run."""
    folds = ([f"split.folds={sweep['folds']}", f'split.fold={self.fold}']
             if self.fold is not None else [])
    return ['run', sweep['experiment'], '--workdir', str(self.workdir),
            *(['--quick'] if sweep['quick'] else []), *sweep['fixed'], *self.point,
            f'seed={self.seed}', *folds]


def _override(key: str, value) -> str:
  return f'{key}={value}' if isinstance(value, str) else f'{key}={value!r}'


def load(path: pathlib.Path) -> dict:
  """The sweep in `path`, with defaults filled in; a UserError for anything malformed."""
  if not path.is_file():
    raise UserError(f'sweep file {path} does not exist')
  try:
    sweep = runpy.run_path(str(path)).get('SWEEP')
  except Exception as e:  # a syntax error or a failing import in the user's file
    raise UserError(f'sweep file {path} could not be read: {type(e).__name__}: {e}') from None
  if not isinstance(sweep, dict):
    raise UserError(f'sweep file {path} must define SWEEP = dict(...)')
  unknown = sorted(set(sweep) - set(FIELDS))
  if unknown:
    raise UserError(f'SWEEP has unknown field(s) {", ".join(unknown)}; '
                    f'fields: {", ".join(FIELDS)}')
  sweep = {'quick': False, 'fixed': [], 'grid': {}, 'points': [], 'seeds': [0], 'folds': 0,
           'metric': 'val.accuracy', 'goal': 'max', 'workdir': f'runs/sweeps/{path.stem}',
           **sweep}
  sweep.setdefault('report', 'test.' + sweep['metric'].split('.', 1)[-1])
  if not isinstance(sweep['folds'], int) or sweep['folds'] == 1 or sweep['folds'] < 0:
    raise UserError(f"SWEEP folds={sweep['folds']!r}: 2 or more, or 0 (no cross-validation)")
  if sweep['goal'] not in ('max', 'min'):
    raise UserError(f"SWEEP goal={sweep['goal']!r}: choose max or min")
  if 'experiment' not in sweep:
    raise UserError('SWEEP needs experiment=NAME')
  if bool(sweep['grid']) == bool(sweep['points']):
    raise UserError('SWEEP needs exactly one of grid={key: [values]} and points=[[overrides]]')
  if not (isinstance(sweep['seeds'], (list, tuple)) and sweep['seeds'] and
          all(isinstance(s, int) and s >= 0 for s in sweep['seeds'])):
    raise UserError('SWEEP seeds must be a non-empty list of integers >= 0')
  if any(not isinstance(v, (list, tuple)) or not v for v in sweep['grid'].values()):
    raise UserError('SWEEP grid values must be non-empty lists')
  return sweep


def points(sweep: dict) -> list[tuple[str, ...]]:
  if sweep['points']:
    return [tuple(p) for p in sweep['points']]
  keys = list(sweep['grid'])
  return [tuple(_override(k, v) for k, v in zip(keys, values))
          for values in itertools.product(*sweep['grid'].values())]


def expand(sweep: dict) -> list[Run]:
  root, seeds = pathlib.Path(sweep['workdir']), list(sweep['seeds'])
  runs = []
  folds = list(range(sweep['folds'])) or [None]
  for point in points(sweep):
    name = rundir.name_for(point)
    for seed in seeds:
      for fold in folds:
        where = root / name / f'seed={seed}'
        runs.append(Run(len(runs), point, seed,
                        where if fold is None else where / f'fold={fold}', fold))
  return runs


def warn_if_selecting_on_test(sweep: dict) -> None:
  if sweep['metric'].startswith('test.'):
    print(f"WARNING: this sweep selects on the test set (metric={sweep['metric']}); choose on a "
          "validation split (split.val_fraction, metric='val.*') and let the test set only "
          'report', file=sys.stderr)


def check(sweep: dict, runs: list[Run]) -> None:
  """Builds every run's config (unknown keys, bad values) and refuses workdirs that hold a run
  with another config, before anything runs."""
  from research.train.checkpoint import changed_keys
  for run in runs:
    args, assignments = cli.parse(run.argv(sweep))
    try:
      _, config = cli.build_config(args.name, args.quick, assignments)
    except UserError as e:
      raise UserError(f'run {run.index} ({" ".join(run.point)}): {e}') from None
    if sweep['metric'].startswith('val.') and 'split' in config and \
       not (config.split.val_fraction or config.split.folds):
      raise UserError(f"metric={sweep['metric']} selects on the validation split: add "
                      "split.val_fraction (e.g. 'split.val_fraction=0.1') to fixed")
    saved = run.workdir / 'config.json'
    if saved.exists():
      current = json.loads(json.dumps(config.to_dict()))  # as stored: tuples become lists
      changed = changed_keys(json.loads(saved.read_text()), current)
      if changed:
        raise UserError(f'{run.workdir} holds a run with another config (differs in: '
                        f'{", ".join(changed)}); change the sweep workdir')


def run_here(sweep: dict, runs: list[Run]) -> int:
  """Runs each in this process, one after another. SIGTERM stops the sweep after the current
  run has saved its checkpoint; the same command resumes it."""
  from research.train import preemption
  failed = []
  with preemption.sigterm_flag() as stopped:
    for run in runs:
      if (run.workdir / 'results.json').exists():
        print(f'[{run.index + 1}/{len(runs)}] done already: {run.workdir}')
        continue
      print(f'[{run.index + 1}/{len(runs)}] python -m experiments {" ".join(run.argv(sweep))}',
            flush=True)
      status = cli.main(run.argv(sweep))
      if stopped():
        print('sweep stopped by SIGTERM; run the same command again to resume', file=sys.stderr)
        return 0
      if status == 2:  # a mistake in the request: the other runs would repeat it
        return 2
      if status:
        failed.append(run.index)
  if failed:
    print(f'error: runs {failed} failed (see their output above)', file=sys.stderr)
    return 1
  return 0


def _metric(results: dict, path: str) -> float:
  value = results
  for part in path.split('.'):
    if not isinstance(value, dict) or part not in value:
      raise UserError(f'metric {path!r} is not in results.json (at {part!r}); '
                      f'top-level keys: {", ".join(sorted(results))}')
    value = value[part]
  return float(value)


def aggregate(sweep: dict, runs: list[Run]) -> dict:
  """Gathers the runs' results.json into WORKDIR/summary.{md,json,png}; returns the summary."""
  from launch import sweep_report
  rows, missing = [], []
  for point in dict.fromkeys(run.point for run in runs):
    values, reported = [], []
    for run in (r for r in runs if r.point == point):
      path = run.workdir / 'results.json'
      if path.exists():
        results = json.loads(path.read_text())
        values.append(_metric(results, sweep['metric']))
        reported.append(_metric(results, sweep['report']))
      else:
        missing.append(run.index)
    rows.append((point, values, reported))
  if all(not values for _, values, _ in rows):
    raise UserError(f'no run of the sweep has finished yet (no results.json under '
                    f'{sweep["workdir"]}); run it first')
  return sweep_report.write(pathlib.Path(sweep['workdir']), sweep, rows, missing)


def _slurm(path: pathlib.Path, runs: list[Run], options: list[str]) -> int:
  dry = ['--dry-run'] if '--dry-run' in options else []
  options = [o for o in options if o != '--dry-run']
  command = ['launch/slurm.sh', *dry, '--array', f'0-{len(runs) - 1}', *options,
             '--sweep', str(path)]
  return subprocess.run(command, cwd=pathlib.Path(__file__).resolve().parent.parent).returncode


def _parser() -> argparse.ArgumentParser:
  parser = cli._Parser(prog='python -m launch.sweep', description=__doc__.splitlines()[0])
  parser.add_argument('command', choices=('plan', 'run', 'slurm', 'aggregate'))
  parser.add_argument('file', type=pathlib.Path)
  parser.add_argument('--index', type=int, default=None, help='run only this one (run)')
  return parser


def main(argv: list[str]) -> int:
  try:
    args, rest = _parser().parse_known_args(argv)
    if rest and args.command != 'slurm':
      raise UserError(f'unknown option(s) {" ".join(rest)} for {args.command}')
    sweep = load(args.file)
    runs = expand(sweep)
    if args.index is not None and not 0 <= args.index < len(runs):
      raise UserError(f'--index {args.index} is outside the sweep\'s {len(runs)} runs')
    if args.command == 'plan':
      for run in runs:
        print(f'{run.index:4d}  python -m experiments {" ".join(run.argv(sweep))}')
      return 0
    warn_if_selecting_on_test(sweep)
    if args.command == 'aggregate':
      summary = aggregate(sweep, runs)
      print(f'{len(summary["rows"])} points, {summary["runs_found"]} runs; table: '
            f'{summary["table_path"]}, plot: {summary["plot_path"]}')
      return 0
    check(sweep, runs)
    if args.command == 'slurm':
      return _slurm(args.file, runs, rest)
    return run_here(sweep, runs if args.index is None else [runs[args.index]])
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
