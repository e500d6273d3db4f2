"""Every differentiation method against derivatives known in closed form."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import autodiff, backprop, cost


def vector_fn(x):
  """R^3 -> R^4 with a Jacobian written out by hand below."""
  return jnp.stack([jnp.sin(x[0]) * x[1], jnp.exp(x[1]), x[0] ** 2 * x[2], x[2] / (1 + x[0])])


def vector_jacobian(x):
  x0, x1, x2 = x
  return np.array([[np.cos(x0) * x1, np.sin(x0), 0.0],
                   [0.0, np.exp(x1), 0.0],
                   [2 * x0 * x2, 0.0, x0 ** 2],
                   [-x2 / (1 + x0) ** 2, 0.0, 1 / (1 + x0)]])


X = np.array([0.7, -0.3, 1.2])
# (method, step h, relative tolerance in float64): the approximate methods at a step near their
# best; truncation O(h) for forward differences, O(h^2) for central and complex steps.
METHODS = [('forward', None, 1e-14), ('reverse', None, 1e-14),
           ('forward_difference', 1e-8, 1e-6), ('central_difference', 1e-6, 1e-9),
           ('complex_step', 1e-20, 1e-14)]


@pytest.mark.parametrize('method,h,tol', METHODS)
def test_jacobian_every_method_float64(method, h, tol):
  with jax.enable_x64(True):
    estimate = autodiff.jacobian(vector_fn, jnp.asarray(X), method, **({'h': h} if h else {}))
    chex.assert_shape(estimate, (4, 3))
    np.testing.assert_allclose(estimate, vector_jacobian(X), rtol=tol, atol=tol)


@pytest.mark.parametrize('method', ['forward', 'reverse'])
def test_exact_methods_float32(method):
  estimate = autodiff.jacobian(vector_fn, jnp.asarray(X, jnp.float32), method)
  np.testing.assert_allclose(estimate, vector_jacobian(X), rtol=1e-6, atol=1e-6)


def test_complex_step_has_no_cancellation():
  """At h = 1e-20 finite differences return nothing useful; the complex step is exact."""
  with jax.enable_x64(True):
    x = jnp.asarray(X)
    complex_estimate = np.asarray(autodiff.jacobian(vector_fn, x, 'complex_step', h=1e-20))
    central_estimate = np.asarray(autodiff.jacobian(vector_fn, x, 'central_difference', h=1e-20))
  assert complex_estimate.dtype == np.float64
  error = np.abs(complex_estimate - vector_jacobian(X)).max()
  assert error < 1e-13 * np.abs(vector_jacobian(X)).max()
  assert np.abs(central_estimate - vector_jacobian(X)).max() > 0.1


def test_gradient_of_scalar_function_by_every_method():
  def f(x):
    return jnp.sum(x ** 3) + jnp.prod(x)

  with jax.enable_x64(True):
    x = jnp.asarray(X)
    expected = 3 * X ** 2 + np.prod(X) / X
    for method, h, tol in METHODS:
      got = autodiff.gradient(f, x, method, **({'h': h} if h else {}))
      chex.assert_shape(got, (3,))
      np.testing.assert_allclose(got, expected, rtol=tol, err_msg=method)


def test_unknown_method_is_a_clear_error():
  with pytest.raises(ValueError, match='unknown method'):
    autodiff.jacobian(vector_fn, jnp.asarray(X), 'symbolic')
  with pytest.raises(ValueError, match='unknown method'):
    autodiff.hvp(jnp.sum, jnp.asarray(X), jnp.asarray(X), 'sideways')


def test_spsa_is_unbiased_with_error_falling_as_one_over_root_samples():
  """For a linear map the only error is SPSA's own sampling noise, of r.m.s. size
  sqrt((n - 1) / K) ||row|| per output; mean over K samples of J d d^T -> J."""
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 8))
    x = jnp.asarray(rng.standard_normal(8))
    errors = []
    for samples in (100, 10_000):
      estimate = autodiff.spsa_jacobian(lambda v: jnp.asarray(a) @ v, x, jax.random.key(1),
                                        samples)
      errors.append(np.linalg.norm(estimate - a) / np.linalg.norm(a))
    assert errors[1] < 3 * np.sqrt(7 / 10_000)
    assert errors[1] < errors[0] / 3  # 100x the samples: about 10x less error
    again = autodiff.spsa_jacobian(lambda v: jnp.asarray(a) @ v, x, jax.random.key(1), 10_000)
    np.testing.assert_array_equal(again, estimate)  # a function of the key alone


@pytest.mark.parametrize('method', autodiff.HVP_METHODS)
def test_hessian_vector_products(method):
  """f = 1/2 x^T A x + sum sin x has the Hessian A + diag(-sin x)."""
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 5))
    a = a + a.T
    x, v = rng.standard_normal(5), rng.standard_normal(5)

    def f(z):
      return 0.5 * z @ jnp.asarray(a) @ z + jnp.sum(jnp.sin(z))

    got = autodiff.hvp(f, jnp.asarray(x), jnp.asarray(v), method)
  np.testing.assert_allclose(got, (a - np.diag(np.sin(x))) @ v, rtol=1e-12)


@pytest.mark.parametrize('sizes', [(4, 3), (6, 5, 2), (64, 32, 32, 10)])
def test_delta_rule_equals_jax_grad(sizes):
  rng = np.random.default_rng(len(sizes))
  params = jax.jit(backprop.init_params, static_argnums=1)(jax.random.key(0), sizes)
  x = rng.standard_normal((16, sizes[0])).astype(np.float32)
  t = rng.uniform(size=(16, sizes[-1])).astype(np.float32)
  manual = jax.jit(backprop.manual_gradients)(params, x, t)
  automatic = jax.jit(jax.grad(backprop.squared_error))(params, x, t)
  chex.assert_trees_all_equal_shapes(manual, automatic)
  scale = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(automatic))
  for m, a in zip(jax.tree.leaves(manual), jax.tree.leaves(automatic)):
    assert float(jnp.abs(m - a).max()) <= 1e-6 * scale


def test_delta_rule_is_exact_in_float64():
  with jax.enable_x64(True):
    params = jax.jit(backprop.init_params, static_argnums=1)(jax.random.key(3), (5, 4, 3))
    x = np.random.default_rng(0).standard_normal((7, 5))
    t = np.random.default_rng(1).uniform(size=(7, 3))
    chex.assert_trees_all_close(jax.jit(backprop.manual_gradients)(params, x, t),
                                jax.jit(jax.grad(backprop.squared_error))(params, x, t),
                                rtol=1e-12)
    assert jax.tree.leaves(params)[0].dtype == jnp.float64


def test_probe_counts_a_matmul_and_returns_its_output():
  a, b = jnp.ones((32, 64)), jnp.ones((64, 16))
  measured = cost.probe(jnp.matmul, a, b, repeats=3, min_repeat_s=1e-3)
  assert measured.flops == 2 * 32 * 64 * 16
  assert measured.time_s > 0 and measured.compile_s > 0
  assert measured.argument_bytes == (32 * 64 + 64 * 16) * 4
  assert measured.output_bytes == 32 * 16 * 4
  np.testing.assert_array_equal(measured.output, a @ b)
  assert 'output' not in measured.to_dict()
  assert cost.probe(jnp.matmul, a, b, timed=False).time_s is None


def test_matmul_flops_counts_loop_trips_and_rematerialisation():
  """XLA's count sees a scan body once; the jaxpr count multiplies by the trip count, and a
  rematerialised forward pass shows up as one more matmul per layer in the gradient."""
  def layer(h, w):
    return jnp.tanh(h @ w), None

  def loss(ws, x, remat=False):
    return jnp.sum(jax.lax.scan(jax.checkpoint(layer) if remat else layer, x, ws)[0])

  ws, x = jnp.ones((6, 8, 8)), jnp.ones((4, 8))
  one = 2 * 4 * 8 * 8
  assert cost.matmul_flops(loss, ws, x) == 6 * one
  assert cost.matmul_flops(jax.grad(loss), ws, x) == 6 * 3 * one
  assert cost.matmul_flops(jax.grad(lambda w, v: loss(w, v, remat=True)), ws, x) == 6 * 4 * one
