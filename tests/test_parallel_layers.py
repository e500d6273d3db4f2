"""The cnn experiment's layers on 1 and 8 devices, under both backends: VGG's stages with
BatchNorm (whose statistics are what crosses devices) and the vertical flip and cutout
augmentations, a locally connected network that strides instead of pooling into a
global-average-pooling head, and the Inception and Xception networks (parallel branches
concatenated, depthwise-separable convolutions with residuals, both with BatchNorm) at 2 to 8
channels a layer and one module or block per flow, since the compiles cost more than the
steps. Four steps each, SGD with momentum as in tests/test_parallel.py."""
import numpy as np
import pytest

from research.train import config as config_lib
from tests.conftest import short_run

NETWORKS = {
    'vgg': {'model': 'vgg', 'vgg.stages': ((8,), (16,)), 'vgg.dense': (32,),
            'vgg.norm': 'batch', 'vgg.dropout': 0.3, 'augment.vflip': True,
            'augment.cutout': 2},
    'local_strided_gap': {'model': 'cnn', 'cnn.channels': (4, 8), 'cnn.dense': (16,),
                          'cnn.local': True, 'cnn.pool': 'none', 'cnn.stride': 2,
                          'cnn.head': 'gap'},
    'inception': {'model': 'inception', 'inception.stem': 4,
                  'inception.modules': ((2, 2, 4, 2, 2, 2),), 'inception.pool_after': (0,),
                  'inception.norm': 'batch'},
    'xception': {'model': 'xception', 'xception.stem': (4, 4), 'xception.entry': (8,),
                 'xception.middle_blocks': 1, 'xception.exit': (8, 8), 'xception.final': ()},
}


def _losses(options: dict, backend: str, devices: int) -> np.ndarray:
  config = config_lib.replace(
      config_lib.TrainConfig(), backend=backend, num_devices=devices, batch_size=32,
      **{'optim.name': 'momentum', 'optim.learning_rate': 0.05, **options})
  return short_run(config, devices, steps=4)[0]


@pytest.mark.parametrize('network', NETWORKS)
def test_new_layers_train_alike_on_1_and_8_devices_and_both_backends(network):
  reference = _losses(NETWORKS[network], 'shard_map', 1)
  assert np.all(np.isfinite(reference))
  for backend in ('shard_map', 'pmap'):
    np.testing.assert_allclose(_losses(NETWORKS[network], backend, 8), reference, rtol=1e-5,
                               err_msg=f'{network}: {backend} on 8 devices')
