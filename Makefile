# The two commands of the README:  make run  and  make test.
# Both create (idempotently) a .venv with pip and install the project into it first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: venv run test lint tensorboard clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The main job on the embedded data (offline): the full 14-epoch reference recipe.
run: $(STAMP)
	$(PY) flows/lab1_flow.py --offline $(ARGS)

## The whole test suite (CI runs exactly this through .ci/run).
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## TensorBoard over every run: make tensorboard  (then open http://127.0.0.1:6006)
tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir runs --host 127.0.0.1 --port 6006
