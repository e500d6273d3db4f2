"""Weight initialisers by name: LeCun, Glorot (Xavier) and He (Kaiming), normal or uniform.

All three scale the variance by fan-in and/or fan-out so that signals keep their size through
depth; they differ in which activation they assume (LeCun: SELU/linear, Glorot: tanh/sigmoid,
He: ReLU). The normal variants are truncated, as in jax.nn.initializers.
"""
from jax.nn import initializers


INITIALIZERS = {
    'lecun': initializers.lecun_normal(),
    'lecun_uniform': initializers.lecun_uniform(),
    'glorot': initializers.glorot_normal(),
    'glorot_uniform': initializers.glorot_uniform(),
    'he': initializers.he_normal(),
    'he_uniform': initializers.he_uniform(),
}


def get_initializer(name: str):
  if name not in INITIALIZERS:
    raise ValueError(f'init {name!r} is unknown; choose one of {", ".join(INITIALIZERS)}')
  return INITIALIZERS[name]
