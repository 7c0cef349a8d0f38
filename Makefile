# Two commands for a fresh machine (both create .venv on first use):
#   make demo   the whole workflow on the embedded demo cohort (CPU)
#   make test   lint + the test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
SNAKEMAKE := $(BIN)/snakemake --profile profiles/default --cores $(CORES)

.PHONY: venv venv-slurm demo test lint clean

venv: $(STAMP)

# The optional SLURM executor (profiles/slurm); the tests need it to run the workflow on a real scheduler.
SLURM_STAMP := $(VENV)/.installed-slurm
venv-slurm: $(SLURM_STAMP)

# torch first, on its own and pinned, with pip (it finds the local CPU wheel; anything that pulls an
# unpinned torch brings GBs of CUDA wheels). The rest through uv: the same pinned set, ~10x faster than
# pip; --compile-bytecode as pip does (without .pyc files every job compiles its imports: +1-4 s each).
# uv reads no pip configuration: where only pip's configured index or mirror has the packages, pip
# installs them instead.
PIP := $(BIN)/pip install --quiet --disable-pip-version-check
UV := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python
install = $(UV) $(1) || { echo "uv could not install $(1); trying pip" >&2; $(PIP) $(1); }

$(STAMP): pyproject.toml requirements/torch.txt requirements/installer.txt requirements/lock.txt requirements/nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements/torch.txt -r requirements/installer.txt
	$(call install,-r requirements/lock.txt)
	$(call install,--no-deps -r requirements/nodeps.txt)
	$(call install,--no-deps -e .)
	touch $(STAMP)

$(SLURM_STAMP): $(STAMP) requirements/slurm.txt
	$(call install,-c requirements/lock.txt -r requirements/slurm.txt)
	touch $(SLURM_STAMP)

demo: $(STAMP)
	$(SNAKEMAKE)
	$(SNAKEMAKE) --report results/report.html
	@echo "Done: open results/summary.md and results/report.html"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint --cores 1

test: lint $(SLURM_STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf results logs .snakemake benchmarks/*/ benchmarks/*.tsv   # rule timings; the scripts stay
