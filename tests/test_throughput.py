"""The throughput experiment end to end at toy size: tables, plot, conclusions, one-line errors.

Speed itself is measured by the experiment, not asserted here; these tests check that every
figure is produced and consistent."""
import json

import pytest

from tests.conftest import run_cli

TOY = ('sections=steps,overheads', 'workloads=tiny_mlp', 'scan_workloads=tiny_mlp',
       'torch=False', 'repeats=2', 'min_repeat_s=0.01', 'matmul_size=128', 'steps_per_call=10',
       'overheads.workload=tiny_mlp', 'overheads.steps=60', 'overheads.checkpoint_every=20',
       'overheads.repeats=1')


def test_toy_run_reports_throughput_and_overheads(tmp_path):
  done = run_cli('run', 'throughput', '--quick', '--workdir', str(tmp_path), *TOY)
  assert done.returncode == 0, done.stderr[-3000:]
  results = json.loads((tmp_path / 'results.json').read_text())
  steps = results['sections']['steps']
  [row] = steps['rows']
  # No PyTorch (torch=False); an MLP also times its matrix multiplies alone.
  assert set(row['timings']) == {'ours_step', 'ours_scan', 'matmuls_alone'}
  assert row['matmul_flops'] == 2 * 128 * (64 * 128 * 2 + 128 * 10 * 3)
  assert row['timings']['ours_scan']['steps_per_repeat'] % 10 == 0
  assert row['flops'] > 0 and steps['matmul_gflops']['xla'] > 0
  head = results['headline']
  assert head['steps']['tiny_mlp']['ours_over_torch'] is None
  assert head['steps']['tiny_mlp']['gflops'] > 0
  assert 0 < head['steps']['tiny_mlp']['step_time_in_matmuls'] < 1
  # The overheads are the ratios of the medians the section measured, each from real timings.
  overheads = results['sections']['overheads']
  for key in ('bare_step_s', 'loop_step_s', 'checkpointed_step_s'):
    assert 0 < overheads[key] < 1, key
  assert head['overheads']['loop_overhead'] == pytest.approx(
      overheads['loop_step_s'] / overheads['bare_step_s'] - 1)
  assert head['overheads']['checkpoint_overhead'] == pytest.approx(
      overheads['checkpointed_step_s'] / overheads['loop_step_s'] - 1)
  report = (tmp_path / 'report.md').read_text()
  assert 'PyTorch comparison off (torch=False)' in report
  assert '| tiny_mlp |' in report and 'over bare steps' in report
  assert "tiny_mlp's matrix multiplies alone" in report
  assert (tmp_path / 'throughput.png').stat().st_size > 5000


@pytest.mark.parametrize('override, message', [
    ('workloads=(tiny_mlp,nope)', 'workloads'),
    ('overheads.steps=10', 'overheads.steps'),
    ('sections=(steps,speed)', 'sections'),
])
def test_bad_throughput_configs_give_one_line(tmp_path, override, message):
  done = run_cli('run', 'throughput', '--quick', '--workdir', str(tmp_path / 'w'), override)
  assert done.returncode == 2 and done.stderr.count('\n') == 1 and message in done.stderr
  assert not (tmp_path / 'w').exists()


def test_the_pytorch_reference_runs_where_jax_runs_with_its_rounding():
  from experiments.throughput.torch_reference import placement
  assert placement('cpu', None, cuda_available=True) == ('cpu', False)
  assert placement('gpu', None, cuda_available=True) == ('cuda', True)  # JAX's default: TF32
  assert placement('gpu', 'highest', cuda_available=True) == ('cuda', False)
  assert placement('gpu', None, cuda_available=False) == ('cpu', False)
