"""The command-line contract of DESIGN.md: listing, bad input, run directories, results."""
import json
import re
import types

import numpy as np
import pytest

import experiments
from experiments import cli
from research.data import idx
from research.errors import UserError
from tests.conftest import run_cli


def _bad_idx_dir(tmp_path, damage):
  tmp_path.mkdir()
  rng = np.random.default_rng(0)
  for stem, shape in (('train-images-idx3-ubyte', (8, 28, 28)), ('train-labels-idx1-ubyte', (8,)),
                      ('t10k-images-idx3-ubyte', (8, 28, 28)), ('t10k-labels-idx1-ubyte', (8,))):
    idx.write_idx(tmp_path / stem, rng.integers(0, 10, shape, dtype=np.uint8))
  path = tmp_path / 'train-images-idx3-ubyte'
  content = path.read_bytes()
  if damage != 'none':
    path.write_bytes(b'\x08\x03\x00\x00' + content[4:] if damage == 'magic' else content[:-100])
  return str(tmp_path)


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('finished')
  assert cli.main(['run', 'train', '--workdir', str(workdir), 'steps=2', 'batch_size=16',
                   'eval_batch_size=16', 'checkpoint_every=1']) == 0
  return workdir


@pytest.fixture(scope='module')
def paths(tmp_path_factory, finished_run):
  """The files and folders the bad-input cases point at, made once per module."""
  tmp = tmp_path_factory.mktemp('bad_inputs')
  (tmp / 'a_file').write_text('x')
  (tmp / 'empty').mkdir()
  (tmp / 'config_gone').mkdir()
  (tmp / 'config_gone' / 'checkpoints').symlink_to(finished_run / 'checkpoints')
  for damage in ('magic', 'truncate', 'none'):
    _bad_idx_dir(tmp / f'idx_{damage}', damage)
  return types.SimpleNamespace(tmp=tmp, finished=finished_run)


def _fresh(p, name: str, *overrides) -> list[str]:
  return ['run', 'train', '--workdir', str(p.tmp / name), *overrides]


FASHION = ('data=fashion_mnist', 'download=False')
SMALL_RUN = ('steps=3', 'batch_size=16', 'eval_batch_size=16', 'checkpoint_every=1')
# name -> (paths -> argv, what the one-line error must contain)
BAD_INPUTS = {
    'unknown experiment': (lambda p: ['run', 'nosuch'], "unknown experiment 'nosuch'"),
    'unknown option': (lambda p: ['run', 'train', '--fast'], 'unknown option --fast'),
    'not key=value': (lambda p: ['run', 'train', 'steps'], "cannot read 'steps'"),
    'unknown key': (lambda p: ['run', 'train', 'stepz=3'], "unknown key 'stepz'"),
    'unknown nested key': (lambda p: ['run', 'train', 'mlp.dept=3'], "unknown key 'mlp.dept'"),
    'wrong type': (lambda p: ['run', 'train', 'steps=abc'], "steps='abc' has the wrong type"),
    'float for int': (lambda p: ['run', 'train', 'steps=1.5'], 'steps=1.5 has the wrong type'),
    'int for bool': (lambda p: ['run', 'train', 'mlp.depth=True'],
                     'mlp.depth=True has the wrong type'),
    'dropout 1.5': (lambda p: ['run', 'train', 'mlp.dropout=1.5'],
                    'mlp.dropout=1.5 is out of range'),
    'unknown dropout kind': (lambda p: ['run', 'train', 'mlp.dropout_kind=maxout'],
                             "mlp.dropout_kind='maxout'"),
    'conv dropout 1.0': (lambda p: ['run', 'train', 'cnn.conv_dropout=1.0'],
                         'cnn.conv_dropout=1.0 is out'),
    'lstm dropout kind': (lambda p: ['run', 'train', 'lstm.dropout_kind=zoneout'],
                          "lstm.dropout_kind='zoneout'"),
    'stochastic depth on plain': (lambda p: ['run', 'train', 'resnet.block=plain',
                                             'resnet.stochastic_depth=0.5'],
                                  'needs resnet.block=residual'),
    'negative lr': (lambda p: ['run', 'train', 'optim.learning_rate=-0.1'],
                    'optim.learning_rate=-0.1'),
    'zero steps': (lambda p: ['run', 'train', 'steps=0'], 'steps=0 is out of range'),
    'unknown model': (lambda p: ['run', 'train', 'model=transformer'],
                      "model='transformer' is not"),
    'unknown dataset': (lambda p: ['run', 'train', 'data=imagenet'], "data='imagenet' is not"),
    'unknown activation': (lambda p: ['run', 'train', 'mlp.activation=rellu'],
                           "mlp.activation='rellu'"),
    'unknown backend': (lambda p: ['run', 'train', 'backend=mpi'],
                        "backend='mpi' is not allowed"),
    'Gaussian DropConnect with a norm': (
        lambda p: ['run', 'train', 'mlp.dropout_kind=dropconnect', 'mlp.dropconnect_samples=8',
                   'mlp.norm=batch'], 'it needs mlp.norm=none'),
    'negative focal alpha': (lambda p: ['run', 'train', 'loss.name=focal',
                                        'loss.focal_alpha=(0.5,-1.0)'],
                             'loss.focal_alpha=(0.5, -1.0) is not allowed'),
    'negative focal gamma': (lambda p: ['run', 'train', 'loss.name=focal', 'loss.focal_gamma=-1'],
                             'loss.focal_gamma=-1.0 is out of range'),
    'zero Huber delta': (lambda p: ['run', 'train', 'loss.huber_delta=0'],
                         'loss.huber_delta=0.0 is out of range'),
    'rotation past 180': (lambda p: ['run', 'train', 'augment.rotate=400'],
                          'augment.rotate=400.0 is out of range: must be at least 0 and at '
                          'most 180'),
    'zoom to zero': (lambda p: ['run', 'train', 'augment.scale=1.0'],
                     'augment.scale=1.0 is out of range: must be at least 0 and below 1'),
    'unknown class weight norm': (lambda p: ['run', 'train', 'loss.class_weight_norm=sum'],
                                  "loss.class_weight_norm='sum' is not allowed"),
    'class weights of the wrong length': (
        lambda p: _fresh(p, 'r9', 'loss.name=weighted_cross_entropy',
                         'loss.class_weights=(1.0,2.0)'),
        'loss.class_weights has 2 entries; the data has 10 classes'),
    'batch not divisible': (lambda p: _fresh(p, 'r1', 'batch_size=100', 'num_devices=8'),
                            'batch_size=100 is not divisible'),
    'too many devices': (lambda p: _fresh(p, 'r2', 'num_devices=64'),
                         'num_devices=64 but only 8 cpu device(s) are available; for 64 CPU '
                         'devices set XLA_FLAGS=--xla_force_host_platform_device_count=64'),
    'missing dataset': (lambda p: _fresh(p, 'r3', *FASHION, f'data_dir={p.tmp / "empty"}'),
                        'not found'),
    'corrupt IDX': (lambda p: _fresh(p, 'r4', *FASHION, f'data_dir={p.tmp / "idx_magic"}'),
                    'bad magic number'),
    'truncated IDX': (lambda p: _fresh(p, 'r5', *FASHION, f'data_dir={p.tmp / "idx_truncate"}'),
                      'truncated'),
    'checksum mismatch': (lambda p: _fresh(p, 'r8', *FASHION, f'data_dir={p.tmp / "idx_none"}'),
                          'checksum mismatch'),
    'missing CIFAR-10': (lambda p: _fresh(p, 'r6', 'data=cifar10', 'download=False',
                                          f'data_dir={p.tmp / "empty"}'),
                         'no binary batches'),
    'freeze matches nothing': (lambda p: _fresh(p, 'r7', "optim.freeze=('encoder/.*',)"),
                               'matches no parameter'),
    'workdir is a file': (lambda p: ['run', 'train', '--workdir', str(p.tmp / 'a_file')],
                          'is not a directory'),
    'other config, same workdir': (
        lambda p: ['run', 'train', '--workdir', str(p.finished), *SMALL_RUN],
        'different config (differs in: steps)'),
    'checkpoint from another config': (
        lambda p: ['run', 'train', '--workdir', str(p.tmp / 'config_gone'), *SMALL_RUN],
        'checkpoint at step 2 was written with a different'),
    'override without run': (lambda p: ['list', 'steps=3'], 'overrides go with'),
}


@pytest.mark.parametrize('name', BAD_INPUTS)
def test_bad_input_gives_exit_2_and_one_line(name, paths, capfd):
  make_argv, expected = BAD_INPUTS[name]
  capfd.readouterr()
  status = cli.main(make_argv(paths))
  err = capfd.readouterr().err
  lines = [line for line in err.splitlines() if line.strip()]
  assert status == 2, f'{name}: exit status {status}, stderr {err!r}'
  assert len(lines) == 1 and lines[0].startswith('error: '), f'{name}: stderr {err!r}'
  assert expected in lines[0], f'{name}: {lines[0]!r} does not name {expected!r}'


SHARED_OPTIONS = (('seed', -1), ('seeds', 0), ('val_fraction', 0.0), ('val_fraction', 1.0),
                  ('epochs_per_call', -1))


@pytest.mark.parametrize('name', [n for n in experiments.NAMES if n != 'train'])
def test_every_experiment_refuses_bad_shared_options(name):
  # build_config is what `run` validates with before it touches a workdir, data or a device
  # (its exit 2 and one line: test_bad_input_gives_exit_2_and_one_line); a check missing here
  # would otherwise start a full preset.
  config = experiments.get(name).get_config()
  bad = [(key, value) for key, value in SHARED_OPTIONS if key in config]
  assert ('seed', -1) in bad  # every experiment has a seed
  for key, value in bad:
    with pytest.raises(UserError, match=re.escape(f'{key}={value}')):
      cli.build_config(name, False, [f'{key}={value}'])
  twice = f'sections=({config.sections[0]},{config.sections[0]})'
  with pytest.raises(UserError, match='name each at most once'):
    cli.build_config(name, False, [twice])


def test_bad_input_in_a_real_process_has_no_traceback():
  result = run_cli('run', 'train', 'mlp.dropout=1.5', '--quick')
  assert result.returncode == 2
  assert result.stderr.strip() == 'error: mlp.dropout=1.5 is out of range: must be in [0, 1)'


def test_train_report_tells_the_training_set_time_and_probes(tmp_path):
  assert cli.main(['run', 'train', '--workdir', str(tmp_path), 'steps=2', 'batch_size=16',
                   'eval_batch_size=16', 'log_every=1', 'diagnostics_every=1']) == 0
  report = (tmp_path / 'report.md').read_text()
  assert '1,437 training examples; this session trained 2 steps in ' in report
  assert 'training-batch accuracy over the last log interval' in report
  assert '![gradient norms](diagnostics.png)' in report
  assert (tmp_path / 'diagnostics.png').stat().st_size > 1000
  # Per class: the confusion matrix as a heat map, and a row per class whose recall and
  # support are the matrix's.
  assert '![confusion matrix](confusion.png)' in report
  assert (tmp_path / 'confusion.png').stat().st_size > 1000
  cm = np.asarray(json.loads((tmp_path / 'results.json').read_text())['test']['confusion_matrix'])
  row = next(line for line in report.splitlines() if line.startswith('| 3 |')).split('|')
  assert float(row[3]) == pytest.approx(cm[3, 3] / cm[3].sum(), abs=1e-4)
  assert int(row[5]) == cm[3].sum()


def test_list_names_the_experiments(capsys):
  assert cli.main(['list']) == 0
  assert 'train' in capsys.readouterr().out


def test_workdir_contents(finished_run):
  for name in ('config.json', 'manifest.json', 'metrics.jsonl', 'results.json', 'report.md',
               'loss.png'):
    assert (finished_run / name).is_file(), name
  assert list((finished_run / 'tensorboard').iterdir())
  manifest = json.loads((finished_run / 'manifest.json').read_text())
  for key in ('git_commit', 'git_dirty', 'packages', 'jax_backend', 'devices', 'xla_flags',
              'command_line', 'seed'):
    assert key in manifest, key
  assert manifest['packages']['jax'] and len(manifest['devices']) == 8
  results = json.loads((finished_run / 'results.json').read_text())
  assert len(results['state_fingerprint']) == 64 and results['final_step'] == 2


def test_nan_guard_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capfd):
  from research.train import checkpoint
  workdir = tmp_path / 'nan'
  status = cli.main(['run', 'train', '--workdir', str(workdir), 'steps=30', 'log_every=1',
                     'checkpoint_every=1', 'optim.name=sgd', 'optim.learning_rate=1e30'])
  err = capfd.readouterr().err.strip().splitlines()
  assert status == 3
  assert err[-1].startswith('error: non-finite loss at step ') or \
         err[-1].startswith('error: non-finite gradients at step ')
  bad_step = int(err[-1].split(' at step ')[1].split(';')[0])
  ckpt = checkpoint.Checkpointer(workdir / 'checkpoints')
  assert ckpt.latest_step() == bad_step - 1
  assert err[-1].endswith(f'its newest checkpoint, from step {bad_step - 1}, is kept')
  ckpt.close()


def test_nan_guard_before_the_first_checkpoint_says_none_was_saved(tmp_path, capfd):
  status = cli.main(['run', 'train', '--workdir', str(tmp_path / 'nan'), 'steps=30',
                     'log_every=1', 'checkpoint_every=20', 'optim.name=sgd',
                     'optim.learning_rate=1e30'])
  assert status == 3
  assert capfd.readouterr().err.strip().splitlines()[-1].endswith(
      'no checkpoint had been saved yet')


def test_config_prints_every_key_with_type_value_and_description(capsys):
  from research.train import config as config_lib
  assert cli.main(['config', 'train', '--quick', 'model=cnn', 'cnn.channels=8,16']) == 0
  lines = capsys.readouterr().out.splitlines()
  rows = {line.split()[0]: line for line in lines}
  assert set(rows) == {key for key, *_ in config_lib.describe()}  # every key, nothing else
  assert rows['model'].split()[1:3] == ['str', "'cnn'"]
  assert rows['steps'].split()[1:3] == ['int', '600']  # the quick preset, resolved
  assert rows['cnn.channels'].split()[1:4] == ['tuple', '(8,', '16)']
  for key, line in rows.items():  # each with its one-line description
    assert len(line.split()) > 3, f'{key} has no description'


def test_config_refuses_bad_keys_like_run(capsys):
  assert cli.main(['config', 'train', 'stepz=3']) == 2
  assert "unknown key 'stepz'" in capsys.readouterr().err


def test_run_help_says_how_to_override_and_where_the_keys_are():
  result = run_cli('run', 'train', '--help')
  assert result.returncode == 0
  assert 'key=value' in result.stdout and 'experiments config NAME' in result.stdout


@pytest.mark.parametrize('name', ['autodiff', 'vanishing_gradients', 'dropout', 'optimisation',
                                  'losses', 'transfer', 'throughput'])
def test_every_experiment_describes_every_key(name, capsys):
  assert cli.main(['config', name, '--quick']) == 0
  for line in capsys.readouterr().out.splitlines():
    assert len(line.split()) > 3, f'{name}: {line.split()[0]} has no description'


def test_a_switch_takes_true_or_false_in_either_case():
  from experiments import overrides
  from research.errors import UserError
  for text, value in (('false', False), ('False', False), ('true', True), ('True', True)):
    assert overrides.coerce('download', True, overrides.parse_value(text)) is value
  with pytest.raises(UserError, match="download='yes' has the wrong type"):
    overrides.coerce('download', True, overrides.parse_value('yes'))


def test_cache_entries_without_an_access_time_are_dropped(tmp_path):
  """Entries written without a size limit have no '-atime' file; with a limit JAX's eviction
  reads one per entry and fails on every write, so the CLI drops them first."""
  (tmp_path / 'jit_f-1-cache').write_bytes(b'old')
  (tmp_path / 'jit_g-2-cache').write_bytes(b'new')
  (tmp_path / 'jit_g-2-atime').write_bytes((1).to_bytes(8, 'little'))
  cli._drop_unindexed_entries(tmp_path)
  assert sorted(p.name for p in tmp_path.iterdir() if p.name != '.lockfile') == [
      'jit_g-2-atime', 'jit_g-2-cache']
