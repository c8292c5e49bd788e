# Set-up is automatic: every target creates .venv and installs the pinned dependencies first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# one BLAS thread per test worker: two workers on two cores
TEST_ENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: demo test docs bench clean

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip uninstall -q -y backprop 2>/dev/null || true   # an install under the old distribution name
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m backprop.demo

# the trace page is tested in headless Chromium: Debian's package, installed here when missing (as root)
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else \
		echo "note: $(CHROMIUM) is missing; the browser tests need it: sudo apt-get install -y chromium"; \
	fi

# every test, including each extra installed with the built wheel into a fresh virtualenv of its own and
# a smoke call of its features, and the whole suite once more from the unpacked sdist
# (tests/test_packaging.py); a plain `pytest` leaves those out unless BACKPROP_TEST_EXTRAS=1
test: $(STAMP) $(CHROMIUM)
	BACKPROP_TEST_EXTRAS=1 $(TEST_ENV) $(PY) -m pytest -n 2 --dist loadgroup -q

# the documentation site: warnings are errors (-W, all reported with --keep-going), every reference must
# resolve (-n); tests/test_docs.py builds it the same way in a temporary directory during `make test`
docs: $(STAMP)
	$(PY) -m sphinx -E -b html -W --keep-going -n docs docs/_build/html

# benchmarks need PyTorch (CPU build) as the peer to compare with; it is never a runtime dependency
$(VENV)/.torch: $(STAMP)
	$(PY) -m pip install -q torch==2.13.0
	touch $@

# bench_hotpath.py: every row of the hot-path table with its targets; BENCH_ARGS=--quick for a short run
# (JAX joins when installed: $(PY) -m pip install jax==0.10.2 jaxlib==0.10.2; never a dependency)
BENCH_ARGS ?=
bench: $(VENV)/.torch
	$(PY) benchmarks/bench_gradient.py
	$(PY) benchmarks/bench_hotpath.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis docs/_build .mypy_cache
