# The two set-up commands of the README. Both create the environment from the lock file first.
#   make demo   install, then run the whole pipeline on the data folder (demo exports if empty)
#   make test   install, then run the whole test suite
#
# Needs only python3 (3.11-3.13, with its venv module) and make. scripts/install.sh finds uv on
# PATH or installs a pinned copy into .tools/bin, never into the system Python, and names the
# Debian/Ubuntu package of anything missing.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
# Trust the machine's certificate store (a company proxy's CA lives there, not in uv's bundle).
export UV_SYSTEM_CERTS ?= 1

# The run report's rendering test needs a browser, the Evidence settings test node + npm, and the
# engine-equality test Java for local Spark: installed from Debian's registry when missing (as
# root, or with sudo).
TEST_SYSTEM_PACKAGES := chromium:chromium node:nodejs npm:npm java:openjdk-17-jre-headless

.PHONY: install test-tools demo test dev

install:
	@sh scripts/install.sh

demo: install
	$(UV) run --frozen crm build

test-tools:
	@missing=""; for pair in $(TEST_SYSTEM_PACKAGES); do \
		command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
		echo "Installing for the tests:$$missing"; \
		$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y $$missing; \
	fi

test: install test-tools
	$(UV) run --frozen pytest

dev: install
	$(UV) run --frozen crm dev
