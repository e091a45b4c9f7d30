# The two set-up commands of the README. Both install everything from the lock file first.
#   make demo   install, then run the whole pipeline on the data folder (demo exports if empty)
#   make test   install, then run the whole test suite
UV_VERSION := 0.13.8
# uv from PATH, or the copy pip installed as a module when it was missing.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

# The run report's rendering test needs a browser and the Evidence settings test node + npm:
# installed from Debian's registry when missing (as root, or with sudo).
TEST_SYSTEM_PACKAGES := chromium:chromium node:nodejs npm:npm

.PHONY: install test-tools demo test dev

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) sync --frozen

demo: install
	$(UV) run crm build

test-tools:
	@missing=""; for pair in $(TEST_SYSTEM_PACKAGES); do \
		command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
		echo "Installing for the tests:$$missing"; \
		$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y $$missing; \
	fi

test: install test-tools
	$(UV) run pytest

dev: install
	$(UV) run crm dev
