"""Launchers (local.sh, slurm.sh, tpu_vm.sh) and sweeps (python -m launch.sweep)."""
