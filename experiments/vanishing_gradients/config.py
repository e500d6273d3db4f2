"""The vanishing_gradients experiment's options: defaults (the full preset), types and
descriptions."""
import dataclasses

from research.models.mlp import SKIPS

SECTION_NAMES = ('init_profiles', 'depth_training', 'normalisation', 'resnet_cifar')


@dataclasses.dataclass(frozen=True)
class InitProfiles:
  depths: tuple[int, ...] = (4, 8, 16, 32, 64)   # MLP depths, fitted together
  activations: tuple[str, ...] = ('sigmoid', 'tanh', 'relu')  # hidden activations
  inits: tuple[str, ...] = ('glorot', 'he')      # weight initialisers
  skips: tuple[str, ...] = SKIPS                 # none, residual, highway
  width: int = 128                               # hidden width
  batch: int = 256                               # training images the gradients are taken on


@dataclasses.dataclass(frozen=True)
class DepthTraining:
  depths: tuple[int, ...] = (8, 16, 32, 64)      # MLP depths, one training run each
  skips: tuple[str, ...] = SKIPS                 # none, residual, highway
  activation: str = 'sigmoid'                    # hidden activation
  weight_init: str = 'glorot'                    # weight initialiser
  width: int = 128                               # hidden width
  steps: int = 3000                              # Adam steps per run
  batch_size: int = 128                          # examples per step
  learning_rate: float = 1e-3                    # Adam's learning rate
  diagnostics_every: int = 100                   # steps between gradient/saturation probes
  log_every: int = 50                            # steps between train-metric records


@dataclasses.dataclass(frozen=True)
class Normalisation:
  depths: tuple[int, ...] = (16, 32, 64)         # depths, with depth_training's settings
  skips: tuple[str, ...] = ('none', 'residual')  # skips combined with each norm
  norms: tuple[str, ...] = ('batch', 'layer')    # the normalisations compared


@dataclasses.dataclass(frozen=True)
class ResnetCifar:
  data: str = 'cifar10'                          # the dataset (CIFAR-10 in the paper)
  data_dir: str = ''                             # where its files are; '' = default places
  depths: tuple[int, ...] = (20, 56)             # 6n + 2 depths
  blocks: tuple[str, ...] = ('plain', 'residual')  # plain twins against ResNets
  steps: int = 64000                             # iterations (the paper's 64k)
  batch_size: int = 128                          # the paper's batch
  learning_rate: float = 0.1                     # the paper's initial rate
  boundaries: tuple[int, ...] = (32000, 48000)   # the rate divided by 10 at these steps
  weight_decay: float = 1e-4                     # the paper's weight decay
  flip: bool = True                              # horizontal flips
  translate: int = 4                             # shifts of up to this many pixels
  normalize: str = 'pixel_mean'                  # He et al.'s per-pixel mean, or channel
  warmup_steps: int = 0                          # ResNet-110's warm-up: 400 in the paper
  warmup_factor: float = 0.1                     # the warm-up's fraction of the rate
  log_every: int = 100                           # steps between train-metric records
  eval_every: int = 4000                         # steps between test evaluations
  checkpoint_every: int = 4000                   # steps between checkpoints


@dataclasses.dataclass(frozen=True)
class VanishingGradientsConfig:
  """Fashion-MNIST for the MLPs, CIFAR-10 with the paper's recipe for
  the ResNets (a GPU run)."""
  seed: int = 0                                  # of every run's initialisation and data
  sections: tuple[str, ...] = SECTION_NAMES      # which sections to run, in this order
  data: str = 'fashion_mnist'                    # the MLP sections' dataset
  data_dir: str = ''                             # where its files are; '' = default places
  download: bool = True                          # fetch missing files when a network exists
  backend: str = 'shard_map'                     # the training runs' parallel backend
  num_devices: int = 0                           # their devices; 0 = all local devices
  init_profiles: InitProfiles = InitProfiles()   # gradient norms at initialisation
  depth_training: DepthTraining = DepthTraining()  # deep MLPs trained plain and with skips
  normalisation: Normalisation = Normalisation()   # the same with BatchNorm and LayerNorm
  resnet_cifar: ResnetCifar = ResnetCifar()      # He et al.'s CIFAR-10 experiment
