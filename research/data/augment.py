"""Jitted data augmentation, one independent random draw per example.

All geometric changes (the flips aside) are one affine resampling: rotation, scaling and
translation (random crop with zero padding is translation by whole pixels) compose into one
matrix applied with bilinear interpolation, zeros outside. Photometric changes follow:
brightness, contrast, Gaussian noise, then cutout (DeVries and Taylor 2017: a square set to
zero, its centre anywhere in the image, so it may be cut by the border). Images are normalized
(zero mean) before this, so the zero fill is the dataset mean. Keys come from research/rng.py:
device-count independent.

A strength may be a traced number (research/train/ensemble.py sweeps one over vmapped
members): an augmentation is then always applied, and strength 0 is the identity. A flip's
strength scales its probability: 1 (True) flips half the images.
"""
import dataclasses

import jax
import jax.numpy as jnp
from jax.scipy import ndimage

from research import rng
from research.errors import UserError


def _on(strength) -> bool:
  """Whether an augmentation runs: a traced strength always does (0 is then its identity)."""
  return isinstance(strength, jax.Array) or bool(strength)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  flip: bool = False          # mirror left-right with probability 1/2
  translate: int = 0          # shift by up to this many whole pixels (= pad + random crop)
  rotate: float = 0.0         # degrees, uniform in [-rotate, rotate]; 180 at most
  scale: float = 0.0          # zoom factor uniform in [1 - scale, 1 + scale]; below 1
  brightness: float = 0.0     # add uniform in [-brightness, brightness]
  contrast: float = 0.0       # scale deviations from the image mean by [1 - c, 1 + c], c <= 1
  noise: float = 0.0          # add Gaussian noise with this standard deviation
  vflip: bool = False         # mirror top-bottom with probability 1/2
  cutout: int = 0             # zero a square of this side, centred anywhere in the image

  @property
  def active(self) -> bool:
    return any(_on(getattr(self, f.name)) for f in dataclasses.fields(self))


# The largest strength of each kind that still means what its name says: a flip's probability
# 0.5 * strength stays a probability; rotations past 180 degrees either way cover the circle
# again; the zoom factor 1 - scale and the contrast factor 1 - contrast must stay positive and
# non-negative, or the image is turned inside out rather than zoomed or flattened.
MOST = {'flip': (1.0, '<='), 'vflip': (1.0, '<='), 'rotate': (180.0, '<='),
        'scale': (1.0, '<'), 'contrast': (1.0, '<=')}


def check_strength(key: str, kind: str, value) -> None:
  """Refuses a strength below 0 or above its kind's MOST, naming `key`."""
  most, rule = MOST.get(kind, (float('inf'), '<'))
  if not (value >= 0 and (value <= most if rule == '<=' else value < most)):
    bound = 'at most' if rule == '<=' else 'below'
    limit = '' if most == float('inf') else f' and {bound} {most:g}'
    raise UserError(f'{key}={value!r} is out of range: must be at least 0{limit}')


def _affine(image_HxWxC, key, cfg: AugmentConfig):
  k_rot, k_scale, k_shift = jax.random.split(key, 3)
  h, w, _ = image_HxWxC.shape
  angle = jnp.deg2rad(cfg.rotate) * jax.random.uniform(k_rot, minval=-1, maxval=1)
  zoom = 1.0 + cfg.scale * jax.random.uniform(k_scale, minval=-1, maxval=1)
  # A traced strength is a float: its whole pixels bound the shift.
  most = jnp.floor(cfg.translate).astype(jnp.int32) if isinstance(cfg.translate, jax.Array) \
      else cfg.translate
  shift_2 = jax.random.randint(k_shift, (2,), -most, most + 1)
  # Output pixel p samples input at center + R(-angle) (p - center) / zoom - shift.
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  rows, cols = jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing='ij')
  cy, cx = (h - 1) / 2, (w - 1) / 2
  dy, dx = rows - cy, cols - cx
  src_y = cy + (cos * dy + sin * dx) / zoom - shift_2[0]
  src_x = cx + (-sin * dy + cos * dx) / zoom - shift_2[1]
  resample = lambda channel: ndimage.map_coordinates(channel, [src_y, src_x], order=1,
                                                     mode='constant', cval=0.0)
  return jax.vmap(resample, in_axes=2, out_axes=2)(image_HxWxC)


def _cutout(image_HxWxC, key, side):
  h, w, _ = image_HxWxC.shape
  centre_2 = jax.random.randint(key, (2,), 0, jnp.array([h, w]))
  rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
  start = centre_2 - side // 2  # a side-wide square [start, start + side) in each axis
  inside = ((rows >= start[0]) & (rows < start[0] + side)
            & (cols >= start[1]) & (cols < start[1] + side))
  return jnp.where(inside[:, :, None], 0.0, image_HxWxC)


def augment_one(image_HxWxC, key, cfg: AugmentConfig):
  k_flip, k_affine, k_bright, k_contrast, k_noise = jax.random.split(key, 5)
  # The later additions draw from keys folded in, so the first five keep their draws.
  k_vflip, k_cutout = jax.random.fold_in(key, 5), jax.random.fold_in(key, 6)
  x = image_HxWxC
  if _on(cfg.flip):
    x = jnp.where(jax.random.bernoulli(k_flip, 0.5 * cfg.flip), x[:, ::-1, :], x)
  if _on(cfg.vflip):
    x = jnp.where(jax.random.bernoulli(k_vflip, 0.5 * cfg.vflip), x[::-1, :, :], x)
  if _on(cfg.translate) or _on(cfg.rotate) or _on(cfg.scale):
    x = _affine(x, k_affine, cfg)
  if _on(cfg.brightness):
    x = x + cfg.brightness * jax.random.uniform(k_bright, minval=-1, maxval=1)
  if _on(cfg.contrast):
    factor = 1.0 + cfg.contrast * jax.random.uniform(k_contrast, minval=-1, maxval=1)
    x = (x - x.mean()) * factor + x.mean()
  if _on(cfg.noise):
    x = x + cfg.noise * jax.random.normal(k_noise, x.shape)
  if _on(cfg.cutout):
    x = _cutout(x, k_cutout, jnp.round(cfg.cutout).astype(jnp.int32))
  return x


def augment_batch(images_BxHxWxC, key, cfg: AugmentConfig, axis_name: str | None = None):
  """Augments this device's examples; `key` is the step's 'augment' stream key."""
  if not cfg.active:
    return images_BxHxWxC
  keys_B = rng.example_keys(key, images_BxHxWxC.shape[0], axis_name)
  return jax.vmap(lambda im, k: augment_one(im, k, cfg))(images_BxHxWxC, keys_B)
