# The two set-up commands of the README. Both install everything from the lock file first.
#   make demo   install, then run the whole pipeline on the data folder (demo exports if empty)
#   make test   install, then run the whole test suite
UV_VERSION := 0.13.8
# uv from PATH, or the copy pip installed as a module when it was missing.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: install demo test dev

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) sync --frozen

demo: install
	$(UV) run crm build

test: install
	$(UV) run pytest

dev: install
	$(UV) run crm dev
