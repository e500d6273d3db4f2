"""The gan experiment's options: defaults (the full preset), types and descriptions."""
import dataclasses

SECTION_NAMES = ('losses', 'quality', 'as_augmentation')


@dataclasses.dataclass(frozen=True)
class Classifier:
  """The network whose hidden features score the samples (trained here on the real data)."""
  depth: int = 2                  # hidden layers of the MLP; the last one is the feature space
  width: int = 256
  epochs: int = 10
  batch_size: int = 128
  learning_rate: float = 1e-3     # Adam


@dataclasses.dataclass(frozen=True)
class Losses:
  d_steps: tuple[int, ...] = (0, 10, 100, 1000)  # discriminator-only steps at which both
  # generator gradients are measured (the discriminator winning ever more easily)


@dataclasses.dataclass(frozen=True)
class Quality:
  samples: int = 2000             # generated per member for the Fréchet distance and histogram
  grid: int = 10                  # samples per row of the grids over training


@dataclasses.dataclass(frozen=True)
class Augmentation:
  examples_per_class: int = 30    # the small labelled set (the first of each class)
  generated_per_class: int = 100  # class-conditional samples added per class
  gan_epochs: int = 300           # the conditional GAN's, on the small set
  classifier_epochs: int = 100    # the classifier's, on either training set
  batch_size: int = 32


@dataclasses.dataclass(frozen=True)
class GanConfig:
  """Fashion-MNIST, DCGAN-style players, 30 epochs."""
  seed: int = 0                   # the first seed; members use seed, seed + 1, ...
  seeds: int = 3                  # seeds per setting: means with 95% intervals
  sections: tuple[str, ...] = SECTION_NAMES  # which sections to run, in this order
  data: str = 'fashion_mnist'     # any image data set of research/data
  data_dir: str = ''              # where its files are; '' = default places
  download: bool = True           # fetch missing files when a network exists
  fast_compile: bool = False      # compile with LLVM -O1: about half the compile time
  latent: int = 64                # the generator's input z ~ N(0, I)
  kind: str = 'dcgan'             # dcgan (convolutional players) or mlp
  generator: tuple[int, ...] = (128, 64)     # its channels (dcgan) or hidden layers (mlp)
  discriminator: tuple[int, ...] = (64, 128)  # its channels (dcgan) or hidden layers (mlp)
  epochs: int = 30                # of the GAN runs
  snapshots: int = 6              # evaluations and sample grids over training (and at step 0)
  batch_size: int = 64
  learning_rate: float = 2e-4     # Adam for both players, as DCGAN (Radford et al. 2016)
  b1: float = 0.5                 # Adam's first-moment decay, as DCGAN
  classifier: Classifier = Classifier()  # the feature space of the scores
  losses: Losses = Losses()       # minimax against non-saturating
  quality: Quality = Quality()    # scores over training, mode collapse, grids
  as_augmentation: Augmentation = Augmentation()  # a small labelled set, with and without samples
