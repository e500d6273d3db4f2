"""Derivatives of a pure function by every method in the notes (004), side by side.

Exact: forward mode (one JVP per input), reverse mode (one VJP per output).
Approximate: forward and central finite differences, the complex step, and SPSA
(simultaneous-perturbation stochastic approximation).
Second order: Hessian-vector products by the three compositions of the two modes.

Every function here maps f: R^n -> R^m (a 1-D array in, a 1-D array out) to its m x n
Jacobian, so the methods can be swapped in one place and compared.
"""
from typing import Callable

import jax
import jax.numpy as jnp

Fn = Callable[[jax.Array], jax.Array]

EXACT = ('forward', 'reverse')
APPROXIMATE = ('forward_difference', 'central_difference', 'complex_step')
JACOBIAN_METHODS = EXACT + APPROXIMATE
HVP_METHODS = ('forward_over_reverse', 'reverse_over_reverse', 'reverse_over_forward',
               'full_hessian')


def _basis_steps(x_N: jax.Array, h) -> jax.Array:
  """The n probes a finite-difference Jacobian needs: h e_i as row i, each rounded to the step
  x_i + h - x_i that floating point actually takes, so the quotient divides by the true step.
  A step below x's rounding unit vanishes; it is kept as h rather than divided by, and the
  estimate is then rounding noise over h (round-off error in its purest form)."""
  steps_NxN = h * jnp.eye(x_N.shape[0], dtype=x_N.dtype)
  taken_NxN = (x_N + steps_NxN) - x_N
  return jnp.where(taken_NxN == 0, steps_NxN, taken_NxN)


def forward_difference(f: Fn, x_N: jax.Array, h) -> jax.Array:
  """(f(x + h e_i) - f(x)) / h: truncation error O(h), round-off O(eps / h)."""
  steps_NxN = _basis_steps(x_N, h)
  f0_M = f(x_N)
  fi_NxM = jax.vmap(lambda step: f(x_N + step))(steps_NxN)
  return ((fi_NxM - f0_M) / jnp.diag(steps_NxN)[:, None]).T


def central_difference(f: Fn, x_N: jax.Array, h) -> jax.Array:
  """(f(x + h e_i) - f(x - h e_i)) / 2h: truncation O(h^2), round-off O(eps / h)."""
  steps_NxN = _basis_steps(x_N, h)
  plus_NxM = jax.vmap(lambda step: f(x_N + step))(steps_NxN)
  minus_NxM = jax.vmap(lambda step: f(x_N - step))(steps_NxN)
  return ((plus_NxM - minus_NxM) / (2 * jnp.diag(steps_NxN)[:, None])).T


def complex_step(f: Fn, x_N: jax.Array, h) -> jax.Array:
  """Im f(x + i h e_i) / h (Squire and Trapp 1998).

  No subtraction, so no cancellation: h can be 1e-20 and the error stays at rounding level.
  f must be real-analytic and written with operations that accept complex numbers (no abs,
  no comparisons on the perturbed value).
  """
  complex_dtype = jnp.result_type(x_N.dtype, jnp.complex64)
  steps_NxN = 1j * h * jnp.eye(x_N.shape[0], dtype=complex_dtype)
  fi_NxM = jax.vmap(lambda step: f(x_N.astype(complex_dtype) + step))(steps_NxN)
  return (jnp.imag(fi_NxM) / h).T


def jacobian(f: Fn, x_N: jax.Array, method: str, h: float = 1e-6) -> jax.Array:
  """The m x n Jacobian of f at x by `method` (one of JACOBIAN_METHODS); h is the step of
  the approximate methods."""
  if method == 'forward':
    return jax.jacfwd(f)(x_N)   # n JVPs, batched by vmap: cost ~ n evaluations of f
  if method == 'reverse':
    return jax.jacrev(f)(x_N)   # m VJPs: cost ~ m evaluations, plus the stored forward pass
  if method == 'forward_difference':
    return forward_difference(f, x_N, h)
  if method == 'central_difference':
    return central_difference(f, x_N, h)
  if method == 'complex_step':
    return complex_step(f, x_N, h)
  raise ValueError(f'unknown method {method!r}; choose one of {", ".join(JACOBIAN_METHODS)}')


def spsa_estimates(f: Fn, x_N: jax.Array, key: jax.Array, samples: int,
                   c: float = 1e-3) -> jax.Array:
  """`samples` independent one-sample SPSA estimates of the m x n Jacobian (Spall 1992).

  Perturb every input at once along a random +-1 direction d: (f(x + c d) - f(x - c d)) / 2c is
  J d up to O(c^2), and multiplying by d (1/d_i = d_i for Rademacher entries) gives an unbiased
  estimate of J from two evaluations of f, whatever n is.
  """
  directions_KxN = jax.random.rademacher(key, (samples, x_N.shape[0]), dtype=x_N.dtype)

  def one_sample(d_N):
    slope_M = (f(x_N + c * d_N) - f(x_N - c * d_N)) / (2 * c)
    return jnp.outer(slope_M, d_N)

  return jax.lax.map(one_sample, directions_KxN, batch_size=256)


def spsa_jacobian(f: Fn, x_N: jax.Array, key: jax.Array, samples: int,
                  c: float = 1e-3) -> jax.Array:
  """The SPSA Jacobian: the mean of `samples` estimates; its error falls as 1/sqrt(samples)."""
  return jnp.mean(spsa_estimates(f, x_N, key, samples, c), axis=0)


def gradient(f: Callable[[jax.Array], jax.Array], x_N: jax.Array, method: str,
             h: float = 1e-6) -> jax.Array:
  """The gradient of a scalar f: its 1 x n Jacobian, by any of JACOBIAN_METHODS."""
  return jacobian(lambda x: jnp.reshape(f(x), (1,)), x_N, method, h)[0]


def hvp(f: Callable[[jax.Array], jax.Array], x_N: jax.Array, v_N: jax.Array,
        method: str) -> jax.Array:
  """The Hessian of a scalar f times v, without forming the Hessian (except 'full_hessian').

  forward_over_reverse: the JVP of the gradient; one forward pass carries tangents through
  the backward pass: the cheapest, ~ 2-4 gradient costs (Pearlmutter 1994).
  reverse_over_reverse: the gradient of <grad f, v>; differentiates a backward pass, so it
  stores the backward pass too.
  reverse_over_forward: the gradient of the directional derivative <grad f, v> computed by
  a JVP.
  full_hessian: forms the n x n Hessian (n HVPs) and multiplies: the cost the others avoid.
  """
  if method == 'forward_over_reverse':
    return jax.jvp(jax.grad(f), (x_N,), (v_N,))[1]
  if method == 'reverse_over_reverse':
    return jax.grad(lambda x: jnp.vdot(jax.grad(f)(x), v_N))(x_N)
  if method == 'reverse_over_forward':
    return jax.grad(lambda x: jax.jvp(f, (x,), (v_N,))[1])(x_N)
  if method == 'full_hessian':
    return jax.hessian(f)(x_N) @ v_N
  raise ValueError(f'unknown method {method!r}; choose one of {", ".join(HVP_METHODS)}')


ESTIMATED_VJPS = ('central_difference', 'spsa')


def with_estimated_vjp(f: Fn, method: str, h: float = 1e-3, samples: int = 100):
  """f: R^n -> R^m as g(x, key), whose VJP is estimated from evaluations of f alone: for a
  block that AD cannot see through (a host callback, a simulator) inside a differentiable
  program. 'central_difference' forms the Jacobian from 2n evaluations at step h; 'spsa' from
  2 x `samples` evaluations along random directions drawn from `key` (per example when g is
  vmapped over keys). The backward pass is then y_bar J."""

  @jax.custom_vjp
  def g(x_N, key):
    del key
    return f(x_N)

  def forward(x_N, key):
    return f(x_N), (x_N, key)

  def backward(residuals, y_bar_M):
    x_N, key = residuals
    if method == 'central_difference':
      jacobian_MxN = central_difference(f, x_N, h)
    elif method == 'spsa':
      jacobian_MxN = spsa_jacobian(f, x_N, key, samples, h)
    else:
      raise ValueError(f'unknown method {method!r}; choose one of {", ".join(ESTIMATED_VJPS)}')
    return y_bar_M @ jacobian_MxN, None

  g.defvjp(forward, backward)
  return g
