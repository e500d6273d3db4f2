"""An LSTM classifier that reads an image row by row: H time steps of W x C features.

Dropout on a recurrent net, two ways (Gal and Ghahramani 2016):
  naive:       a fresh mask at every time step, on the inputs of each layer and on the final
               output; the recurrent connections are left alone (Zaremba et al. 2014);
  variational: one mask per example for the whole sequence, on the inputs, on the recurrent
               state h_{t-1} fed back into the cell, and on the output.
Both at rate `dropout`, inverted, so the test-time network is the same in both.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from research.nn.dropout import Dropout, LockedDropout, example_draws, is_off

DROPOUTS = ('naive', 'variational')


class _RecurrentDropoutCell(nn.Module):
  """One LSTM step whose incoming hidden state is multiplied by a fixed mask."""
  hidden: int

  @nn.compact
  def __call__(self, carry, x_BxD, mask_BxH):
    c_BxH, h_BxH = carry
    (c_BxH, h_BxH), _ = nn.OptimizedLSTMCell(self.hidden, name='cell')(
        (c_BxH, h_BxH * mask_BxH), x_BxD)
    return (c_BxH, h_BxH), h_BxH


class LSTMClassifier(nn.Module):
  num_classes: int
  hidden: int = 128                  # units of each LSTM layer
  layers: int = 1                    # stacked LSTM layers
  dropout: float = 0.0               # drop rate on inputs, outputs (and state, variational)
  dropout_kind: str = 'variational'  # naive (a mask per step) or variational (per sequence)
  axis_name: str | None = None

  def recurrent_mask(self, h_shape, train: bool, dtype) -> jax.Array:
    """Variational: an inverted-dropout mask for h_{t-1}, one per example for all steps, in
    the state's dtype (so that the state keeps it)."""
    if self.dropout_kind != 'variational' or is_off(self.dropout, not train):
      return jnp.ones(h_shape, dtype)
    keep = 1.0 - self.dropout
    draw = lambda k, s: (jax.random.bernoulli(k, keep, s) / keep).astype(dtype)
    return example_draws(self, draw, jnp.zeros(h_shape), self.axis_name)

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool, progress=1.0) -> jax.Array:
    del progress
    if self.dropout_kind not in DROPOUTS:
      raise ValueError(f'LSTMClassifier: dropout_kind={self.dropout_kind!r} is unknown; '
                       f'choose one of {", ".join(DROPOUTS)}')
    b, t = x_BxHxWxC.shape[:2]
    seq_BxTxD = x_BxHxWxC.reshape(b, t, -1)
    unit_dropout = Dropout if self.dropout_kind == 'naive' else LockedDropout
    scan = nn.scan(_RecurrentDropoutCell, variable_broadcast='params',
                   split_rngs={'params': False}, in_axes=(1, nn.broadcast), out_axes=1)
    for layer in range(self.layers):
      seq_BxTxD = unit_dropout(self.dropout, self.axis_name)(seq_BxTxD, deterministic=not train)
      zeros = jnp.zeros((b, self.hidden), seq_BxTxD.dtype)
      mask_BxH = self.recurrent_mask((b, self.hidden), train, seq_BxTxD.dtype)
      _, seq_BxTxD = scan(self.hidden, name=f'lstm_{layer}')((zeros, zeros), seq_BxTxD, mask_BxH)
      self.sow('activations', f'lstm_{layer}_act', seq_BxTxD)  # h_1..h_T, for diagnostics
    last_BxH = Dropout(self.dropout, self.axis_name)(seq_BxTxD[:, -1], deterministic=not train)
    return nn.Dense(self.num_classes, name='output')(last_BxH)
