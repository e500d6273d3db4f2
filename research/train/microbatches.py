"""Gradient accumulation: a device's batch cut into microbatches inside the step.

`grad_accum=k` runs the loss and its gradient on k equal slices of the device's batch one
after another (a `lax.scan`, so only one slice's activations are alive at a time) and averages
the losses and gradients: for a loss that is a mean over examples this is the gradient of the
whole batch, to float rounding, at about a k-th of the activation memory. Which examples form a
slice, and every random draw (dropout inside the slice; augmentation, corruption and latent
codes before the cut), follow each example's global position (research/rng.py's layout), so a
run is the same on any number of devices.

What does differ from k = 1: BatchNorm normalises each slice by its own statistics (over the
slice on every device) and updates its running averages once per slice, k times per step, as
the usual gradient accumulation does; and a loss normalised by a whole-batch sum
(weighted cross-entropy with `class_weight_norm=weights`) is not a mean over examples, so the
config refuses it with k > 1.
"""
import jax
import jax.numpy as jnp
from jax import lax

from research import rng
from research.nn import switch


def value_and_grad(fun, steps: int):
  """`jax.value_and_grad(fun, has_aux=True)` for fun(params, carry, *batch) -> (loss, (aux,
  carry)), where every array in `batch` has this device's examples on its leading axis and so
  does every array in `aux`. With steps > 1 the batch is cut into `steps` slices: the loss and
  gradients are their means, `carry` (BatchNorm statistics) is threaded from slice to slice,
  and `aux` comes back whole (the slices' outputs put back together)."""
  grad_fn = jax.value_and_grad(fun, has_aux=True)
  if steps == 1:
    return grad_fn

  def accumulated(params, carry, *batch):
    if rng.slices() != steps:  # the batch was picked, and random draws made, for another layout
      raise ValueError(f'{steps} microbatches need rng.sliced({steps}) around the whole step '
                       '(research/train/step.make_train_step sets it)')
    device_batch = batch[0].shape[0]
    size = device_batch // steps
    sliced = jax.tree.map(lambda x: x.reshape(steps, size, *x.shape[1:]), batch)

    def one_slice(totals, index_and_slice):
      index, part = index_and_slice
      loss_sum, grads_sum, carry = totals
      with rng.in_slice(index):
        (loss, (aux, carry)), grads = grad_fn(params, carry, *part)
      return (loss_sum + loss, jax.tree.map(jnp.add, grads_sum, grads), carry), aux

    zeros = (jnp.zeros(()), jax.tree.map(jnp.zeros_like, params), carry)
    with switch.inside_loop():
      (loss_sum, grads_sum, carry), aux = lax.scan(one_slice, zeros,
                                                   (jnp.arange(steps), sliced))
    aux = jax.tree.map(lambda x: x.reshape(device_batch, *x.shape[2:]), aux)
    mean = lambda total: total / steps
    return (mean(loss_sum), (aux, carry)), jax.tree.map(mean, grads_sum)

  return accumulated
