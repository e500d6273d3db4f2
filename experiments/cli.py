"""python -m experiments list | run NAME [--workdir DIR] [--quick] [key=value ...] |
config NAME [--quick] [key=value ...]

Exit status: 0 done; 2 a mistake in the request (one line on stderr says which); 3 the run
became non-finite (the step is named, the last good checkpoint kept).
"""
import argparse
import os
import pathlib
import sys
import time

import ml_collections

import experiments
from experiments import overrides, rundir
from research.errors import NonFiniteError, UserError
from research.train.preemption import Preempted


class _Parser(argparse.ArgumentParser):
  def error(self, message):  # one line, our exit status, no usage dump
    raise UserError(message)


def _parser() -> argparse.ArgumentParser:
  parser = _Parser(prog='python -m experiments', description=__doc__.splitlines()[0])
  commands = parser.add_subparsers(dest='command', required=True, parser_class=_Parser)
  commands.add_parser('list', help='list the experiments')
  runs = commands.add_parser('runs', help='one table of the run directories under DIR: '
                                          'experiment, overrides, status, step, headline')
  runs.add_argument('directory', nargs='?', type=pathlib.Path, default=pathlib.Path('runs'))
  figures = commands.add_parser('figures', help="a finished run's figures as a markdown block "
                                                '(command, machine, headline), for results '
                                                'documents')
  figures.add_argument('run_dir', type=pathlib.Path)
  figures.add_argument('--into', type=pathlib.Path, default=None,
                       help='replace (or append) the generated block of this document')
  run = commands.add_parser(
      'run', help='run (or resume) an experiment; key=value pairs override its config',
      description='Runs experiment NAME, or resumes it from --workdir. key=value pairs, '
                  'anywhere on the line, override its config: dotted keys for groups, values '
                  'as Python literals (steps=300 cnn.channels=16,32 optim.name=nesterov). '
                  '`python -m experiments config NAME` lists every key with its type, value '
                  'and description; `python -m experiments list` the experiments.')
  run.add_argument('name')
  run.add_argument('--workdir', type=pathlib.Path, default=None,
                   help='run directory (default runs/NAME[-quick]/OVERRIDES, one per set of '
                        'overrides: runs/train/model=cnn, runs/train/default); an existing '
                        'one is resumed')
  run.add_argument('--quick', action='store_true',
                   help='the CPU preset: under three minutes on a 2-core CPU')
  run.add_argument('--restart', action='store_true',
                   help='discard the run that --workdir holds (its checkpoints, logs and '
                        'results) and start this one there afresh')
  config = commands.add_parser('config', help="print an experiment's resolved config: every "
                                              'key, its type, value and description')
  config.add_argument('name')
  config.add_argument('--quick', action='store_true', help='resolve the quick preset')
  return parser


def parse(argv: list[str]):
  """(options, overrides): key=value tokens may sit anywhere among the options."""
  assignments, options = [], []
  for i, token in enumerate(argv):
    is_value = i > 0 and argv[i - 1] == '--workdir'  # a path may contain '='
    is_assignment = '=' in token and not token.startswith('-') and not is_value
    (assignments if is_assignment else options).append(token)
  args, extra = _parser().parse_known_args(options)
  for token in extra:
    if token.startswith('-'):
      raise UserError(f'unknown option {token}; options are --workdir DIR, --quick and '
                      '--restart')
    overrides.apply_override(None, token)  # not key=value: raises, naming the token
  return args, assignments


def build_config(name: str, quick: bool, assignments: list[str]):
  if name not in experiments.NAMES:
    raise UserError(f'unknown experiment {name!r}; choose one of {", ".join(experiments.NAMES)}')
  experiment = experiments.get(name)
  config = experiment.get_config()
  if quick:
    with config.unlocked():
      experiment.quick(config)
  for assignment in assignments:
    overrides.apply_override(config, assignment)
  experiment.validate(config)
  return experiment, config


def _leaves(config, prefix: str = ''):
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      yield from _leaves(value, f'{prefix}{key}.')
    else:
      yield f'{prefix}{key}', value


def describe(name: str, config) -> str:
  """One line per key: key, type, value and, where the experiment documents it, what it is."""
  experiment = experiments.get(name)
  if hasattr(experiment, 'describe'):  # in the order of its typed config
    rows = [(key, kind, repr(value), text) for key, kind, value, text in
            experiment.describe(config)]
  else:
    rows = [(key, type(value).__name__, repr(value), '') for key, value in _leaves(config)]
  widths = [min(max(len(row[i]) for row in rows), 40) for i in range(3)]  # long values overflow
  return '\n'.join(f'{k:{widths[0]}}  {t:{widths[1]}}  {v:{widths[2]}}  {d}'.rstrip()
                   for k, t, v, d in rows)


CACHE_MAX_BYTES = 8 << 30


def _persistent_compilation_cache() -> None:
  """Compiled programs are kept on disk (~/.cache/research-jax unless JAX_COMPILATION_CACHE_DIR
  says otherwise), so the second run of a program, a resumed run among them, starts warm.

  With a size limit JAX takes a file lock around every read and write of the cache; without
  one it writes entries unlocked, and a process reading an entry another is still writing (the
  processes of `local.sh --processes N`, a sweep's parallel runs, test workers) can load it
  truncated and abort. So a limit is always set (8 GiB unless JAX_COMPILATION_CACHE_MAX_SIZE
  says otherwise; the oldest entries go first)."""
  import jax
  if not os.environ.get('JAX_COMPILATION_CACHE_DIR'):
    jax.config.update('jax_compilation_cache_dir',
                      str(pathlib.Path.home() / '.cache' / 'research-jax'))
  if not os.environ.get('JAX_COMPILATION_CACHE_MAX_SIZE'):
    jax.config.update('jax_compilation_cache_max_size', CACHE_MAX_BYTES)
  if not os.environ.get('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'):
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.1)
  cache_dir = jax.config.jax_compilation_cache_dir
  if cache_dir and jax.config.jax_compilation_cache_max_size != -1:
    _drop_unindexed_entries(pathlib.Path(cache_dir))


def _drop_unindexed_entries(cache_dir: pathlib.Path) -> None:
  """Deletes cache entries that have no access-time file: entries written without a size limit
  (by earlier versions of this CLI) have none, and JAX's eviction, which reads one per entry,
  then fails on every write: nothing new would be cached. Done under JAX's own lock."""
  import filelock
  if not cache_dir.is_dir():
    return
  with filelock.FileLock(cache_dir / '.lockfile'):
    for entry in cache_dir.glob('*-cache'):
      if not entry.with_name(entry.name.removesuffix('-cache') + '-atime').exists():
        entry.unlink(missing_ok=True)


def _run(args, assignments: list[str]) -> int:
  experiment, config = build_config(args.name, args.quick, assignments)
  workdir = args.workdir or rundir.default_workdir(args.name, args.quick, assignments)
  if args.restart:
    rundir.discard(workdir)
  created = not workdir.exists()
  rundir.prepare(workdir, config.to_dict())
  (workdir / rundir.FAILED).unlink(missing_ok=True)
  try:
    return _start(args, experiment, config, workdir)
  except NonFiniteError as e:  # `runs` lists the run as failed, with this
    rundir.write_json(workdir / rundir.FAILED, {'error': str(e), 'step': e.step})
    raise
  except UserError:
    # A run that could not start (data, devices, another run's weights that do not fit)
    # leaves no workdir behind to refuse the corrected command.
    if created:
      rundir.remove_unstarted(workdir)
    raise


def _start(args, experiment, config, workdir: pathlib.Path) -> int:
  # Imported late: JAX starts up here, after every cheap check has passed.
  from research import runtime
  runtime.configure()  # before JAX starts its backend
  from research import manifest as manifest_lib
  from research.train import distributed
  _persistent_compilation_cache()
  distributed.initialize()  # several processes (SLURM, TPU pod, explicit): one JAX runtime
  processes = distributed.process_count()
  if processes > 1 and not getattr(experiment, 'MULTI_PROCESS', False):
    raise UserError(f'{args.name} runs in one process (started: {processes}); launch it with '
                    'one process, or use an experiment that supports several, such as train')
  main = distributed.is_main()  # process 0 writes what every process would write alike
  # One run per workdir; the processes of one multi-process run share it, so process 0 alone
  # holds the lock, until this process exits.
  workdir_lock = rundir.lock(workdir) if main else None  # noqa: F841
  manifest = manifest_lib.build_manifest(['python', '-m', 'experiments', *sys.argv[1:]],
                                         config.seed)
  if main:
    rundir.write_json(workdir / 'manifest.json', manifest)
    total = config.get('steps') if args.name == 'train' else None
    print(rundir.start_message(args.name, workdir, total), flush=True)
  began = time.perf_counter()
  results = experiment.run(config, workdir, manifest)
  if main:
    results['session_wall_s'] = time.perf_counter() - began  # this invocation's, not the run's
    rundir.write_json(workdir / 'results.json', results)
    print(f'{args.name}: {experiment.summary(results)}; report: {workdir / "report.md"}')
  return 0


def main(argv: list[str]) -> int:
  try:
    args, assignments = parse(argv)
    if assignments and args.command not in ('run', 'config'):
      raise UserError(f'{assignments[0]!r}: overrides go with "run NAME" or "config NAME"')
    if args.command == 'runs':
      from experiments import runs_table
      print(runs_table.table(args.directory))
      return 0
    if args.command == 'figures':
      from experiments import figures
      text = figures.block(args.run_dir)
      if args.into:
        figures.into(args.into, text)
      else:
        print(text)
      return 0
    if args.command == 'list':
      for name in experiments.NAMES:
        print(f'{name:24s} {experiments.get(name).DESCRIPTION}')
      return 0
    if args.command == 'config':
      _, config = build_config(args.name, args.quick, assignments)
      print(describe(args.name, config))
      return 0
    return _run(args, assignments)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except NonFiniteError as e:
    print(f'error: {e}', file=sys.stderr)
    return 3
  except Preempted as e:  # the scheduler asked us to stop; the work is saved
    print(e, file=sys.stderr)
    return 0
