#!/usr/bin/env bash
# Runs one experiment on this host with all its devices.
#   launch/local.sh [--dry-run] NAME [--workdir DIR] [--quick] [key=value ...]
# --dry-run prints the command instead of running it.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
if [ "${1:-}" = "--dry-run" ]; then
  shift
  printf '%q ' "$python" -m experiments run "$@"; echo
  exit 0
fi
exec "$python" -m experiments run "$@"
