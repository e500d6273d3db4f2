"""What a trained network's layers hold: their activations on a set of inputs, and how much of a
classification a linear probe reads from them. Shared by the experiments that look inside
networks (transfer's layers, autoencoders' codes, the GAN's feature space)."""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from research.nn.activations import ACTIVATIONS


def region_means(h_BxHxWxC, grid: int):
  """A feature map averaged over grid x grid regions (as equal as the side allows), flattened:
  B x (grid * grid * C); grid 1 is one value per channel."""
  if grid == 1:
    return h_BxHxWxC.mean(axis=(1, 2))
  def bins(side: int):
    edges = np.linspace(0, side, min(grid, side) + 1).round().astype(int)
    weights = np.zeros((len(edges) - 1, side), np.float32)
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
      weights[i, lo:hi] = 1.0 / (hi - lo)
    return weights
  pooled = jnp.einsum('gh,bhwc,kw->bgkc', bins(h_BxHxWxC.shape[1]), h_BxHxWxC,
                      bins(h_BxHxWxC.shape[2]))
  return pooled.reshape(pooled.shape[0], -1)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _batch_features(model, layers: tuple, grid: int, linear: tuple, variables, x) -> dict:
  # One compile per model and layer set: the variables are an argument, not a constant.
  activation = ACTIVATIONS[getattr(model, 'activation', 'relu')]
  _, state = model.apply(variables, x, train=False, capture_intermediates=True)
  out = {}
  for name in layers:
    h = state['intermediates'][name]['__call__'][0]
    h = h if name in linear else activation(h)
    out[name] = region_means(h, grid) if h.ndim == 4 else h
  return out


def layer_features(model, variables, inputs, layers, grid: int = 1,
                   linear=()) -> dict[str, np.ndarray]:
  """Each named layer's output on `inputs` (normalised as the model sees them) after the
  model's activation (ReLU unless set otherwise; the layers in `linear`, such as the logits,
  as they are), spatial maps averaged over grid x grid regions, in batches of 1,000
  examples."""
  batch = functools.partial(_batch_features, model, tuple(layers), grid, tuple(linear),
                            variables)
  parts = [batch(jnp.asarray(inputs[i:i + 1000])) for i in range(0, len(inputs), 1000)]
  return {name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in layers}


def probe_accuracy(train_x, train_y, test_x, test_y, max_iter: int) -> float:
  """Test accuracy of standardised logistic regression (scikit-learn) fitted on train_x."""
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler
  fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
  fitted.fit(train_x, train_y)
  return float(fitted.score(test_x, test_y))
