"""launch/gpu_check.sh on its CPU path at toy size: every part runs and reports, and on a CPU
the runs are deterministic and the layers agree with float64. (On a GPU the same script runs
ResNet-20; the figures it gives there belong in docs/performance.md.)"""
import dataclasses
import json
import subprocess

from launch import gpu_check, gpu_check_parts
from tests.conftest import REPO


def test_the_toy_check_runs_every_part_and_writes_its_report(tmp_path):
  assert gpu_check.main(['--toy', '--out', str(tmp_path)]) == 0
  report = json.loads((tmp_path / 'gpu_check.json').read_text())
  parts = report['parts']
  assert list(parts) == list(gpu_check.PARTS)
  assert not [p for p, found in parts.items() if 'failed' in found or 'skipped' in found]
  assert parts['device']['platform'] == 'cpu'
  assert parts['tests']['exit_code'] == 0 and 'passed' in parts['tests']['summary']
  assert parts['tests']['junit'] == {'tests': 1, 'failures': 0, 'errors': 0, 'skipped': 0}
  assert parts['determinism']['default']['two_runs_equal']
  assert parts['determinism']['default']['resume_equal']
  # float32 against float64 on the CPU: rounding only (a relative 1e-5 is ~100 ulps).
  errors = [e for name, e in parts['numerics'].items() if name != 'seconds']
  assert len(errors) == 4 and all(e['loss'] < 1e-5 and e['grads'] < 1e-5 for e in errors)
  speed = {k: v for k, v in parts['speed'].items() if k != 'seconds'}
  assert set(speed) == {'float32', 'mixed'}
  assert all(row['images_per_s'] > 0 and row['mfu'] is None for row in speed.values())
  assert 'tiny_mlp' in parts['throughput']['headline']['steps']
  markdown = (tmp_path / 'gpu_check.md').read_text()
  assert markdown.startswith('# GPU check (toy size)') and '| determinism |' in markdown


def test_the_dry_run_names_every_part_and_runs_nothing(tmp_path):
  done = subprocess.run(['launch/gpu_check.sh', '--dry-run', '--out', str(tmp_path / 'o')],
                        cwd=REPO, capture_output=True, text=True, timeout=60)
  assert done.returncode == 0
  assert all(f'  {part}: ' in done.stdout for part in gpu_check.PARTS)
  assert not (tmp_path / 'o').exists()


def test_a_missing_package_is_named_in_one_line(monkeypatch, capsys, tmp_path):
  real = gpu_check.importlib.util.find_spec
  monkeypatch.setattr(gpu_check.importlib.util, 'find_spec',
                      lambda name: None if name == 'ml_collections' else real(name))
  assert gpu_check.main(['--out', str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert 'missing ml_collections' in err and len(err.strip().splitlines()) == 1


def test_a_failing_tests_part_keeps_the_output_that_says_why(tmp_path):
  size = dataclasses.replace(gpu_check_parts.TOY, tests=('tests/test_no_such_file.py',))
  found = gpu_check_parts.tests(size, 'cpu', tmp_path)
  assert found['exit_code'] != 0
  assert any('test_no_such_file.py' in line
             for line in found['stdout_tail'] + found['stderr_tail'])
