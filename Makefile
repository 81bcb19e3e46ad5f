# make run   - the gateway on its embedded default
# make test  - every test, after installing what they need on a fresh machine
# make bench - the benchmarks in bench/ (ratios against peers, not timed tests)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test bench clean

# Debian's python3 comes without venv/ensurepip (the python3-venv package): installed when missing.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,embedded,s3]'
	touch $@

# What the tests start besides Python: OpenSSH's sshd (SFTP tests), PostgreSQL (state store tests;
# Debian keeps initdb and pg_ctl under /usr/lib/postgresql/<version>/bin, off the PATH) and Debian's
# chromium with its chromedriver (the tracking pages' browser tests; selenium drives the system browser).
SYSTEM := $(VENV)/.system-stamp
$(SYSTEM): Makefile
	@command -v openssl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }
	@test -x /usr/sbin/sshd || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { command -v initdb && command -v pg_ctl; } >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@mkdir -p $(VENV) && touch $@

# The independent AS2 peer of the interoperability tests: libas2 on Node.js, from tests/as2peer's lock file.
AS2PEER := tests/as2peer/node_modules/.package-lock.json
$(AS2PEER): tests/as2peer/package.json tests/as2peer/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm --prefix tests/as2peer ci --no-audit --no-fund --loglevel=error

run: $(STAMP)
	$(BIN)/edigw run --demo-key-file var/demo-api-key

test: $(STAMP) $(SYSTEM) $(AS2PEER)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.parse
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.validate
	$(BIN)/python -m bench.archive
	$(BIN)/python -m bench.memory

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
