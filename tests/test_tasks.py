"""The tasks beyond classification (research/tasks.py): their metrics against scikit-learn, the
binary task's identities, runs that reach the figures a linear model reaches, exact resume, an
ensemble, and clear errors for a task that does not fit its data."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn import linear_model
from sklearn import metrics as sk_metrics

from experiments import cli
from research import losses, metrics, optim, tasks
from research.data import load_dataset, pipeline
from research.train import ensemble, loop
from research.train import config as config_lib
from tests.conftest import run_cli, run_killed_after_checkpoint

MSE = losses.LossConfig(name='mse')


def _stats_over_two_batches(task, cfg, outputs, targets, cut: int):
  """Eval statistics of two padded batches, merged: what the loop computes."""
  parts = []
  for lo, hi in ((0, cut), (cut, len(targets))):
    pad = 7  # padding past the end, masked out
    out = jnp.concatenate([outputs[lo:hi], jnp.repeat(outputs[hi - 1:hi], pad, 0)])
    tgt = jnp.concatenate([targets[lo:hi], jnp.repeat(targets[hi - 1:hi], pad, 0)])
    mask = jnp.arange(hi - lo + pad) < hi - lo
    parts.append(jax.device_get(task.eval_stats(cfg, out, tgt, mask)))
  return task.summarize(metrics.merge(*parts))


def test_regression_metrics_match_scikit_learn():
  rng = np.random.default_rng(0)
  targets = rng.normal(150.0, 70.0, 101).astype(np.float32)
  task = tasks.make_task('regression', rng.normal(140.0, 60.0, 500))
  predictions = targets + rng.normal(0.0, 40.0, 101)
  outputs = ((predictions - task.target_mean) / task.target_std)[:, None].astype(np.float32)
  found = _stats_over_two_batches(task, MSE, jnp.asarray(outputs), jnp.asarray(targets), 60)
  expected = {'rmse': np.sqrt(sk_metrics.mean_squared_error(targets, predictions)),
              'mae': sk_metrics.mean_absolute_error(targets, predictions),
              'r2': sk_metrics.r2_score(targets, predictions)}
  for name, value in expected.items():  # float32 sums of 101 terms: 1e-5 relative is ample
    assert found[name] == pytest.approx(value, rel=1e-5), name
  assert found['count'] == 101
  # The loss is taken on the standardised scale: MSE there is (RMSE / std)^2.
  assert found['loss'] == pytest.approx((found['rmse'] / task.target_std) ** 2, rel=1e-5)


@pytest.mark.parametrize('name', tasks.REGRESSION_LOSSES)
def test_regression_losses_are_the_textbook_ones(name):
  task = tasks.Regression(target_mean=10.0, target_std=2.0)
  error = np.array([-3.0, -0.5, 0.0, 0.25, 2.0], np.float32)
  targets = np.full(5, 10.0, np.float32)
  loss = task.per_example_loss(losses.LossConfig(name=name, huber_delta=1.0),
                               jnp.asarray(error)[:, None], jnp.asarray(targets))
  expected = {'mse': error ** 2, 'mae': np.abs(error),
              'huber': np.where(np.abs(error) <= 1, 0.5 * error ** 2, np.abs(error) - 0.5)}
  np.testing.assert_allclose(loss, expected[name], rtol=1e-6)


def test_binary_task_is_classification_on_the_logits_zero_and_z():
  z = jnp.linspace(-6.0, 6.0, 13)[:, None]
  labels = (jnp.arange(13) % 2).astype(jnp.int32)
  two = tasks.Binary.two_class_logits(z)
  np.testing.assert_allclose(jax.nn.softmax(two)[:, 1], jax.nn.sigmoid(z[:, 0]), rtol=1e-6)
  binary = tasks.Binary().batch_loss(losses.LossConfig(), z, labels)
  softmax = losses.batch_loss(losses.LossConfig(), two, labels)
  assert float(binary) == pytest.approx(float(softmax), rel=1e-6)
  found = _stats_over_two_batches(tasks.Binary(), losses.LossConfig(), z, labels, 5)
  predicted = (np.asarray(z[:, 0]) > 0).astype(int)
  assert found['accuracy'] == pytest.approx(sk_metrics.accuracy_score(labels, predicted))
  assert found['confusion_matrix'] == sk_metrics.confusion_matrix(labels, predicted).tolist()


def _config(**overrides):
  return config_lib.replace(config_lib.TrainConfig(), num_devices=1, **overrides)


LINEAR_REGRESSION = dict(task='regression', data='diabetes', steps=600, eval_every=600,
                         checkpoint_every=600, **{'loss.name': 'mse', 'mlp.depth': 0,
                                                  'optim.learning_rate': 0.01})


def test_a_linear_model_trained_on_diabetes_nears_least_squares(tmp_path):
  dataset = load_dataset('diabetes')
  results = loop.train_and_evaluate(_config(**LINEAR_REGRESSION), tmp_path, dataset, {})
  least_squares = linear_model.LinearRegression().fit(dataset.train_images, dataset.train_labels)
  exact = sk_metrics.r2_score(dataset.test_labels, least_squares.predict(dataset.test_images))
  assert 0.4 <= exact <= 0.55  # the range the issue quotes for a linear model
  # 600 Adam steps (mini-batches of 128 from 353) end within 0.01 of the optimum's R^2.
  assert results['test']['r2'] == pytest.approx(exact, abs=0.01)


def test_logistic_regression_on_breast_cancer_passes_95_percent(tmp_path):
  config = _config(task='binary', data='breast_cancer', steps=600, eval_every=600,
                   checkpoint_every=600, **{'mlp.depth': 0})
  results = loop.train_and_evaluate(config, tmp_path, load_dataset('breast_cancer'), {})
  assert results['test']['accuracy'] > 0.95
  curves = results['test_curves']  # exact, beside the binned AUC of the summed statistics
  assert curves['roc_auc'] == pytest.approx(results['test']['roc_auc_macro'], abs=0.005)
  assert curves['roc']['fpr'][0] == 0 and curves['roc']['tpr'][-1] == 1


def test_binary_curves_are_exact():
  # Positives score 0.35 and 0.8, negatives 0.1 and 0.4: 3 of the 4 pairs are ordered.
  curves = tasks.Binary.curves(np.array([[0.1], [0.4], [0.35], [0.8]]), np.array([0, 0, 1, 1]))
  assert curves['roc_auc'] == 0.75
  assert curves['average_precision'] == pytest.approx((1 + 2 / 3) / 2)


RESUMED = {
    'regression': dict(data='diabetes', **{'loss.name': 'mse', 'mlp.dropout': 0.2}),
    'binary': dict(data='breast_cancer', **{'mlp.dropout': 0.2}),
    'reconstruction': dict(model='autoencoder', **{
        'loss.name': 'mse', 'corruption.kind': 'mask', 'corruption.level': 0.25,
        'autoencoder.encoder': (32,), 'autoencoder.code': 8}),
    # Conditional: the labels reach both players (test_parallel trains the unconditional one).
    'adversarial': dict(model='gan', **{'gan.latent': 8, 'gan.generator': (32,),
                                        'gan.discriminator': (32,), 'gan.conditional': True}),
}


@pytest.mark.parametrize('task', list(RESUMED))
def test_every_task_resumes_bit_identically(tmp_path, monkeypatch, task):
  """A run that dies right after its checkpoint at step 40 (as SIGKILL would leave it: the
  checkpoint on disk, nothing after it) ends, when run again, with the uninterrupted run's
  state; tests/test_resume.py does the same with real signals for classification."""
  config = _config(task=task, steps=60, checkpoint_every=20, eval_every=20, log_every=10,
                   **RESUMED[task])
  dataset = load_dataset(config.data)
  whole = loop.train_and_evaluate(config, tmp_path / 'whole', dataset, {})
  run_killed_after_checkpoint(
      monkeypatch, 40, lambda: loop.train_and_evaluate(config, tmp_path / 'cut', dataset, {}))
  resumed = loop.train_and_evaluate(config, tmp_path / 'cut', dataset, {})
  assert resumed['resumed_from_step'] == 40
  assert resumed['state_fingerprint'] == whole['state_fingerprint']
  assert resumed['test'] == whole['test']


def test_an_ensemble_of_regressions_logs_rmse_per_member(tmp_path):
  cfg = ensemble.EnsembleConfig(
      model='mlp', options={'depth': 1, 'width': 16}, rate_field='dropout', epochs=3,
      batch_size=32, optim=optim.OptimConfig(learning_rate=3e-3), loss=MSE, task='regression')
  group = ensemble.Ensemble(cfg, load_dataset('diabetes'), [0, 1], [0.0, 0.2])
  states = group.train(tmp_path, {'a': 1}, {})
  tests = group.split_metrics(states, 'test')
  assert [set(t) >= {'rmse', 'mae', 'r2'} for t in tests] == [True, True]
  last = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()][-1]
  assert last['split'] == 'test' and {'rmse/0', 'rmse/1', 'loss/0', 'loss/1'} <= set(last)


@pytest.mark.parametrize('overrides, message', [
    (['task=ranking'], "task='ranking' is not allowed"),
    (['task=regression'], 'task=regression needs real-valued targets; data=digits has 10'),
    (['task=regression', 'data=diabetes', 'loss.name=focal'],
     "task=regression takes loss.name=mse or mae or huber, not 'focal'"),
    (['data=diabetes'], 'task=classification needs class labels; data=diabetes'),
    (['task=binary'], 'task=binary needs two classes; data=digits has 10'),
    (['task=reconstruction'], 'task=reconstruction trains model=autoencoder'),
    (['task=adversarial'], 'task=adversarial trains model=gan'),
    (['task=adversarial', 'model=gan', 'adversarial.updates=sometimes'],
     "adversarial.updates='sometimes' is not allowed"),
    (['model=autoencoder'], 'model=autoencoder only that task'),
    (['corruption.kind=gaussian'], 'corrupts the inputs of task=reconstruction only'),
    (['task=reconstruction', 'model=autoencoder', 'corruption.kind=mask',
      'corruption.level=1.0'], 'corruption.level=1.0 is out of range'),
    (['task=reconstruction', 'model=autoencoder', 'loss.name=binary_cross_entropy'],
     'needs targets in [0, 1]: set normalize=unit'),
])
def test_a_task_that_does_not_fit_is_one_line_and_writes_nothing(tmp_path, overrides, message):
  result = run_cli('run', 'train', '--workdir', str(tmp_path / 'run'), *overrides)
  assert result.returncode == 2
  assert result.stderr.strip().startswith('error:') and message in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1
  assert not (tmp_path / 'run').exists()


def test_reconstruction_metrics_are_per_value_errors():
  rng = np.random.default_rng(1)
  images = rng.normal(size=(9, 4, 4, 1)).astype(np.float32)
  outputs = images + rng.normal(0, 0.3, size=images.shape).astype(np.float32)
  task = tasks.make_task('reconstruction', np.zeros(9))
  found = _stats_over_two_batches(task, MSE, jnp.asarray(outputs), jnp.asarray(images), 4)
  assert found['mse'] == pytest.approx(float(((outputs - images) ** 2).mean()), rel=1e-5)
  assert found['mae'] == pytest.approx(float(np.abs(outputs - images).mean()), rel=1e-5)
  assert found['loss'] == pytest.approx(found['mse'], rel=1e-5)  # MSE per example, averaged


def test_binary_cross_entropy_reconstruction_is_scored_on_its_sigmoid():
  """Logits out, pixels in [0, 1] as targets: the loss is optax's sigmoid cross-entropy per
  value (checked against its closed form), the errors those of sigmoid(logits)."""
  rng = np.random.default_rng(2)
  pixels = rng.uniform(size=(9, 4, 4, 1)).astype(np.float32)
  logits = rng.normal(0, 2, size=pixels.shape).astype(np.float32)
  bce = losses.LossConfig(name='binary_cross_entropy')
  task = tasks.make_task('reconstruction', np.zeros(9))
  found = _stats_over_two_batches(task, bce, jnp.asarray(logits), jnp.asarray(pixels), 4)
  p = 1 / (1 + np.exp(-logits.astype(np.float64)))
  closed_form = -(pixels * np.log(p) + (1 - pixels) * np.log(1 - p))
  assert found['loss'] == pytest.approx(closed_form.mean(), rel=1e-5)
  assert found['mse'] == pytest.approx(((p - pixels) ** 2).mean(), rel=1e-5)
  assert found['mae'] == pytest.approx(np.abs(p - pixels).mean(), rel=1e-5)


def test_unit_normalisation_puts_pixels_in_0_1():
  from research.data import load_dataset, pipeline
  from research.data.dataset import with_normalization
  dataset = with_normalization(load_dataset('digits'), 'unit')
  x = np.asarray(pipeline.normalize(dataset.train_images, dataset.mean, dataset.std))
  assert x.min() == 0.0 and x.max() == 1.0


def test_corruption_hits_the_inputs_only_and_at_its_level():
  images = jnp.ones((64, 8, 8, 1))
  key = jax.random.key(0)
  masked = tasks.Reconstruction(tasks.CorruptionConfig('mask', 0.25))
  inputs, targets = masked.training_io(images, None, key, None)
  assert float((inputs == 0).mean()) == pytest.approx(0.25, abs=0.02)
  np.testing.assert_array_equal(targets, images)
  noisy = tasks.Reconstruction(tasks.CorruptionConfig('gaussian', 0.5))
  inputs, _ = noisy.training_io(images, None, key, None)
  assert float(jnp.std(inputs - images)) == pytest.approx(0.5, rel=0.05)


def _gan_steps(updates: str, discriminator_lr_scale: float, steps: int,
               conditional: bool = False, kind: str = 'mlp'):
  """(the state, the last metrics, the model) after `steps` steps of a small GAN on digits."""
  config = _config(task='adversarial', model='gan', steps=steps, **{
      'gan.latent': 8, 'gan.generator': (16,), 'gan.discriminator': (16,), 'gan.kind': kind,
      'gan.conditional': conditional, 'adversarial.updates': updates,
      'adversarial.discriminator_lr_scale': discriminator_lr_scale})
  dataset = load_dataset('digits')
  model, tx, step_cfg, state = loop.build(config, dataset, 1)
  images = jnp.asarray((dataset.train_images[:32] - dataset.mean) / dataset.std, jnp.float32)
  labels = jnp.asarray(dataset.train_labels[:32])
  update = jax.jit(lambda state: step_cfg.task.update(model, tx, step_cfg, state, images, labels,
                                                      config.seed))
  for _ in range(steps):
    state, found = update(state)
  return state, found, model


def test_two_players_each_have_their_own_optimizer_and_alternate():
  alternating, found, _ = _gan_steps('alternating', 1.0, 1)
  simultaneous, _, _ = _gan_steps('simultaneous', 1.0, 1)
  assert set(alternating.opt_state) == {'generator', 'discriminator'}
  assert {'loss', 'g_loss', 'd_real', 'd_fake', 'grad_norm'} <= set(found)
  generator = lambda s: jax.tree.leaves(s.params['generator'])
  # The same first discriminator step; the generator's differs: it plays the updated one.
  jax.tree.map(np.testing.assert_array_equal, alternating.params['discriminator'],
               simultaneous.params['discriminator'])
  assert not all(np.array_equal(a, b) for a, b in zip(generator(alternating),
                                                      generator(simultaneous)))
  # With a discriminator that does not move, the two orders are one and the same.
  frozen_alternating, _, _ = _gan_steps('alternating', 1e-30, 3)
  frozen_simultaneous, _, _ = _gan_steps('simultaneous', 1e-30, 3)
  for a, b in zip(generator(frozen_alternating), generator(frozen_simultaneous)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('kind', ['mlp', 'dcgan'])
def test_a_conditional_gan_generates_and_judges_by_label(kind):
  state, found, model = _gan_steps('alternating', 1.0, 2, conditional=True, kind=kind)
  assert np.isfinite(found['loss']) and np.isfinite(found['g_loss'])
  variables = {'params': state.params}
  z = jnp.zeros((2, 8))
  fake = model.apply(variables, z, (8, 8, 1), jnp.array([3, 7]), method='generate')
  assert not np.allclose(fake[0], fake[1])  # the same code, two labels, two images
  judged = model.apply(variables, jnp.concatenate([fake[:1], fake[:1]]), jnp.array([3, 7]),
                       method='discriminate')
  assert judged[0, 0] != judged[1, 0]
  with pytest.raises(ValueError, match='needs the class labels'):
    model.apply(variables, z, (8, 8, 1), method='generate')
  if kind == 'dcgan':  # 4 x 4 x 16 projected, one stride-2 transposed convolution to 8 x 8
    assert state.params['generator']['project']['kernel'].shape == (8 + 10, 4 * 4 * 16)
    assert state.params['generator']['up_0']['kernel'].shape == (4, 4, 16, 1)
    assert state.params['discriminator']['output']['kernel'].shape == (4 * 4 * 16 + 10, 1)


def test_a_dcgan_generator_too_deep_for_the_image_is_refused(tmp_path, capsys):
  code = cli.main(['run', 'train', '--workdir', str(tmp_path / 'w'), 'task=adversarial',
                   'model=gan', 'data=digits', 'gan.kind=dcgan', 'gan.generator=(8,8,8,8)'])
  err = capsys.readouterr().err
  assert code == 2 and 'multiples of 16' in err and len(err.strip().splitlines()) == 1
  assert not (tmp_path / 'w').exists()


def test_the_minimax_generator_loss_saturates_where_the_non_saturating_does_not():
  """Goodfellow et al. 2014: when D rejects G's samples confidently (logit -10), d/dlogit of
  log(1 - D) is -sigmoid(-10), about 5e-5; of -log D it is sigmoid(-10) - 1, about -1."""
  minimax = jax.grad(lambda l: -optax.sigmoid_binary_cross_entropy(l, 0.0))(-10.0)
  non_saturating = jax.grad(lambda l: optax.sigmoid_binary_cross_entropy(l, 1.0))(-10.0)
  assert abs(float(minimax)) < 1e-4 and float(non_saturating) == pytest.approx(-1.0, abs=1e-4)


@pytest.mark.parametrize('task, data, options, loss', [
    ('binary', 'breast_cancer', {'depth': 1, 'width': 16}, 'cross_entropy'),
    ('reconstruction', 'digits', {'encoder': (16,), 'code': 4}, 'mse'),
    ('adversarial', 'digits', {'latent': 4, 'generator': (16,), 'discriminator': (16,)}, 'mse'),
])
def test_every_task_trains_as_an_ensemble(tmp_path, task, data, options, loss):
  model = {'binary': 'mlp', 'reconstruction': 'autoencoder', 'adversarial': 'gan'}[task]
  rate_field = 'dropout' if model == 'mlp' else 'optim.learning_rate'
  cfg = ensemble.EnsembleConfig(model=model, options=options, rate_field=rate_field, epochs=1,
                                batch_size=32, optim=optim.OptimConfig(learning_rate=1e-3),
                                loss=losses.LossConfig(name=loss), task=task)
  rates = [0.0, 0.1] if model == 'mlp' else [1e-3, 3e-3]
  group = ensemble.Ensemble(cfg, load_dataset(data), [0, 1], rates)
  states = group.train(tmp_path, {'a': 1}, {})
  tests = group.split_metrics(states, 'test')
  headline = tasks.make_task(task, np.zeros(1)).headline
  assert all(np.isfinite(t[name]) for t in tests for name in headline)
  if task == 'reconstruction':  # scored against the inputs themselves, not the labels
    dataset = group.dataset
    images = np.asarray(pipeline.normalize(dataset.split('test')[0], dataset.mean, dataset.std))
    outputs = group.outputs(states, 'test')
    for k, found in enumerate(tests):
      assert found['mse'] == pytest.approx(float(((outputs[k] - images) ** 2).mean()), rel=1e-4)


def test_an_empty_loss_name_is_the_tasks_own_loss():
  for task, name in tasks.DEFAULT_LOSS.items():
    assert tasks.loss_for(task, losses.LossConfig()).name == name
  assert tasks.loss_for('regression', losses.LossConfig(name='huber')).name == 'huber'
  assert tasks.DEFAULT_LOSS['regression'] == tasks.DEFAULT_LOSS['reconstruction'] == 'mse'


def test_a_diverging_gan_stops_at_the_guard_with_exit_3(tmp_path, capsys):
  """The NaN guard of a two-player run: the discriminator's loss and both players' gradient
  norm are checked at every log step; a non-finite one stops the run with status 3."""
  code = cli.main(['run', 'train', '--workdir', str(tmp_path / 'w'), 'task=adversarial',
                   'model=gan', 'gan.latent=4', 'gan.generator=(8,)', 'gan.discriminator=(8,)',
                   'optim.name=sgd', 'optim.learning_rate=1e30', 'steps=20', 'log_every=1'])
  err = capsys.readouterr().err
  assert code == 3, err
  assert 'error: non-finite gradients at step 1' in err and len(err.strip().splitlines()) == 1
