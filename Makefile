# Two entry points: `make app` (install, then open the dashboard on the demo cohort) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: app test install install-test browser lint bench clean

app: install
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) --browser.gatherUsageStats false

test: install-test browser
	$(PY) -m pytest

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/install.sh
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,omics]'
	touch $@

browser:
	scripts/ensure_chromium.sh

lint: install-test
	$(VENV)/bin/ruff check crl pages app.py tests bench
	$(VENV)/bin/ruff format --check crl pages app.py tests bench

bench: install
	$(PY) bench/accuracy.py

clean:
	rm -rf $(VENV) .pytest_cache
