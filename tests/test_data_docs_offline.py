"""The Great Expectations Data Docs open offline: no page loads a script, stylesheet, font or image
from the internet, and in a browser with networking off the tables are drawn and styled.

One real site (validate_entity on a small raw.orders) feeds the tests. The browser test uses
Debian's ``chromium`` as tests/test_report.py does, behind a proxy that answers nothing: a page
that still reached for a CDN would show bare, and its index tables empty.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dagster_project.quality import validate_entity
from dagster_project.quality.data_docs_offline import LOCAL_REPLACEMENTS, external_references, make_data_docs_offline
from dagster_project.quality.suites import SEVERE, SOFT, suite_name
from dagster_project.quality.validation import data_docs_dir
from tests.headless_chromium import CHROMIUM, CHROMIUM_FLAGS
from tests.test_quality import CLEAN_ORDERS, NOW, load, write_export

OFFLINE_CHROMIUM_FLAGS = (
    *CHROMIUM_FLAGS,
    "--disable-sync",
    "--no-first-run",
    # Every request goes to a port nobody listens on: the network is off for the page.
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)
WINDOW = (1280, 1100)
# Written independently of the module's own patterns: any tag or CSS that makes the browser fetch
# from another host. Anchors (<a href>) are links the reader clicks, not loads.
NETWORK_LOAD = re.compile(
    r"""<(?:script|link|img|source|iframe|embed|audio|video)\b[^>]*?[\s"'](?:src|href)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import""",
    re.IGNORECASE,
)
LOCAL_LOAD = re.compile(
    r"""<(?:script|link|img)\b[^>]*?[\s"'](?:src|href)\s*=\s*["'](?P<path>[^"'#?]+)[^"']*["']""", re.IGNORECASE
)
# Bootstrap 4's colours: an unstyled page has none of the status icons' green or red and little grey.
STATUS_COLOURS = ("#28a745", "#dc3545")  # text-success, text-danger
SECONDARY_GREY = "#6c757d"  # btn-secondary: the toolbar's Clear buttons


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data_docs_offline")
    landing = root / "landing"
    write_export(landing, "orders", "orders_0001.csv", CLEAN_ORDERS)
    with duckdb.connect(str(root / "warehouse.duckdb")) as connection:
        load(connection, landing, "orders")
        validation = validate_entity(connection, "orders", root / "docs", NOW)
    assert validation.data_docs_index.is_file()
    return data_docs_dir(root / "docs")


def _pages(site_dir: Path) -> list[Path]:
    return sorted(page for page in site_dir.rglob("*.html") if "vendor" not in page.parts)


def _validation_page(site_dir: Path) -> Path:
    pages = sorted((site_dir / "validations").rglob("*.html"))
    assert pages, "no validation result page in the site"
    return pages[0]


def test_no_page_loads_anything_from_the_network(site):
    pages = _pages(site)
    assert (site / "index.html") in pages
    assert any("expectations" in page.parts for page in pages) and any("validations" in page.parts for page in pages)
    for page in pages:
        text = page.read_text()
        found = NETWORK_LOAD.search(text)
        assert not found, f"{page.relative_to(site)}: {found.group(0)}"
        assert external_references(text) == [], page.relative_to(site)
        # Every local reference resolves from the page's own depth in the site.
        local = [match["path"] for match in LOCAL_LOAD.finditer(text)]
        assert any("static/vendor/bootstrap/" in path for path in local), page.relative_to(site)
        for path in local:
            assert (page.parent / path).resolve().is_file(), f"{page.relative_to(site)}: {path} is missing"
    # The site's own stylesheets (GX's copy of its default styles) go through the same rewrite.
    for stylesheet in (site / "static").rglob("*.css"):
        assert not NETWORK_LOAD.search(stylesheet.read_text()), stylesheet.relative_to(site)


def test_an_unknown_external_reference_is_reported_and_a_second_pass_changes_nothing(tmp_path):
    site_dir = tmp_path / "site"
    page = site_dir / "validations" / "suite" / "run.html"
    page.parent.mkdir(parents=True)
    known_script = next(url for url, target in LOCAL_REPLACEMENTS.items() if target and target.endswith(".js"))
    page.write_text(
        "<html><head>\n"
        f'<script src="{known_script}" integrity="sha384-stale" crossorigin="anonymous"></script>\n'
        '<link rel="stylesheet" href="https://cdn.example.org/new-widget.css">\n'
        '<style>.logo { background: url("https://cdn.example.org/logo.png"); }</style>\n'
        '</head><body><a href="https://greatexpectations.io">GX</a></body></html>\n'
    )

    first = make_data_docs_offline(site_dir)
    assert first.pages_rewritten == 1 and first.files_copied > 0
    assert sorted(url for _, url in first.unresolved) == [
        "https://cdn.example.org/logo.png",
        "https://cdn.example.org/new-widget.css",
    ]
    assert {where for where, _ in first.unresolved} == {"validations/suite/run.html"}
    text = page.read_text()
    assert f'src="../../static/{LOCAL_REPLACEMENTS[known_script]}"' in text
    assert "integrity" not in text and "crossorigin" not in text
    assert '<a href="https://greatexpectations.io">' in text  # a link the reader clicks stays

    second = make_data_docs_offline(site_dir)
    assert (second.files_copied, second.pages_rewritten) == (0, 0)
    assert second.unresolved == first.unresolved

    # A vendored file changed or removed in the site is put back.
    vendored = site_dir / "static" / LOCAL_REPLACEMENTS[known_script]
    vendored.write_text("tampered")
    (site_dir / "static" / "vendor" / "jquery" / "jquery.min.js").unlink()
    assert make_data_docs_offline(site_dir).files_copied == 2
    assert vendored.read_text() != "tampered"


def _chromium(page: Path, out_dir: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make test` installs it (Debian's chromium package)"
    command = [
        str(CHROMIUM),
        *OFFLINE_CHROMIUM_FLAGS,
        f"--user-data-dir={out_dir / 'profile'}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *mode,
        page.resolve().as_uri(),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


def _near(pixels: np.ndarray, colour: str, tolerance: int = 40) -> int:
    rgb = np.array([int(colour[index : index + 2], 16) for index in (1, 3, 5)])
    return int((np.abs(pixels.astype(int) - rgb).sum(axis=-1) <= tolerance).sum())


def test_chromium_draws_the_tables_with_networking_off(site, tmp_path):
    from PIL import Image

    started = time.perf_counter()
    # The index's tables exist only as JSON until the table script draws them: rows linking to
    # each validation page, in the table script's wrapper.
    index_dom = _chromium(site / "index.html", tmp_path, "--dump-dom").stdout
    assert 'class="bootstrap-table' in index_dom and "fixed-table-container" in index_dom
    for severity in (SEVERE, SOFT):
        assert re.search(rf">\s*{re.escape(suite_name('orders', severity))}\s*</a>", index_dom), severity
    linked = re.findall(r'<tr[^>]*\bdata-href="(validations/[^"]+\.html)"', index_dom)
    assert len(linked) == 2 and all((site / path).is_file() for path in linked), linked
    assert "No matching records found" not in index_dom

    # A validation result page: its tables (written in HTML) get the search box and wrapper too.
    validation_dom = _chromium(_validation_page(site), tmp_path, "--dump-dom").stdout
    assert validation_dom.count('class="bootstrap-table') >= 2
    assert 'class="form-control search-input"' in validation_dom

    shot = tmp_path / "index.png"
    _chromium(site / "index.html", tmp_path, f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    # Status icons are Font Awesome glyphs coloured by Bootstrap, inside rows the script drew:
    # all three must have loaded from the site for them to show.
    status_pixels = sum(_near(pixels, colour) for colour in STATUS_COLOURS)
    assert status_pixels > 150, f"status icons not drawn ({status_pixels} pixels)"
    grey_pixels = _near(pixels, SECONDARY_GREY)
    assert grey_pixels > 3000, f"Bootstrap's buttons not styled ({grey_pixels} pixels)"
    print(f"three Chromium runs in {time.perf_counter() - started:.1f} s")
