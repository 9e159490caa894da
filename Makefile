# Two commands matter: `make demo` and `make test`. Each installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
PIP_FLAGS := --quiet --disable-pip-version-check --no-warn-script-location

.PHONY: install reference test test-condor demo demo-reference bench docs clean gpu-check

install: $(STAMP)

# Reinstall only when the dependency declarations change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e ".[all,test]" 2>$(VENV)/pip.log \
		|| { cat $(VENV)/pip.log; exit 1; }
	$(BIN)/python -c "import aframe_dag, executables.common"
	touch $(STAMP)

# The Triton test server's own virtualenv (DESIGN §8, §9): nvidia-pytriton's bundled tritonserver needs numpy<2.
TRITON_VENV := .venv-triton
TRITON_STAMP := $(TRITON_VENV)/.installed
TRITON_PACKAGES := "nvidia-pytriton==0.7.0" "numpy<2" "tritonclient[grpc,http]" onnxruntime

$(TRITON_STAMP):
	test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install $(PIP_FLAGS) $(TRITON_PACKAGES) 2>$(TRITON_VENV)/pip.log \
		|| { cat $(TRITON_VENV)/pip.log; exit 1; }
	$(TRITON_VENV)/bin/python -c "import pytriton.triton, onnxruntime, tritonclient.grpc"
	touch $(TRITON_STAMP)

# The matched-filter reference's own virtualenv ([reference] matched_filter): PyCBC pins numpy<2.4 and scipy<1.17,
# this package's .venv has a newer numpy. Its reference nodes run this package's console scripts from here.
REFERENCE_VENV := .venv-reference
REFERENCE_STAMP := $(REFERENCE_VENV)/.installed

$(REFERENCE_STAMP): pyproject.toml
	test -x $(REFERENCE_VENV)/bin/python || $(PYTHON) -m venv $(REFERENCE_VENV)
	$(REFERENCE_VENV)/bin/python -m pip install $(PIP_FLAGS) -e ".[reference]" 2>$(REFERENCE_VENV)/pip.log \
		|| { cat $(REFERENCE_VENV)/pip.log; exit 1; }
	$(REFERENCE_VENV)/bin/python -c "import pycbc.filter, executables.reference.filter"
	touch $(REFERENCE_STAMP)

reference: $(REFERENCE_STAMP)

# Two workers (pytest-xdist): much of the suite waits on HTCondor, and one worker runs the micro run and its tests.
PYTEST_WORKERS ?= 2

test: install $(TRITON_STAMP) $(REFERENCE_STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-condor: install
	$(BIN)/python -m pytest -m condor $(PYTEST_ARGS)

demo: install
	bash scripts/demo.sh $(DEMO_DIR)

# The demo's run with the matched-filter reference on its data (about 13 minutes on 2 cores): its own target, so that
# `make demo` stays within its time.
demo-reference: install $(REFERENCE_STAMP)
	bash scripts/demo_reference.sh $(DEMO_DIR)

bench: install
	bash scripts/bench.sh

# On a GPU machine with its own CUDA torch (BENCHMARKS.md, "GPU check"): every GPU figure in at most 4 minutes.
# build/gpu-deps (ml4gw and what it imports, pure Python) comes from `python benchmarks/gpu_check.py --pack`.
gpu-check:
	PYTHONPATH=build/gpu-deps $(PYTHON) benchmarks/gpu_check.py --output gpu_check.json

docs: install
	$(BIN)/python scripts/readme_config.py
	$(BIN)/python scripts/nodes_doc.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis $(VENV) $(TRITON_VENV) $(REFERENCE_VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@echo "kept $(DEMO_DIR)/ (your demo run); remove it yourself if you want it gone"
