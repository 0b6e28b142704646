# The two commands of the README:  make run  and  make test.
# Both create (idempotently) a .venv with pip and install the project into it first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=
# make test runs the suite in this many pytest-xdist worker processes, a whole test file per
# worker (--dist loadfile: module- and session-scoped fixtures stay with their file). 2 fits
# the 2-core CI: each CLI run spends much of its time on one core (imports, Prefect), so two
# workers use both cores (18.4 → 13.3 min here). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

PREFECT    := $(VENV)/bin/prefect
# Not named PREFECT_*: make would export it, and prefect reads every PREFECT_* variable.
SERVER_API ?= $(or $(PREFECT_API_URL),http://127.0.0.1:4200/api)
ON_SERVER  := PREFECT_API_URL=$(SERVER_API) PREFECT_SERVER_ANALYTICS_ENABLED=false

.PHONY: venv run test test-fast test-flow test-e2e test-machines mutants lint tensorboard server pools deploy worker-cpu worker-gpu run-deployed

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
	@# The slow visual tests drive Debian's chromium; installing it needs root (CI is root).
	-bash scripts/ensure_chromium.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(ARGS)

## The fast tests: no Prefect server, no browser (tests/unit; under a minute on 2 cores)
test-fast: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests/unit $(ARGS)

## The task and flow tests under Prefect, and the whole runs (browser, servers, deployments)
test-flow: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests/flow $(ARGS)
test-e2e: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests/e2e $(ARGS)

## The machine-aware test files run as each machine a class brings (tests/machines.py), on
## whatever machine this is: lab1 sees the described CPU, flags, cores, memory and /proc
## through LAB1_MACHINE (lab1.host.machine). Not part of make test (about 4 min per machine here).
MACHINES       ?= intel-laptop amd-laptop apple-m2-pro xeon-amx epyc-bf16
MACHINE_TESTS  ?= tests/unit/test_system.py tests/e2e/test_system_view.py tests/e2e/test_precision.py tests/unit/test_limits.py \
	tests/unit/test_identity.py tests/flow/test_report.py tests/e2e/test_report_zh.py tests/unit/test_portable.py \
	tests/e2e/test_step.py tests/e2e/test_machines.py
test-machines: $(STAMP)
	set -e; for m in $(MACHINES); do \
	  echo "== as $$m"; \
	  LAB1_TEST_MACHINE=$$m $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(MACHINE_TESTS) $(ARGS); \
	done

## Mutation check (not part of make test): each core behaviour broken once must fail its tests.
mutants: $(STAMP)
	$(PY) scripts/mutants.py $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## TensorBoard over every run: make tensorboard  (then open http://127.0.0.1:6006)
tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir runs --host 127.0.0.1 --port 6006

## A Prefect server + UI on this machine (leave it running), then open http://127.0.0.1:4200
server: $(STAMP)
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(PREFECT) server start --host 127.0.0.1 --port 4200

## The CPU and GPU process work pools of prefect.yaml (idempotent)
pools: $(STAMP)
	for pool in lab1-cpu lab1-gpu; do \
	  $(ON_SERVER) $(PREFECT) work-pool inspect $$pool >/dev/null 2>&1 || \
	  $(ON_SERVER) $(PREFECT) work-pool create $$pool --type process; \
	done

## Register every deployment of prefect.yaml on the server
deploy: pools
	$(ON_SERVER) $(PREFECT) --no-prompt deploy --all

## Workers: one per pool, on the machine that has the devices (GPU: one per GPU host)
worker-cpu: $(STAMP)
	$(ON_SERVER) LAB1_HOME=$(CURDIR) $(PREFECT) worker start --pool lab1-cpu

worker-gpu: $(STAMP)
	$(ON_SERVER) LAB1_HOME=$(CURDIR) CUDA_VISIBLE_DEVICES=$${CUDA_VISIBLE_DEVICES:-0} \
	  $(PREFECT) worker start --pool lab1-gpu

## Trigger the CPU deployment (a worker-cpu must be running)
run-deployed: $(STAMP)
	$(ON_SERVER) $(PREFECT) deployment run lab1/lab1-cpu --param offline=true --param dry_run=true
