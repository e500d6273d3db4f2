#!/usr/bin/env bash
# Runs one experiment on this host with all its devices.
#   launch/local.sh [--dry-run] [--processes N] [--gpus G] NAME [--workdir DIR] [--quick] [key=value ...]
# --processes N starts N processes joined on loopback by jax.distributed (JAX_COORDINATOR_ADDRESS,
# JAX_NUM_PROCESSES, JAX_PROCESS_ID), each with its share of the devices: a multi-host run on one
# machine, for trying a cluster job before submitting it. Port: $PORT or 12355.
# --gpus G: the host's GPUs (default: as many as nvidia-smi lists, else 0). With G > 0 the run
# must get them (JAX_PLATFORMS=cuda) and each of N processes sees its own G/N of them
# (CUDA_VISIBLE_DEVICES); with G = 0 it runs on the CPU (JAX_PLATFORMS=cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
LAUNCHER=launch/local.sh
source launch/common.sh

dry_run=0 processes=1 gpus=
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage;;
    --dry-run) dry_run=1; shift;;
    --processes) option_value "$1" $#; positive_int --processes "$2"; processes="$2"; shift 2;;
    --gpus) option_value "$1" $#; [[ "$2" =~ ^[0-9]+$ ]] || die "--gpus takes a whole number, got '$2'"
            gpus="$2"; shift 2;;
    *) break;;
  esac
done
need_experiment "$@"
if [ -z "$gpus" ]; then
  gpus=$( (command -v nvidia-smi > /dev/null && nvidia-smi -L 2> /dev/null || true) | grep -c '^GPU' || true)
fi
[ $((gpus % processes)) -eq 0 ] || die "--gpus $gpus cannot be shared equally by $processes processes"

# The platform, and process i's GPUs: i * G/N to (i + 1) * G/N - 1.
platform() {  # process-index
  if [ "$gpus" -eq 0 ]; then echo JAX_PLATFORMS=cpu; return; fi
  echo JAX_PLATFORMS=cuda
  [ "$processes" -gt 1 ] || return 0
  local share=$((gpus / processes))
  echo "CUDA_VISIBLE_DEVICES=$(seq -s, $(($1 * share)) $((($1 + 1) * share - 1)))"
}

if [ "$processes" -eq 1 ]; then
  command=(env "JAX_COMPILATION_CACHE_DIR=$CACHE_DIR" $(platform 0) "$PYTHON" -m experiments run "$@")
  if [ "$dry_run" -eq 1 ]; then quoted "${command[@]}"; exit 0; fi
  exec "${command[@]}"
fi

pids=()
for ((i = 0; i < processes; i++)); do
  command=(env "JAX_COMPILATION_CACHE_DIR=$CACHE_DIR" $(platform "$i")
           "JAX_COORDINATOR_ADDRESS=127.0.0.1:${PORT:-12355}"
           "JAX_NUM_PROCESSES=$processes" "JAX_PROCESS_ID=$i" "$PYTHON" -m experiments run "$@")
  if [ "$dry_run" -eq 1 ]; then quoted "${command[@]}"; continue; fi
  "${command[@]}" & pids+=($!)
done
[ "$dry_run" -eq 1 ] && exit 0
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit "$status"
