"""research/runtime.py: the XLA and allocator settings every entry point applies first."""
import json
import subprocess
import sys

import pytest

from research import runtime
from tests.conftest import REPO


def test_default_flags_are_added_and_a_users_own_value_wins():
  name = '--xla_cpu_experimental_ynn_fusion_type'
  assert runtime._with_default_flags('') == f'{name}=individual_dot'
  assert runtime._with_default_flags('--xla_foo=1') == f'--xla_foo=1 {name}=individual_dot'
  assert runtime._with_default_flags(f'{name}= --xla_foo=1') == f'{name}= --xla_foo=1'


def _configure_in_fresh_process(env: dict) -> dict:
  code = ('import json; from research import runtime; print(json.dumps(runtime.configure())); '
          'import jax; jax.devices()')
  done = subprocess.run([sys.executable, '-c', code], cwd=REPO, env=env, capture_output=True,
                        text=True, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


def test_configure_sets_flags_and_malloc_in_a_fresh_process():
  applied = _configure_in_fresh_process({'XLA_FLAGS': ''})
  assert applied['xla_flags'] == '--xla_cpu_experimental_ynn_fusion_type=individual_dot'
  if sys.platform == 'linux':
    assert applied['malloc'] == {'mmap_threshold': 1 << 30, 'trim_threshold': 1 << 31}


def test_a_users_malloc_tuning_is_left_alone():
  applied = _configure_in_fresh_process({'MALLOC_ARENA_MAX': '2', 'XLA_FLAGS': ''})
  assert applied['malloc'] == {'skipped': 'a MALLOC_* environment variable is set'}


def test_after_jax_started_the_flags_are_not_applied_and_say_so():
  code = ('import json, jax; jax.devices(); from research import runtime; '
          'print(json.dumps(runtime.configure()))')
  done = subprocess.run([sys.executable, '-c', code], cwd=REPO, env={'XLA_FLAGS': ''},
                        capture_output=True, text=True, check=True)
  applied = json.loads(done.stdout.strip().splitlines()[-1])
  assert applied['xla_flags'].startswith('not applied')


def test_nothing_is_applied_where_jax_will_not_run_on_the_cpu():
  code = ('import json, os; from research import runtime; '
          'print(json.dumps([runtime.configure(), os.environ["XLA_FLAGS"]]))')
  done = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                        env={'XLA_FLAGS': '--xla_dump_to=/tmp/x', 'JAX_PLATFORMS': 'cuda'},
                        check=True)
  applied, flags = json.loads(done.stdout.strip().splitlines()[-1])
  assert applied['xla_flags'] == 'not applied: JAX will not run on the CPU'
  assert flags == '--xla_dump_to=/tmp/x'


def test_the_deterministic_mode_sets_the_gpu_flag_and_the_cpu_needs_none():
  code = ('import json, os; from research import runtime; '
          'print(json.dumps([runtime.configure(), os.environ.get("XLA_FLAGS", "")]))')
  run = lambda env: json.loads(subprocess.run(
      [sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, env=env,
      check=True).stdout.strip().splitlines()[-1])
  applied, flags = run({'XLA_FLAGS': '--xla_dump_to=/tmp/x', 'JAX_PLATFORMS': 'cuda',
                        'RESEARCH_DETERMINISTIC': '1'})
  assert flags == '--xla_dump_to=/tmp/x --xla_gpu_deterministic_ops=true'
  assert applied['deterministic'].startswith('requested')
  applied, flags = run({'JAX_PLATFORMS': 'cuda'})
  assert 'deterministic' not in flags and 'platform default' in applied['deterministic']
  applied, _ = run({'JAX_PLATFORMS': 'cpu', 'RESEARCH_DETERMINISTIC': '1'})
  assert applied['deterministic'] == 'always: the CPU backend'


def test_a_resume_on_another_machine_or_software_is_named():
  from research import manifest
  saved = {'device_kind': 'cpu', 'jax_backend': 'cpu', 'platform_version': 'cpu',
           'layers': 'cpu_tuned', 'packages': {'jax': '0.10.2', 'jax-cuda12-plugin': None}}
  assert manifest.machine_changes(saved, saved) == []
  moved = {**saved, 'device_kind': 'NVIDIA H100', 'packages': {**saved['packages'],
                                                               'jax-cuda12-plugin': '0.10.2'}}
  assert manifest.machine_changes(saved, moved) == [
      'device_kind: cpu -> NVIDIA H100', 'packages.jax-cuda12-plugin: None -> 0.10.2']
  older = {k: v for k, v in saved.items() if k != 'platform_version'}  # before it was recorded
  newer = {**saved, 'packages': {**saved['packages'], 'added-later': '1.0'}}
  assert manifest.machine_changes(older, newer) == []


@pytest.mark.parametrize('finished', [False, True])
def test_a_checkpoint_from_other_code_warns_unless_the_run_has_finished(capsys, finished):
  """Resuming training from another commit's checkpoint is not promised bit-exact: a warning.
  Reading back a finished run trains nothing, so it gets a note and no warning."""
  from research.train import driver
  saved, now = {'git_commit': 'aaa', 'git_dirty': False}, {'git_commit': 'bbb', 'git_dirty': False}
  driver._warn_if_moved(780, saved, saved, finished)
  assert capsys.readouterr().err == ''
  driver._warn_if_moved(780, saved, now, finished)
  err = capsys.readouterr().err
  assert ('WARNING' in err) != finished
  assert ('note: the run finished at step 780' in err) == finished
  assert 'aaa' in err and 'bbb' in err
