# The README's commands. Everything installs into .venv; system packages come from apt-get.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check lint format bench-ingest bench-overhead bench-query bench-dashboard bench-soak \
	bench-malformed bench-overload system-deps clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Debian's chromium drives the dashboard's browser tests (Playwright launches it by path).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null; }

demo: $(STAMP)
	$(VENV)/bin/tokentrail demo

check: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

# Three processes, a test file each at a time: most tests wait on servers and simulated latency, so this
# halves the suite's time on two cores. `pytest -n 0` runs it in one process.
test: $(STAMP) system-deps check
	$(PY) -m pytest -n 3 --dist loadfile

lint: check

format: $(STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

bench-ingest: $(STAMP)
	$(PY) bench/ingest.py

bench-overhead: $(STAMP)
	$(PY) bench/overhead.py

bench-query: $(STAMP)
	$(PY) bench/query.py

bench-dashboard: $(STAMP)
	$(PY) bench/dashboard.py

bench-soak: $(STAMP)
	$(PY) bench/soak.py

bench-malformed: $(STAMP)
	$(PY) bench/malformed.py

bench-overload: $(STAMP)
	$(PY) bench/overload.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
