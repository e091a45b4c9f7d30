"""Debian's Chromium as the tests run it: headless, and quiet on a machine without internet.

Without the background-networking flags Chromium keeps trying to reach Google's hosts, which
this network refuses. `make test` installs the package when it is missing.
"""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
)
