"""Models by name, built from the matching config group (`mlp.*`, `cnn.*`, `resnet.*`,
`vgg.*`, `inception.*`, `xception.*`,
`lstm.*`, `autoencoder.*`, `gan.*`). Every model is called as model(images, train, progress), progress
being the fraction of training done (for scheduled regularisers such as DropBlock)."""
import flax.linen as nn

from research.models.autoencoder import Autoencoder
from research.models.cnn import CNN
from research.models.gan import GAN
from research.models.inception import Inception
from research.models.lstm import LSTMClassifier
from research.models.mlp import MLP
from research.models.resnet import CifarResNet
from research.models.vgg import VGG
from research.models.xception import Xception

MODELS = {'mlp': MLP, 'cnn': CNN, 'resnet': CifarResNet, 'vgg': VGG, 'inception': Inception,
          'xception': Xception, 'lstm': LSTMClassifier, 'autoencoder': Autoencoder, 'gan': GAN}


def build_model(name: str, options: dict, num_classes: int,
                axis_name: str | None = None) -> nn.Module:
  """`options` are the fields of the model's config group, e.g. {'depth': 4, 'width': 128}."""
  if name not in MODELS:
    raise ValueError(f'{name!r} is not a model; choose one of {", ".join(MODELS)}')
  return MODELS[name](num_classes=num_classes, axis_name=axis_name, **options)
