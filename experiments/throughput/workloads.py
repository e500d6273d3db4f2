"""The four workloads of the throughput experiment: our model config and its data.

Each is one of the `train` experiment's models with the options below, trained with Adam
(lr 1e-3) and cross-entropy at batch 128: the same model, batch and optimizer as the PyTorch
reference in torch_reference.py.
"""
import dataclasses

from research.data import load_dataset
from research.data.synthetic import load_synthetic


@dataclasses.dataclass(frozen=True)
class Workload:
  name: str
  description: str
  model: str
  options: dict
  data: str  # 'digits', 'synthetic28' (28x28x1) or 'synthetic32' (32x32x3)

  def dataset(self):
    if self.data == 'digits':
      return load_dataset('digits')
    size, channels = (28, 1) if self.data == 'synthetic28' else (32, 3)
    return load_synthetic(image_size=size, channels=channels, num_train=2560, num_test=256)


WORKLOADS = {w.name: w for w in (
    Workload('tiny_mlp', 'MLP 64-128-10 on digits (per-step overhead)', 'mlp',
             dict(depth=1, width=128), 'digits'),
    Workload('mlp_4x512', 'MLP 784-512x4-10 (matrix multiplies)', 'mlp',
             dict(depth=4, width=512), 'synthetic28'),
    Workload('cnn', 'CNN 28x28x1: conv32, pool, conv64, pool, dense256, dense10', 'cnn',
             dict(channels=(32, 64), dense=(256,), kernel_size=3, pool='max'), 'synthetic28'),
    Workload('resnet20', 'CIFAR ResNet-20 (BatchNorm) on 32x32x3', 'resnet',
             dict(depth=20), 'synthetic32'),
)}
