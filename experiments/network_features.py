"""What a trained network's layers hold: their activations on a set of inputs, and how much of a
classification a linear probe reads from them. Shared by the experiments that look inside
networks (transfer's layers, autoencoders' codes, the GAN's feature space)."""
import jax
import jax.numpy as jnp
import numpy as np

from research.nn.activations import ACTIVATIONS


def layer_features(model, variables, inputs, layers) -> dict[str, np.ndarray]:
  """Each named layer's output on `inputs` (normalised as the model sees them) after the
  model's activation (ReLU unless set otherwise), spatial maps averaged to one value per
  channel, in batches of 1,000 examples."""
  activation = ACTIVATIONS[getattr(model, 'activation', 'relu')]

  @jax.jit
  def batch(x):
    _, state = model.apply(variables, x, train=False, capture_intermediates=True)
    out = {}
    for name in layers:
      h = activation(state['intermediates'][name]['__call__'][0])
      out[name] = h.mean(axis=(1, 2)) if h.ndim == 4 else h
    return out

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
