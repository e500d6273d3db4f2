# The front door. `make demo` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup setup-gpu setup-tpu demo test clean torch tensorboard

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# On a GPU node or a Cloud TPU VM: the same pins plus JAX's CUDA 12 plugin or libtpu. Without
# them JAX falls back to the CPU (with a warning); the launchers set JAX_PLATFORMS so that a
# run fails instead.
setup-gpu: $(STAMP)
	$(BIN)/pip install -q -c requirements.lock -e '.[test,gpu]'

setup-tpu: $(STAMP)
	$(BIN)/pip install -q -c requirements.lock -e '.[test,tpu]'

# The main job on the embedded default dataset (sklearn digits): no download, no GPU.
demo: $(STAMP)
	$(BIN)/python -m experiments run train model=mlp data=digits --quick --workdir runs/demo-train

# pytest exits 5 when it collects no tests; that is not a failure of the code.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran"; exit 0; fi; exit $$rc

clean:
	rm -rf $(VENV) runs .pytest_cache

# PyTorch (CPU build) for the throughput experiment's comparison; optional.
torch: $(STAMP)
	$(BIN)/pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# TensorBoard, to read the event files every run writes to its tensorboard/; optional.
tensorboard: $(STAMP)
	$(BIN)/pip install -q -c requirements.lock tensorboard==2.21.0
	$(BIN)/tensorboard --logdir runs
