#!/usr/bin/env bash
# Runs one experiment on every worker of a Cloud TPU VM pod slice at once. Each worker is one
# jax.distributed process; RESEARCH_DISTRIBUTED=auto lets JAX find the others from the TPU
# metadata (research/train/distributed.py). JAX_PLATFORMS=tpu: a worker without libtpu (make
# setup-tpu) fails at start instead of running on its CPUs.
#   launch/tpu_vm.sh [--dry-run] --tpu NAME --zone ZONE [--project P] [--repo DIR]
#                    EXPERIMENT [--workdir DIR] [--quick] [key=value ...]
# The code must be at --repo (default: research, relative to the home directory) on every worker,
# with `make setup` run there; the --workdir must be shared by the workers (a Filestore/NFS or
# gcsfuse mount). Spot/preemptible slices send SIGTERM: the run checkpoints and exits 0, and
# the same command resumes it.
set -euo pipefail
cd "$(dirname "$0")/.."
LAUNCHER=launch/tpu_vm.sh
source launch/common.sh
# The compilation cache lives on each worker, relative to --repo ($HOME differs there).
CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-.jax-cache}"

dry_run=0 tpu= zone= project=() repo=research
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage;;
    --dry-run) dry_run=1; shift;;
    --tpu) option_value "$1" $#; tpu="$2"; shift 2;;
    --zone) option_value "$1" $#; zone="$2"; shift 2;;
    --project) option_value "$1" $#; project=("--project=$2"); shift 2;;
    --repo) option_value "$1" $#; repo="$2"; shift 2;;
    *) break;;
  esac
done
[ -n "$tpu" ] || die "--tpu NAME is required (the TPU VM, as in gcloud compute tpus tpu-vm list)"
[ -n "$zone" ] || die "--zone ZONE is required"
need_experiment "$@"

remote="cd $(printf '%q' "$repo") && $(quoted env JAX_PLATFORMS=tpu RESEARCH_DISTRIBUTED=auto \
  "JAX_COMPILATION_CACHE_DIR=$CACHE_DIR" "$PYTHON" -m experiments run "$@")"
command=(gcloud compute tpus tpu-vm ssh "$tpu" "--zone=$zone" "${project[@]}" --worker=all
         "--command=$remote")
if [ "$dry_run" -eq 1 ]; then quoted "${command[@]}"; exit 0; fi
exec "${command[@]}"
