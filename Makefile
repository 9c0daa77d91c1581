# The two commands: `make run` and `make test`. Everything they need is installed from this repo's files.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
EMBED := couchdb_embedded

.PHONY: run test setup lint bench clean chromium

$(BIN)/fieldsync: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

$(EMBED)/node_modules/.installed: $(EMBED)/package.json $(EMBED)/package-lock.json
	cd $(EMBED) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# the browser tests' Chromium: Debian's package (Playwright's own download is not reachable)
CHROMIUM := $(shell command -v chromium 2>/dev/null)
chromium:
ifeq ($(CHROMIUM),)
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
endif

setup: $(BIN)/fieldsync $(EMBED)/node_modules/.installed chromium

# browser and hybrid apps in development: Vite, Ionic / Capacitor live reload, Capacitor iOS and
# Android, Cordova (README, "Sync for app developers"); set FIELDSYNC_CORS_ORIGINS to change it
DEV_CORS_ORIGINS := http://localhost:5173,http://localhost:8100,http://localhost:3000,capacitor://localhost,http://localhost,https://localhost

run: setup
	FIELDSYNC_ADMIN_PASSWORD=$${FIELDSYNC_ADMIN_PASSWORD:-admin-demo} \
	FIELDSYNC_CORS_ORIGINS=$${FIELDSYNC_CORS_ORIGINS-$(DEV_CORS_ORIGINS)} \
	$(BIN)/fieldsync serve --seed-demo

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: setup
	$(BIN)/python -m bench gateway_sync

clean:
	rm -rf $(VENV) $(EMBED)/node_modules .pytest_cache
