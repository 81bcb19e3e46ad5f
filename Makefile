# make run   - the gateway on its embedded default
# make test  - every test, after installing what they need on a fresh machine
# make bench - the benchmarks in bench/ (ratios against peers, not timed tests)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,embedded]'
	touch $@

# What the tests start besides Python: OpenSSH's sshd (SFTP tests).
SYSTEM := $(VENV)/.system-stamp
$(SYSTEM):
	@test -x /usr/sbin/sshd || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null; }
	@mkdir -p $(VENV) && touch $@

run: $(STAMP)
	$(BIN)/edigw run --demo-key-file var/demo-api-key

test: $(STAMP) $(SYSTEM)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.parse
	$(BIN)/python -m bench.pipeline

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
