"""The PyTorch reference: the same models, batch and optimizer, trained in eager mode, the way
a PyTorch user would write them, on JAX's device and with its float32 rounding (`placement`). PyTorch is an optional extra (`make torch`); without it the
experiment reports our numbers alone."""
import numpy as np


def available() -> bool:
  try:
    import torch  # noqa: F401
  except ImportError:
    return False
  return True


def version() -> str | None:
  if not available():
    return None
  import torch
  return torch.__version__


def placement(jax_backend: str, jax_matmul_precision: str | None,
              cuda_available: bool) -> tuple[str, bool]:
  """(PyTorch's device, whether its float32 matmuls and convolutions may use TF32): the same
  device as JAX's, and the same rounding. JAX on an NVIDIA GPU lets XLA use TF32 for float32
  products unless the precision is set to 'highest'; PyTorch's own defaults differ (TF32 for
  convolutions, not for matmuls), so both are set to match."""
  if jax_backend == 'gpu' and cuda_available:
    return 'cuda', jax_matmul_precision not in ('highest', 'float32')
  return 'cpu', False


def _resnet20(nn, num_classes: int):
  """He et al.'s CIFAR ResNet-20 with option-A shortcuts, as research/models/resnet.py."""
  import torch

  class Block(nn.Module):
    def __init__(self, cin, cout, stride):
      super().__init__()
      self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
      self.bn1 = nn.BatchNorm2d(cout)
      self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
      self.bn2 = nn.BatchNorm2d(cout)
      self.stride, self.pad = stride, cout - cin

    def forward(self, x):
      out = torch.relu(self.bn1(self.conv1(x)))
      out = self.bn2(self.conv2(out))
      shortcut = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
      if self.pad:  # option A: zero-padded channels
        low = self.pad // 2
        shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, low, self.pad - low))
      return torch.relu(out + shortcut)

  layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
  cin = 16
  for cout, stride in ((16, 1), (32, 2), (64, 2)):
    for i in range(3):
      layers.append(Block(cin, cout, stride if i == 0 else 1))
      cin = cout
  return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))


def build(workload, image_shape, num_classes: int):
  import torch.nn as nn
  h, w, c = image_shape
  if workload.model == 'mlp':
    width, depth = workload.options['width'], workload.options['depth']
    layers, fan_in = [nn.Flatten()], h * w * c
    for _ in range(depth):
      layers += [nn.Linear(fan_in, width), nn.ReLU()]
      fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, num_classes))
  if workload.model == 'cnn':
    (c1, c2), (d,) = workload.options['channels'], workload.options['dense']
    return nn.Sequential(
        nn.Conv2d(c, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(c2 * (h // 4) * (w // 4), d), nn.ReLU(), nn.Linear(d, num_classes))
  if workload.model == 'resnet':
    return _resnet20(nn, num_classes)
  raise ValueError(workload.model)


class Trainer:
  """Adam (lr 1e-3) on cross-entropy; batch t is a slice of a fixed permutation of the data,
  gathered from tensors in memory as our pipeline gathers from device-resident arrays."""

  def __init__(self, workload, dataset, batch_size: int, seed: int = 0):
    import jax
    import torch
    torch.manual_seed(seed)
    self.torch = torch
    device, tf32 = placement(jax.default_backend(), jax.config.jax_default_matmul_precision,
                             torch.cuda.is_available())
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    self.device = device
    self.model = build(workload, dataset.image_shape, dataset.num_classes).to(device)
    self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
    self.loss = torch.nn.CrossEntropyLoss()
    images = (dataset.train_images.astype(np.float32) - dataset.mean) / dataset.std
    self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device)
    self.labels = torch.from_numpy(dataset.train_labels.astype(np.int64)).to(device)
    self.order = torch.from_numpy(
        np.random.default_rng(seed).permutation(len(self.labels))).to(device)
    self.batch_size, self.step_index = batch_size, 0

  def steps(self, count: int) -> float:
    """Runs `count` steps; returns the last loss (a host sync, as `loss.item()` would be)."""
    per_epoch = len(self.labels) // self.batch_size
    for _ in range(count):
      slot = self.step_index % per_epoch
      index = self.order[slot * self.batch_size:(slot + 1) * self.batch_size]
      self.optimizer.zero_grad(set_to_none=True)
      loss = self.loss(self.model(self.images[index]), self.labels[index])
      loss.backward()
      self.optimizer.step()
      self.step_index += 1
    return loss.item()

  def num_params(self) -> int:
    return sum(p.numel() for p in self.model.parameters())
