"""Differentiating through a solver without unrolling it: the implicit function theorem.

A fixed point z* = f(params, z*) of a contraction f is found by iterating until the step is
below a tolerance: a `lax.while_loop`, whose number of iterations is not known in advance and
which reverse mode cannot differentiate. It need not: at the solution, z* - f(params, z*) = 0,
so dz*/dparams = (I - df/dz)^-1 df/dparams, and a loss's gradient is

    dL/dparams = (df/dparams)^T u,   where   u = dL/dz* + (df/dz)^T u,

a second fixed point (the adjoint), iterated with one VJP of f at z* per step: a contraction
whenever the forward one is. Nothing of the forward iterations is kept, so memory does not grow
with their number; unrolling the solver and differentiating it (`unrolled`) stores every
iterate. This is `jax.custom_vjp` as in JAX's "fixed point" example and in Bai et al. 2019's
deep equilibrium models.
"""
import functools
from typing import Callable

import jax
import jax.numpy as jnp


def iterate(f: Callable, params, z0: jax.Array, tol: float,
            max_iter: int) -> tuple[jax.Array, jax.Array]:
  """(z, iterations): z <- f(params, z) from z0 until the step is at most `tol` relative to
  the iterate (max |z_new - z| <= tol max |z_new|: the adjoint's scale is the loss's, not
  z's), or max_iter steps."""

  def running(carry):
    _, step, i = carry
    return (step > tol) & (i < max_iter)

  def body(carry):
    z, _, i = carry
    z_new = f(params, z)
    scale = jnp.maximum(jnp.max(jnp.abs(z_new)), jnp.finfo(z_new.dtype).tiny)
    return z_new, jnp.max(jnp.abs(z_new - z)) / scale, i + 1

  z, _, iterations = jax.lax.while_loop(running, body,
                                        (z0, jnp.asarray(jnp.inf, z0.dtype), jnp.int32(0)))
  return z, iterations


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3, 4))
def fixed_point(f: Callable, params, z0: jax.Array, tol: float, max_iter: int) -> jax.Array:
  """The fixed point of z = f(params, z) from z0, differentiable in params by the implicit
  function theorem (the adjoint solved to the same tolerance); z0 gets no gradient."""
  return iterate(f, params, z0, tol, max_iter)[0]


def _fixed_point_fwd(f, params, z0, tol, max_iter):
  z = iterate(f, params, z0, tol, max_iter)[0]
  return z, (params, z)


def _fixed_point_bwd(f, tol, max_iter, residuals, z_bar):
  params, z = residuals
  _, vjp_z = jax.vjp(lambda z_: f(params, z_), z)
  u, _ = iterate(lambda _, u_: z_bar + vjp_z(u_)[0], None, z_bar, tol, max_iter)
  _, vjp_params = jax.vjp(lambda p: f(p, z), params)
  return vjp_params(u)[0], jnp.zeros_like(z)


fixed_point.defvjp(_fixed_point_fwd, _fixed_point_bwd)


def unrolled(f: Callable, params, z0: jax.Array, iterations: int) -> jax.Array:
  """`iterations` steps of z <- f(params, z), differentiated like any program: reverse mode
  stores every iterate."""
  return jax.lax.fori_loop(0, iterations, lambda _, z: f(params, z), z0)
