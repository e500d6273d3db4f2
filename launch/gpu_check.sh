#!/usr/bin/env bash
# One call for a borrowed GPU (at most 5 minutes): see launch/gpu_check.py.
#   launch/gpu_check.sh [--dry-run] [--out DIR] [--toy] [--budget SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m launch.gpu_check "$@"
