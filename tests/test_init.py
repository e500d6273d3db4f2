"""The initialisation program (research/train/state.py) compiles with its own CPU settings and
gives, bit for bit, the values XLA's default settings give: for every initialiser the models
use, one member at a time (a `train` run) and vmapped over members (an ensemble), and end to end
for a model with BatchNorm and sown activations."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

from conftest import REPO, subprocess_xla_flags
from research.models import build_model
from research.train import state as state_lib

# Run where XLA compiles with its own defaults (not the test suite's, tests/conftest.py): the
# reference is what a user's program computes.
SCRIPT = '''
import jax, jax.numpy as jnp, numpy as np
from jax.nn import initializers
from research.models import build_model
from research.nn.initializers import INITIALIZERS
from research.train import state as state_lib

EVERY = {**INITIALIZERS, 'orthogonal': initializers.orthogonal()}  # the LSTM's recurrent kernel
SHAPES = [(3, 3, 2, 8), (12, 10)]

def draw(key):
  keys = jax.random.split(key, len(EVERY) * len(SHAPES))
  return [init(k, shape) for k, (init, shape) in
          zip(keys, [(init, s) for init in EVERY.values() for s in SHAPES])]

one = lambda key: draw(key)
members = lambda seeds: jax.vmap(lambda s: draw(jax.random.key(s)))(seeds)
for name, fn, arg in [('one', one, jax.random.key(3)), ('members', members, jnp.arange(2))]:
  plain = jax.jit(fn)(arg)
  ours = jax.jit(fn, compiler_options=state_lib.CPU_INIT_COMPILER_OPTIONS)(arg)
  assert all(np.array_equal(a, b) for a, b in zip(plain, ours)), name

model = build_model('mlp', dict(depth=1, width=16, activation='relu', weight_init='he',
                                norm='batch', skip='none', dropout_kind='standard'), 10)
plain = jax.jit(lambda key: model.init(key, jnp.zeros((1, 8, 8, 1)), train=False))(
    jax.random.key(7))
ours = state_lib.init_variables(model, 7, (8, 8, 1))
assert sorted(plain) == ['activations', 'batch_stats', 'params'], sorted(plain)
assert sorted(ours) == ['batch_stats', 'params'], sorted(ours)
assert all(jax.tree.leaves(jax.tree.map(np.array_equal, {c: plain[c] for c in ours}, ours)))
print('bit-identical')
'''


def test_the_init_programs_settings_give_xlas_default_values():
  done = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, capture_output=True,
                        text=True, timeout=300,
                        env={**os.environ,
                             'XLA_FLAGS': subprocess_xla_flags(as_users=True)})
  assert done.returncode == 0, done.stderr[-1500:]
  assert done.stdout.strip() == 'bit-identical'


def test_the_init_program_does_not_run_the_forward_pass():
  """The models sow activations for diagnostics; init leaves them out, so the compiled program
  has no convolution left (a forward pass kept alive would compile for nothing)."""
  model = build_model('cnn', dict(channels=(4,), dense=(8,)), 10)
  dummy = jnp.zeros((1, 8, 8, 1))
  text = lambda fn: jax.jit(fn).lower(jax.random.key(0)).compile().as_text()
  assert 'convolution(' in text(lambda key: model.init(key, dummy, train=False))
  assert 'convolution(' not in text(lambda key: state_lib.initial_variables(model, key, dummy))
  variables = state_lib.init_variables(model, 0, (8, 8, 1))
  assert list(variables) == ['params'] and np.all(np.isfinite(
      jax.tree.leaves(variables)[0]))
