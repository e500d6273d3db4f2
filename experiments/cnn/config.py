"""The cnn experiment's options: defaults (the full preset), types and descriptions."""
import dataclasses

SECTION_NAMES = ('cnn_vs_dense', 'pooling_and_head', 'architectures', 'features',
                 'augmentation')
KINDS = ('flip', 'vflip', 'translate', 'rotate', 'scale', 'brightness', 'contrast', 'noise',
         'cutout')


@dataclasses.dataclass(frozen=True)
class CnnVsDense:
  shifts: tuple[int, ...] = (0, 1, 2, 3, 4)  # test images moved this many pixels (4 directions)
  shift_examples: int = 2000      # test images shifted (the first ones; 0 = all)


@dataclasses.dataclass(frozen=True)
class PoolingAndHead:
  pools: tuple[str, ...] = ('max', 'avg', 'sum', 'none')  # 'none': stride-2 convolutions
  dense_layers: tuple[int, ...] = (0, 1, 2)  # flatten heads with this many hidden layers
  gap: bool = True                # and global average pooling straight into the logits


@dataclasses.dataclass(frozen=True)
class Architectures:
  models: tuple[str, ...] = ('cnn', 'vgg', 'inception', 'xception', 'resnet')
  epochs: int = 0                 # every network's budget (0: the experiment's epochs)
  vgg_stages: tuple[tuple[int, ...], ...] = ((32, 32), (64, 64), (128, 128))  # convs per stage
  vgg_dense: tuple[int, ...] = (256,)
  inception_stem: int = 32
  inception_modules: tuple[tuple[int, ...], ...] = ((16, 16, 24, 4, 8, 8),
                                                    (24, 24, 32, 4, 12, 12))
  xception_entry: tuple[int, ...] = (32, 64)  # entry-flow blocks, each halving the image
  xception_middle_blocks: int = 2
  xception_exit: tuple[int, int] = (64, 96)  # the exit block's two separable convolutions
  xception_final: tuple[int, ...] = (128,)   # separable convolutions before the pooling head
  resnet_depth: int = 20          # 6n + 2 (He et al. 2016's CIFAR networks)


@dataclasses.dataclass(frozen=True)
class Features:
  grid: int = 4                   # a feature map is averaged over grid x grid regions
  probe_examples: int = 10000     # training examples the probes fit (0 = all)
  probe_max_iter: int = 300       # the logistic regression's iterations (scikit-learn)


@dataclasses.dataclass(frozen=True)
class Augmentation:
  train_examples: tuple[int, ...] = (1000, 5000)  # small training subsets, stratified
  model: str = 'cnn'              # the reference CNN, or resnet (architectures.resnet_depth)
  kinds: tuple[str, ...] = KINDS  # each alone at its strengths, then the best combination
  flip: tuple[float, ...] = (1.0,)       # 1: mirror half the images left-right
  vflip: tuple[float, ...] = (1.0,)      # 1: mirror half the images top-bottom
  translate: tuple[float, ...] = (2.0, 4.0, 8.0)  # most whole pixels shifted
  rotate: tuple[float, ...] = (10.0, 30.0, 90.0)  # most degrees either way
  scale: tuple[float, ...] = (0.1, 0.3)           # zoom in [1 - s, 1 + s]
  brightness: tuple[float, ...] = (0.3, 1.0)      # added, in units of the pixels' std
  contrast: tuple[float, ...] = (0.3, 0.8)        # deviations scaled by [1 - c, 1 + c]
  noise: tuple[float, ...] = (0.3, 1.0)           # Gaussian std, in units of the pixels' std
  cutout: tuple[float, ...] = (8.0, 16.0)         # the zeroed square's side, pixels
  epochs: int = 30                # more epochs than the other sections: small subsets
  batch_size: int = 64
  learning_rate: float = 1e-3     # Adam, cosine decay


@dataclasses.dataclass(frozen=True)
class CnnConfig:
  """Fashion-MNIST, 10,000 training examples, 10 epochs per network (hours on a CPU;
  docs/cnn.md)."""
  seed: int = 0                   # the first seed; members use seed, seed + 1, ...
  seeds: int = 3                  # seeds per setting: means with 95% intervals
  sections: tuple[str, ...] = SECTION_NAMES  # which sections to run, in this order
  data: str = 'fashion_mnist'     # any image data set of research/data
  data_dir: str = ''              # where its files are; '' = default places
  download: bool = True           # fetch missing files when a network exists
  fast_compile: bool = False      # compile with LLVM -O1: about half the compile time
  val_fraction: float = 0.1       # of the training examples, held out for choosing
  train_examples: int = 10000     # training examples of sections 1-4, stratified (0 = all)
  epochs: int = 10                # of sections 1-4: Adam with a cosine decay to 0 over them
  batch_size: int = 128
  rates: tuple[float, ...] = (1e-3, 3e-3)  # learning rates, chosen per network on validation
  epochs_per_call: int = 5        # epochs per compiled call and checkpoint (0 = all)
  channels: tuple[int, ...] = (32, 64)  # the reference CNN: a 3 x 3 convolution per stage
  dense: tuple[int, ...] = (128,)       # and its fully connected layers before the logits
  cnn_vs_dense: CnnVsDense = CnnVsDense()  # convolution, locally connected, MLP
  pooling_and_head: PoolingAndHead = PoolingAndHead()  # pooling kinds; heads
  architectures: Architectures = Architectures()  # VGG, Inception, Xception, ResNet
  features: Features = Features()  # the first filters; a linear probe on every layer
  augmentation: Augmentation = Augmentation()  # each augmentation alone, then combined
