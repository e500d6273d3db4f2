"""The autoencoders experiment's options: defaults (the full preset), types and descriptions."""
import dataclasses

SECTION_NAMES = ('linear_vs_pca', 'depth_and_bottleneck', 'denoising', 'reconstruction_loss')


@dataclasses.dataclass(frozen=True)
class LinearVsPca:
  codes: tuple[int, ...] = (8, 32)  # bottleneck sizes k, each against PCA's top k components
  epochs: int = 30                # Adam with a cosine decay to 0 over them
  batch_size: int = 128
  rates: tuple[float, ...] = (3e-3, 1e-2, 3e-2)  # learning rates, chosen on validation


@dataclasses.dataclass(frozen=True)
class DepthAndBottleneck:
  codes: tuple[int, ...] = (2, 8, 32, 128)  # bottleneck sizes
  encoders: tuple[tuple[int, ...], ...] = ((512,), (512, 256))  # hidden layers; () = linear
  epochs: int = 30
  batch_size: int = 128
  rates: tuple[float, ...] = (1e-3, 3e-3)  # chosen on validation, per network and code size


@dataclasses.dataclass(frozen=True)
class Denoising:
  code: int = 32                  # the bottleneck of every denoising autoencoder
  encoder: tuple[int, ...] = (512,)  # its hidden layers (the decoder mirrors them)
  gaussian: tuple[float, ...] = (0.0, 0.5, 1.0)  # noise std, in units of the pixels' std
  mask: tuple[float, ...] = (0.25, 0.5)  # fraction of the values set to the mean (0)
  eval_gaussian: float = 0.5      # the noise std of the corrupted test images
  eval_mask: float = 0.5          # the masked fraction of the corrupted test images
  epochs: int = 30
  batch_size: int = 128
  learning_rate: float = 1e-3     # Adam, cosine decay
  probe_examples: int = 10000     # training codes the linear probe fits (0 = all)
  probe_max_iter: int = 500       # the logistic regression's iterations (scikit-learn)


@dataclasses.dataclass(frozen=True)
class ReconstructionLoss:
  losses: tuple[str, ...] = ('mse', 'mae', 'binary_cross_entropy')  # each trains one model
  code: int = 32                  # the bottleneck
  encoder: tuple[int, ...] = (512,)  # hidden layers (the decoder mirrors them)
  epochs: int = 30
  batch_size: int = 128
  rates: tuple[float, ...] = (1e-3, 3e-3, 1e-2)  # Adam, cosine decay; each loss chooses on val


@dataclasses.dataclass(frozen=True)
class AutoencodersConfig:
  """Fashion-MNIST, 30 epochs per autoencoder (an hour or more on a CPU)."""
  seed: int = 0                   # the first seed; members use seed, seed + 1, ...
  seeds: int = 3                  # seeds per setting: means with 95% intervals
  sections: tuple[str, ...] = SECTION_NAMES  # which sections to run, in this order
  data: str = 'fashion_mnist'     # any image data set of research/data
  data_dir: str = ''              # where its files are; '' = default places
  download: bool = True           # fetch missing files when a network exists
  fast_compile: bool = False      # compile with LLVM -O1: about half the compile time
  val_fraction: float = 0.1       # of the training examples, held out for choosing rates
  epochs_per_call: int = 5        # epochs per compiled call and checkpoint (0 = all)
  linear_vs_pca: LinearVsPca = LinearVsPca()  # Baldi and Hornik's linear autoencoder
  depth_and_bottleneck: DepthAndBottleneck = DepthAndBottleneck()  # deep against PCA
  denoising: Denoising = Denoising()  # corrupted inputs, clean targets, and the codes' use
  reconstruction_loss: ReconstructionLoss = ReconstructionLoss()  # MSE, MAE, binary CE
