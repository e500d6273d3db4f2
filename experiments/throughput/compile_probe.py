"""Run in a fresh process by compile_time.py: builds one workload's train step and prints, as
JSON, the seconds from this process's start to its first step (compile included)."""
import json
import sys
import time

START = time.time()

from research import runtime  # noqa: E402

runtime.configure()  # as the CLI does, before JAX starts
from experiments.throughput import ours  # noqa: E402
from experiments.throughput.workloads import WORKLOADS  # noqa: E402

if __name__ == '__main__':
  workload = WORKLOADS[sys.argv[1]]
  trainer = ours.Trainer(workload, workload.dataset(), int(sys.argv[2]), 1)
  built = time.time()
  trainer.steps(1)
  print(json.dumps({'build_s': built - START, 'first_step_s': time.time() - built}))
