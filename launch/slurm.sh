#!/usr/bin/env bash
# Submits one experiment as a SLURM job: sbatch allocates the nodes, launch/slurm_job.sbatch
# runs `srun`, which starts one process per node or per GPU; jax.distributed reads SLURM's
# variables in each (research/train/distributed.py) and the processes train as one.
#   launch/slurm.sh [--dry-run] [--nodes N] [--gpus-per-node G] [--per node|gpu] [--time T]
#                   [--partition P] [--account A] NAME [--workdir DIR] [--quick] [key=value ...]
# A sweep is one job array (python -m launch.sweep slurm FILE [these options] builds it):
#   launch/slurm.sh [options] --array 0-11 --sweep FILE
# --per gpu (default): G processes per node, one GPU each (JAX gives each its local GPU).
# --per node: one process per node driving all G GPUs.
# JAX_PLATFORMS=cuda (or the caller's JAX_PLATFORMS): a job on a node without a working CUDA
# JAX fails at start instead of training on the CPUs.
# SLURM sends SIGTERM 120 s before the time limit (--signal): the run checkpoints and exits 0,
# and the same command, submitted again, resumes from the workdir (use an absolute --workdir on a
# shared filesystem). --requeue lets a preempted job go back in the queue and resume.
set -euo pipefail
cd "$(dirname "$0")/.."
LAUNCHER=launch/slurm.sh
source launch/common.sh

dry_run=0 nodes=1 gpus=1 per=gpu time=04:00:00 extra=() sweep=
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage;;
    --dry-run) dry_run=1; shift;;
    --nodes) option_value "$1" $#; positive_int --nodes "$2"; nodes="$2"; shift 2;;
    --gpus-per-node) option_value "$1" $#; positive_int --gpus-per-node "$2"; gpus="$2"; shift 2;;
    --per) option_value "$1" $#; [[ "$2" =~ ^(node|gpu)$ ]] || die "--per takes node or gpu, got '$2'"
           per="$2"; shift 2;;
    --time) option_value "$1" $#; time="$2"; shift 2;;
    --partition|--account) option_value "$1" $#; extra+=("$1=$2"); shift 2;;
    --array) option_value "$1" $#; extra+=("--array=$2"); shift 2;;
    --sweep) option_value "$1" $#; sweep="$2"; shift 2;;
    *) break;;
  esac
done
if [ -n "$sweep" ]; then
  [ $# -eq 0 ] || die "--sweep FILE runs the sweep's own experiment; drop '$*'"
  set -- --sweep "$sweep"
  name="sweep-$(basename "$sweep" .py)"
else
  need_experiment "$@"
  name="$1"
fi

tasks_per_node=$([ "$per" = gpu ] && echo "$gpus" || echo 1)
command=(sbatch "--job-name=research-$name" "--nodes=$nodes" "--ntasks-per-node=$tasks_per_node"
         "--gpus-per-node=$gpus" "--time=$time" --signal=TERM@120 --requeue
         "--output=runs/slurm/%x-%j.out" "--export=ALL,JAX_PLATFORMS=${JAX_PLATFORMS:-cuda},JAX_COMPILATION_CACHE_DIR=$CACHE_DIR,PYTHON=$PYTHON"
         "${extra[@]}" launch/slurm_job.sbatch "$@")
if [ "$dry_run" -eq 1 ]; then quoted "${command[@]}"; exit 0; fi
if ! command -v sbatch > /dev/null; then
  echo "error: sbatch not found: SLURM is not installed on this machine; --dry-run prints the command" >&2
  exit 2
fi
mkdir -p runs/slurm
exec "${command[@]}"
