# Sourced by the launchers: one interface for all of them.
#   launch/<launcher>.sh [--dry-run] [launcher options] NAME [--workdir DIR] [--quick] [key=value ...]
# Everything from NAME on goes unchanged to `python -m experiments run`.
# --dry-run prints exactly what would be executed (environment and command) and runs nothing.

PYTHON="${PYTHON:-.venv/bin/python}"
# A persistent compilation cache: a relaunched (preempted, resumed) run compiles warm.
CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$HOME/.cache/research-jax}"

die() { echo "error: $*" >&2; exit 2; }

# The shell-quoted words of a command, on one line.
quoted() { local out; out="$(printf '%q ' "$@")"; echo "${out% }"; }

positive_int() {  # name value
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 takes a positive integer, got '${2:-}'"
}

option_value() {  # option remaining-count next-word
  [ "$2" -ge 2 ] || die "$1 needs a value"
}

need_experiment() {
  [ $# -ge 1 ] || die "name the experiment: $LAUNCHER [options] NAME [--workdir DIR] [--quick] [key=value ...]"
  case "$1" in -*) die "unknown $LAUNCHER option $1";; esac
}

usage() {  # the launcher's header comment and this interface, then exit 0
  sed -n '2,/^[^#]/p' "$LAUNCHER" | sed '$d; s/^# \{0,1\}//'
  sed -n '2,4p' launch/common.sh | sed 's/^# \{0,1\}//'
  echo "The experiments: $PYTHON -m experiments list; a config's keys: $PYTHON -m experiments config NAME"
  exit 0
}
