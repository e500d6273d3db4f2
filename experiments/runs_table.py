"""`python -m experiments runs [DIR]`: one table of the run directories under DIR.

A run directory is one the command line made: it holds config.json and manifest.json (the
training groups inside an experiment's directory are parts of it, not rows). Each row: the
directory, its experiment, the overrides that differ from that experiment's defaults (its
--quick preset's, for a quick run), its status, its newest step, the experiment's headline
and the wall time of its last invocation (a rerun of a finished run only reports: seconds).
"""
import fcntl
import json
import pathlib

from experiments import rundir
from research import report
from research.errors import UserError

HEADLINE_WIDTH = 60


def find(root: pathlib.Path) -> list[pathlib.Path]:
  """Every run directory under `root`, in path order, without looking inside one."""
  if (root / 'config.json').is_file() and (root / 'manifest.json').is_file():
    return [root]
  return [run for child in sorted(p for p in root.iterdir() if p.is_dir())
          for run in find(child)]


def _locked(workdir: pathlib.Path) -> bool:
  lock_path = workdir / rundir.LOCK_NAME
  if not lock_path.exists():
    return False
  with open(lock_path, 'a+') as handle:
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      return True
    fcntl.flock(handle, fcntl.LOCK_UN)
  return False


def status(workdir: pathlib.Path) -> str:
  if _locked(workdir):
    return 'running'
  if (workdir / 'results.json').exists():
    return 'finished'
  if (workdir / rundir.FAILED).exists():
    return 'failed'
  if rundir.newest_checkpoint(workdir) is not None or any((workdir / 'sections').glob('*.json')):
    return 'interrupted'
  return 'not started'


def _flat(tree: dict, prefix: str = '') -> dict:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = value
  return out


def changed_overrides(name: str, quick: bool, saved: dict) -> list[str]:
  """key=value for every key whose saved value differs from the experiment's defaults."""
  from experiments.cli import build_config
  defaults = _flat(json.loads(json.dumps(build_config(name, quick, [])[1].to_dict())))
  return [f'{key}={value}' for key, value in _flat(saved).items()
          if defaults.get(key, object()) != value]


def row(workdir: pathlib.Path, root: pathlib.Path) -> list:
  import experiments
  manifest = json.loads((workdir / 'manifest.json').read_text())
  command = manifest.get('command_line', [])
  name = command[command.index('run') + 1] if 'run' in command[:-1] else '?'
  if name not in experiments.NAMES:
    return [str(workdir.relative_to(root)) or '.', name, '', status(workdir), '', '', '']
  saved = json.loads((workdir / 'config.json').read_text())
  results_path = workdir / 'results.json'
  headline, seconds, step = '', '', rundir.newest_checkpoint(workdir)
  if results_path.exists():
    results = json.loads(results_path.read_text())
    headline = experiments.get(name).summary(results)[:HEADLINE_WIDTH]
    seconds = f"{results['session_wall_s']:.1f}" if 'session_wall_s' in results else ''
    step = results.get('final_step', step)
  return [str(workdir.relative_to(root)) or '.', name,
          ' '.join(changed_overrides(name, '--quick' in command, saved)) or '(defaults)',
          status(workdir), '' if step is None else step, headline, seconds]


def table(root: pathlib.Path) -> str:
  if not root.is_dir():
    raise UserError(f'{root} is not a directory (runs go to runs/ by default)')
  runs = find(root)
  if not runs:
    return f'no run directories under {root}'
  return report.markdown_table(
      ['run', 'experiment', 'overrides', 'status', 'step', 'headline', 'last session s'],
      [row(workdir, root) for workdir in runs])
