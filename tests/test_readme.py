"""The README's commands, in order, from a fresh directory, as a newcomer would run them.

`train` examples run for real, cut to a few steps (their settings otherwise as written);
the other experiments' examples take minutes to hours, so their exact overrides go through
`config` (parsed and validated, nothing run); the launchers' through `--dry-run`; the sweep's
on a copy of its file whose runs are cut to the same few steps (its first run only). Each exits
0, or 2 where the README says so in its comment: that one runs in its own process with one
CPU device, as on a newcomer's machine; the rest run in this process (eight simulated
devices, the compilation caches warm), which is what keeps the test short.
"""
import pathlib
import re
import shlex
import subprocess
import time

from experiments import cli
from launch import sweep
from research.nn import switch
from tests.conftest import REPO, run_cli

CUT = ['steps=10', 'eval_every=10', 'checkpoint_every=10', 'log_every=10']


def readme_commands() -> list[str]:
  """Every command line of the README's code blocks, continuation lines joined."""
  lines, commands, i = (REPO / 'README.md').read_text().splitlines(), [], 0
  while i < len(lines):
    if (lines[i].startswith(('    python -m experiments', '    .venv/bin/python -m launch.sweep'))
        or re.match(r'    launch/\S+\.sh ', lines[i])):
      text = lines[i].strip()
      while text.endswith('\\'):
        i += 1
        text = text[:-1] + ' ' + lines[i].strip()
      commands.append(text)
    i += 1
  return commands


def as_run(text: str) -> tuple[list[str], str]:
  """(what the test runs, how): 'run', 'validate', 'dry-run', 'sweep' or 'skip' (the usage
  lines)."""
  argv = shlex.split(text, comments=True)
  if 'NAME' in argv:
    return argv, 'skip'
  if argv[2] == 'launch.sweep':
    return [*argv[3:], *(['--dry-run'] if argv[3] == 'slurm' else [])], 'sweep'
  if argv[0].startswith('launch/'):
    return [argv[0], '--dry-run', *argv[1:]], 'dry-run'
  args = argv[3:]
  if args[0] == 'run' and args[1] != 'train':
    kept = [a for i, a in enumerate(args[2:]) if a != '--workdir' and
            (i == 0 or args[2:][i - 1] != '--workdir')]
    return ['config', args[1], *kept], 'validate'
  if args[0] == 'run':
    return [*args, *CUT], 'run'
  return args, 'run'


def run_sweep(argv: list[str], cwd: pathlib.Path) -> int:
  """A `launch.sweep` command on a copy of its sweep file (same name, so the same workdir) whose
  runs are cut to a few steps; `run` runs the first of them only (tests/test_sweep.py runs
  whole sweeps), and `slurm` gets `--dry-run` (slurm.sh runs as a subprocess)."""
  command, path, *rest = argv
  rest = [*rest, '--index', '0'] if command == 'run' else rest
  copy = cwd / 'sweeps' / pathlib.Path(path).name
  if not copy.exists():
    copy.parent.mkdir(exist_ok=True)
    copy.write_text((REPO / path).read_text() + f'\nSWEEP["fixed"] = [*SWEEP["fixed"], *{CUT!r}]\n')
  return sweep.main([command, str(copy), *rest])


def test_the_readme_commands_run_in_order_from_a_fresh_directory(tmp_path, monkeypatch, capsys):
  monkeypatch.chdir(tmp_path)
  monkeypatch.delenv(switch.ENVIRONMENT, raising=False)  # a newcomer's layers, not the suite's
  commands = readme_commands()
  assert len(commands) > 20
  ran = {'run': 0, 'validate': 0, 'dry-run': 0, 'sweep': 0, 'skip': 0}
  for text in commands:
    argv, how = as_run(text)
    ran[how] += 1
    if how == 'skip':
      continue
    expected = 2 if 'else exit 2' in text else 0
    began = time.perf_counter()
    if how == 'sweep':
      status, err = run_sweep(argv, tmp_path), ''
    elif how == 'dry-run':
      done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
      status, err = done.returncode, done.stderr
    elif expected:
      done = run_cli(*argv, cwd=tmp_path)
      status, err = done.returncode, done.stderr
    else:
      status, err = cli.main(argv), ''
    assert status == expected, f'{text}\n{err[-1500:]}'
    print(f'{time.perf_counter() - began:6.1f} s  {how:8s} {text}')
  assert ran['run'] >= 10 and ran['validate'] >= 8 and ran['dry-run'] >= 2 and ran['sweep'] == 4
  assert (tmp_path / 'runs/sweeps/train_quick/summary.md').exists()
  capsys.readouterr()
  assert cli.main(['runs']) == 0
  table = capsys.readouterr().out
  # less list, runs and the 4-device run; plus the sweep's one
  assert table.count('| finished |') == ran['run'] - 3 + 1
