# Two commands matter: `make demo` and `make test`. Each installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
PIP_FLAGS := --quiet --disable-pip-version-check --no-warn-script-location

.PHONY: install test test-condor demo bench docs clean

install: $(STAMP)

# Reinstall only when the dependency declarations change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e ".[all,test]" 2>$(VENV)/pip.log \
		|| { cat $(VENV)/pip.log; exit 1; }
	$(BIN)/python -c "import aframe_dag, executables.common"
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-condor: install
	$(BIN)/python -m pytest -m condor $(PYTEST_ARGS)

demo: install
	bash scripts/demo.sh $(DEMO_DIR)

bench: install
	bash scripts/bench.sh

docs: install
	$(BIN)/python scripts/readme_config.py
	$(BIN)/python scripts/nodes_doc.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis $(VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@echo "kept $(DEMO_DIR)/ (your demo run); remove it yourself if you want it gone"
