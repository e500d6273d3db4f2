"""The throughput experiment's options: defaults (the full preset), types and descriptions."""
import dataclasses

from experiments.throughput.workloads import WORKLOADS

SECTION_NAMES = ('steps', 'compile', 'overheads')


@dataclasses.dataclass(frozen=True)
class Overheads:
  workload: str = 'mlp_4x512'          # the workload whose loop and checkpoints are timed
  steps: int = 500                     # steps per timed run (at least 2 x steps_per_call)
  checkpoint_every: int = 250          # the checkpointed run's interval
  repeats: int = 5                     # alternated rounds of bare steps and both runs


@dataclasses.dataclass(frozen=True)
class ThroughputConfig:
  seed: int = 0                        # of the models' initialisation and the data order
  sections: tuple[str, ...] = SECTION_NAMES  # which sections to run, in this order
  workloads: tuple[str, ...] = tuple(WORKLOADS)  # the models timed, at their data's shapes
  batch_size: int = 128                # examples per step, for every contender
  steps_per_call: int = 50             # steps per dispatch for the scanned contender
  scan_workloads: tuple[str, ...] = ('tiny_mlp', 'mlp_4x512')  # convolutions scan slowly on CPU
  torch: bool = True                   # compare with PyTorch where it is installed
  repeats: int = 7                     # alternated timed repeats; the median is reported
  min_repeat_s: float = 0.5            # each repeat runs at least this long
  matmul_size: int = 2048              # the float32 matrix multiply that measures the machine
  overheads: Overheads = Overheads()   # the training loop's and checkpoints' costs
