"""Losses and metrics, cross-checked against scikit-learn and direct formulas."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, PartitionSpec as P
from sklearn import metrics as skm

from research import losses, metrics
from research.errors import UserError


@pytest.fixture
def batch():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(600, 5)).astype(np.float32) * 2
  labels = rng.integers(0, 5, 600)
  logits[np.arange(600), labels] += 1.5  # better than chance, not perfect
  return logits, labels


def _softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _loss(name, logits, labels, **kw):
  return np.asarray(losses.per_example_loss(losses.LossConfig(name=name, **kw), logits, labels))


def test_cross_entropy_integer_and_one_hot_agree_with_sklearn(batch):
  logits, labels = batch
  ce_int = _loss('cross_entropy', logits, labels)
  ce_onehot = np.asarray(losses.cross_entropy(logits, jax.nn.one_hot(labels, 5)))
  np.testing.assert_allclose(ce_int, ce_onehot, rtol=1e-5, atol=1e-6)
  assert ce_int.mean() == pytest.approx(skm.log_loss(labels, _softmax(logits)), rel=1e-5)


def test_regression_style_and_other_losses(batch):
  logits, labels = batch
  p, y = _softmax(logits.astype(np.float64)), np.eye(5)[labels]
  np.testing.assert_allclose(_loss('mse', logits, labels), ((p - y) ** 2).mean(-1), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(_loss('mae', logits, labels), np.abs(p - y).mean(-1), rtol=1e-4, atol=1e-6)
  d = np.abs(p - y)
  huber = np.where(d <= 0.5, 0.5 * d ** 2, 0.5 * (d - 0.25)).mean(-1)
  np.testing.assert_allclose(_loss('huber', logits, labels, huber_delta=0.5), huber, rtol=1e-4, atol=1e-6)
  sig = 1 / (1 + np.exp(-logits.astype(np.float64)))
  bce = -(y * np.log(sig) + (1 - y) * np.log(1 - sig)).sum(-1)
  np.testing.assert_allclose(_loss('binary_cross_entropy', logits, labels), bce, rtol=1e-4, atol=1e-6)
  pt = p[np.arange(len(labels)), labels]
  np.testing.assert_allclose(_loss('focal', logits, labels, focal_gamma=2.0),
                             -(1 - pt) ** 2 * np.log(pt), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(_loss('focal', logits, labels, focal_gamma=0.0),
                             _loss('cross_entropy', logits, labels), rtol=1e-5, atol=1e-6)
  weights = (1.0, 2.0, 3.0, 4.0, 5.0)
  np.testing.assert_allclose(_loss('weighted_cross_entropy', logits, labels, class_weights=weights),
                             np.array(weights)[labels] * -np.log(pt), rtol=1e-4, atol=1e-6)


def test_focal_alpha_weights_each_class(batch):
  """Lin et al.'s alpha_t: the focal loss of an example times its class's alpha."""
  logits, labels = batch
  alpha = (0.25, 0.75, 0.5, 1.0, 2.0)
  np.testing.assert_allclose(
      _loss('focal', logits, labels, focal_gamma=2.0, focal_alpha=alpha),
      np.array(alpha)[labels] * _loss('focal', logits, labels, focal_gamma=2.0), rtol=1e-6)


@pytest.mark.parametrize('gamma', [0.5, 1.0, 2.0])
def test_focal_gradient_stays_finite_where_the_network_is_sure(gamma):
  """A margin of 20 makes p_t round to 1 in float32, where d(1 - p)^gamma / dp is infinite for
  gamma < 1; the gradient must still be the float64 closed form's (there, about 0)."""
  logits = jnp.array([[20.0, 0.0, 0.0], [2.0, 1.0, 0.0], [0.0, 3.0, -1.0]], jnp.float32)
  labels = jnp.array([0, 1, 1])

  def total(z):
    return losses.per_example_loss(losses.LossConfig(name='focal', focal_gamma=gamma), z,
                                   labels).sum()

  def reference(z):  # float64, (1 - p_t) from the softmax of the other classes: no rounding to 0
    z = np.asarray(z, np.float64)
    p = _softmax(z)
    p_t = p[np.arange(len(labels)), labels]
    return -(((1 - p_t) ** gamma) * np.log(p_t)).sum()

  assert float(jax.jit(jax.nn.softmax)(logits)[0, 0]) == 1.0  # the case this test is about
  grad = np.asarray(jax.grad(total)(logits))
  eps = 1e-6
  z64 = np.asarray(logits, np.float64)
  numeric = np.zeros_like(z64)
  for i, j in np.ndindex(*z64.shape):
    step = np.zeros_like(z64)
    step[i, j] = eps
    numeric[i, j] = (reference(z64 + step) - reference(z64 - step)) / (2 * eps)
  assert np.isfinite(grad).all()
  np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('norm', losses.WEIGHT_NORMS)
def test_weighted_cross_entropy_batch_loss_and_its_normalisation(batch, norm):
  """'weights' is PyTorch's CrossEntropyLoss(weight=w): sum(w l) / sum(w); 'count' divides by
  the batch size. Sharded over 8 devices, the mean of the devices' shares is the same number."""
  logits, labels = batch
  weights = (1.0, 2.0, 3.0, 4.0, 10.0)
  cfg = losses.LossConfig(name='weighted_cross_entropy', class_weights=weights,
                          class_weight_norm=norm)
  w = np.array(weights)[labels]
  l = -np.log(_softmax(logits.astype(np.float64))[np.arange(len(labels)), labels])
  expected = (w * l).sum() / (w.sum() if norm == 'weights' else len(labels))
  assert float(losses.batch_loss(cfg, logits, labels)) == pytest.approx(expected, rel=1e-5)
  mesh = Mesh(np.array(jax.devices()[:8]), ('batch',))
  sharded = jax.jit(jax.shard_map(
      lambda z, y: jax.lax.pmean(losses.batch_loss(cfg, z, y, 'batch'), 'batch'),
      mesh=mesh, in_specs=P('batch'), out_specs=P(), check_vma=False))
  assert float(sharded(logits, labels)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('key', ['class_weights', 'focal_alpha'])
def test_per_class_options_of_the_wrong_length_are_refused(batch, key):
  """A short tuple used to be read past its end (JAX clamps the gather)."""
  logits, labels = batch
  name = 'focal' if key == 'focal_alpha' else 'weighted_cross_entropy'
  cfg = losses.LossConfig(name=name, **{key: (1.0, 2.0)})
  with pytest.raises(UserError, match=f'loss.{key} has 2 entries; the data has 5 classes'):
    losses.batch_loss(cfg, logits, labels)


def test_metrics_match_sklearn(batch):
  logits, labels = batch
  loss_B = _loss('cross_entropy', logits, labels)
  s = metrics.summarize(metrics.classification_stats(logits, labels, loss_B))
  predicted, probs = logits.argmax(-1), _softmax(logits.astype(np.float64))
  assert s['accuracy'] == pytest.approx(skm.accuracy_score(labels, predicted))
  assert s['confusion_matrix'] == skm.confusion_matrix(labels, predicted).tolist()
  assert s['precision_macro'] == pytest.approx(skm.precision_score(labels, predicted, average='macro'))
  assert s['recall_macro'] == pytest.approx(skm.recall_score(labels, predicted, average='macro'))
  assert s['f1_macro'] == pytest.approx(skm.f1_score(labels, predicted, average='macro'))
  np.testing.assert_allclose(s['f1_per_class'], skm.f1_score(labels, predicted, average=None))
  assert s['log_loss'] == pytest.approx(skm.log_loss(labels, probs), rel=1e-5)
  assert s['roc_auc_macro'] == pytest.approx(
      skm.roc_auc_score(labels, probs, multi_class='ovr', average='macro'), abs=2e-3)
  confidence, correct = probs.max(-1), predicted == labels
  bins = np.minimum((confidence * metrics.ECE_BINS).astype(int), metrics.ECE_BINS - 1)
  ece = sum(abs(correct[bins == k].sum() - confidence[bins == k].sum())
            for k in range(metrics.ECE_BINS)) / len(labels)
  assert s['ece'] == pytest.approx(ece, abs=1e-5)


def test_masked_examples_do_not_count(batch):
  logits, labels = batch
  loss_B = _loss('cross_entropy', logits, labels)
  mask = np.arange(600) < 450
  masked = metrics.summarize(metrics.classification_stats(logits, labels, loss_B, mask))
  direct = metrics.summarize(metrics.classification_stats(logits[:450], labels[:450], loss_B[:450]))
  assert masked['confusion_matrix'] == direct['confusion_matrix']
  for key in ('count', 'accuracy', 'loss', 'log_loss', 'f1_macro', 'roc_auc_macro', 'ece'):
    assert masked[key] == pytest.approx(direct[key], rel=1e-6), key


def test_accumulation_over_batches_and_devices_is_exact(batch):
  logits, labels = batch
  loss_B = _loss('cross_entropy', logits, labels)
  whole = metrics.summarize(metrics.classification_stats(logits, labels, loss_B))
  mesh = Mesh(np.array(jax.devices()[:8]), ('batch',))
  sharded = jax.jit(jax.shard_map(lambda *a: metrics.psum(metrics.classification_stats(*a), 'batch'),
                                  mesh=mesh, in_specs=P('batch'), out_specs=P(),
                                  check_vma=False))
  total = None
  for chunk in np.split(np.arange(600), 3):  # 3 batches of 200, each over 8 devices
    stats = sharded(logits[chunk], labels[chunk], loss_B[chunk])
    total = stats if total is None else metrics.merge(total, stats)
  got = metrics.summarize(total)
  assert got['confusion_matrix'] == whole['confusion_matrix']
  for key in ('accuracy', 'f1_per_class', 'roc_auc_macro'):
    assert got[key] == pytest.approx(whole[key])
  for key in ('loss', 'log_loss', 'ece'):
    assert got[key] == pytest.approx(whole[key], rel=1e-5)


def test_global_norm_is_optax_tree_norm():
  key = jax.random.key(0)
  tree = {'big': jax.random.normal(key, (300, 257)), 'small': jax.random.normal(key, (7, 3)),
          'vector': jnp.arange(5.0)}
  np.testing.assert_allclose(metrics.global_norm(tree), optax.tree.norm(tree), rtol=1e-5)
