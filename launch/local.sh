#!/usr/bin/env bash
# Runs one experiment on this host with all its devices.
#   launch/local.sh [--dry-run] [--processes N] NAME [--workdir DIR] [--quick] [key=value ...]
# --processes N starts N processes joined on loopback by jax.distributed (JAX_COORDINATOR_ADDRESS,
# JAX_NUM_PROCESSES, JAX_PROCESS_ID), each with its share of the devices: a multi-host run on one
# machine, for trying a cluster job before submitting it. Port: $PORT or 12355.
set -euo pipefail
cd "$(dirname "$0")/.."
LAUNCHER=launch/local.sh
source launch/common.sh

dry_run=0 processes=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage;;
    --dry-run) dry_run=1; shift;;
    --processes) option_value "$1" $#; positive_int --processes "$2"; processes="$2"; shift 2;;
    *) break;;
  esac
done
need_experiment "$@"

if [ "$processes" -eq 1 ]; then
  command=(env "JAX_COMPILATION_CACHE_DIR=$CACHE_DIR" "$PYTHON" -m experiments run "$@")
  if [ "$dry_run" -eq 1 ]; then quoted "${command[@]}"; exit 0; fi
  exec "${command[@]}"
fi

pids=()
for ((i = 0; i < processes; i++)); do
  command=(env "JAX_COMPILATION_CACHE_DIR=$CACHE_DIR" "JAX_COORDINATOR_ADDRESS=127.0.0.1:${PORT:-12355}"
           "JAX_NUM_PROCESSES=$processes" "JAX_PROCESS_ID=$i" "$PYTHON" -m experiments run "$@")
  if [ "$dry_run" -eq 1 ]; then quoted "${command[@]}"; continue; fi
  "${command[@]}" & pids+=($!)
done
[ "$dry_run" -eq 1 ] && exit 0
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit "$status"
