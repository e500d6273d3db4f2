"""The dropout experiment's options: defaults (the full preset), types and descriptions."""
import dataclasses

from experiments.dropout import cnn_variants, lstm_variants, mlp_variants

SECTION_NAMES = ('mlp_variants', 'cnn_variants', 'lstm_variants', 'stochastic_depth',
                 'mc_dropout')


@dataclasses.dataclass(frozen=True)
class MlpVariants:
  variants: tuple[str, ...] = mlp_variants.VARIANTS  # none and the dropout kinds compared
  rates: tuple[float, ...] = (0.1, 0.3, 0.5)  # drop rates of each kind
  train_examples: int = 2000           # the fixed training subset (overfitting shows)
  depth: int = 2                       # hidden layers
  width: int = 800                     # hidden units per layer
  epochs: int = 200                    # passes over the subset
  batch_size: int = 100                # examples per step
  learning_rate: float = 1e-3          # Adam's learning rate
  epochs_per_call: int = 50            # epochs per compiled call and checkpoint; 0 = all
  vmap_members: int = 0                # members vmapped at a time; 0 = all
  time_vmap: bool = True               # also time the standard group one member at a time


@dataclasses.dataclass(frozen=True)
class CnnVariants:
  data: str = 'fashion_mnist'          # this section's dataset
  data_dir: str = ''                   # where its files are; '' = default places
  variants: tuple[str, ...] = cnn_variants.VARIANTS  # none, standard, spatial, dropblock
  rates: tuple[float, ...] = (0.1, 0.3)  # drop rates on the convolutional features
  train_examples: int = 5000           # the fixed training subset
  channels: tuple[int, ...] = (32, 64)  # convolution channels per stage
  dense: tuple[int, ...] = (256,)      # fully connected units
  dropblock_size: int = 3              # DropBlock's block side
  epochs: int = 50                     # passes over the subset
  batch_size: int = 100                # examples per step
  learning_rate: float = 1e-3          # Adam's learning rate
  epochs_per_call: int = 10            # epochs per compiled call and checkpoint; 0 = all
  vmap_members: int = 0                # members vmapped at a time; 0 = all


@dataclasses.dataclass(frozen=True)
class LstmVariants:
  variants: tuple[str, ...] = lstm_variants.VARIANTS  # none, naive, variational
  rates: tuple[float, ...] = (0.25, 0.5)  # drop rates
  train_examples: int = 5000           # the fixed training subset
  hidden: int = 128                    # LSTM units
  layers: int = 1                      # stacked LSTM layers
  epochs: int = 40                     # passes over the subset
  batch_size: int = 100                # examples per step
  learning_rate: float = 2e-3          # Adam's learning rate
  epochs_per_call: int = 10            # epochs per compiled call and checkpoint; 0 = all
  vmap_members: int = 0                # members vmapped at a time; 0 = all


@dataclasses.dataclass(frozen=True)
class StochasticDepth:
  data: str = 'cifar10'                # this section's dataset
  data_dir: str = ''                   # where its files are; '' = default places
  depth: int = 110                     # the ResNet's depth (6n + 2)
  rates: tuple[float, ...] = (0.0, 0.5)  # p_L, the last block's drop probability
  train_examples: int = 0              # a training subset; 0 = all
  epochs: int = 500                    # the paper's 500 epochs
  batch_size: int = 128                # examples per step
  learning_rate: float = 0.1           # Nesterov SGD's initial rate
  weight_decay: float = 1e-4           # L2 weight decay
  decay_at: tuple[float, ...] = (0.5, 0.75)  # fractions of training where the rate drops 10x
  flip: bool = True                    # horizontal flips
  translate: int = 4                   # shifts of up to this many pixels
  epochs_per_call: int = 10            # epochs per compiled call and checkpoint; 0 = all
  vmap_members: int = 0                # members vmapped at a time; 0 = all


@dataclasses.dataclass(frozen=True)
class McDropout:
  variant: str = 'standard'            # which mlp_variants dropout networks are sampled
  rate: float = 0.5                    # at which rate
  samples: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100)  # test-time passes T averaged


@dataclasses.dataclass(frozen=True)
class DropoutConfig:
  """Fashion-MNIST subsets on a CPU or GPU; CIFAR-10 for the ResNet (a GPU run: the
  paper's 500 epochs of ResNet-110)."""
  seed: int = 0                        # the first member's seed
  seeds: int = 3                       # members per rate: seeds seed, seed + 1, ...
  sections: tuple[str, ...] = SECTION_NAMES  # which sections to run, in this order
  fast_compile: bool = False           # compile with LLVM -O1: about half the compile time
  data: str = 'fashion_mnist'          # for the MLP, LSTM and MC dropout sections
  data_dir: str = ''                   # where its files are; '' = default places
  download: bool = True                # fetch missing files when a network exists
  mlp_variants: MlpVariants = MlpVariants()  # the dropout family on an MLP
  cnn_variants: CnnVariants = CnnVariants()  # dropout on convolutional features
  lstm_variants: LstmVariants = LstmVariants()  # naive against variational dropout
  stochastic_depth: StochasticDepth = StochasticDepth()  # residual branches dropped
  mc_dropout: McDropout = McDropout()  # Monte Carlo dropout's calibration
