"""Making the Great Expectations Data Docs open without a network.

GX's page templates load Bootstrap, jQuery, Popper, bootstrap-table (and its filter-control
extension), bootstrap-datepicker, Font Awesome, a dark Bootstrap theme and Vega from CDNs, and the
navigation bar's logo from GX's own web server (with the data context id in its query string).
GX copies only its own CSS, fonts and images into the site's ``static/`` folder. Opened without a
network, or behind a proxy that blocks those hosts, a page is bare, and the index page is worse:
its tables exist only as JSON until bootstrap-table draws them, so it lists nothing.

:func:`make_data_docs_offline` runs after every build. It copies the files the pages need out of
Python packages installed with the project (pinned in ``pyproject.toml``: nothing is fetched at
run time, and no third-party file is kept in this repository) into ``<site>/static/vendor/``, only
when missing or changed, and rewrites every CDN reference in the site's pages to a relative path
(pages sit at different depths, so each gets its own). Stale ``integrity`` attributes go too:
the local files are other builds than the hashes name. The pages' own paths up to ``static/`` are
recomputed the same way (GX's is one level short for a validation page's favicon).

Where no package on PyPI has the exact file:

* Bootstrap 4.5.3 (XStatic-Bootstrap) stands in for 4.3.1, same API; its bundle carries Popper
  1.16, so the page's separate Popper 1.12.9 script is dropped and the bundle loaded instead.
* bootstrap-table is published on no PyPI package. ``data_docs_assets/bootstrap-table-lite.js``,
  written for this project, implements the part of its API the pages use (search, sorting,
  pagination, column filters, row links); the filter-control extension's files are dropped.
* bootstrap-datepicker is then not needed: the run-time filter uses the browser's date input.
* The dark theme (``@forevolve/bootstrap-dark``) is in no package: pages stay light when the
  system prefers dark. GX's own dark-mode logo (not shipped with GX) becomes its light one.

A reference to any other external script, stylesheet or image (a GX upgrade adding one) is left
as it is and reported in :attr:`OfflineDataDocs.unresolved`: the caller logs it and the tests
fail on it, so the pages never go back online unnoticed. Links a reader clicks may stay.
"""

from __future__ import annotations

import importlib
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

VENDOR_FOLDER = "vendor"  # under the site's static/ folder, next to GX's own images and styles
GX_LOGO = "images/logo-long.png"  # copied into static/ by GX itself


@dataclass(frozen=True)
class VendoredFiles:
    """Files taken from one installed package, kept at the same relative paths under ``static/vendor/<folder>/``."""

    folder: str
    package_dir: Callable[[], Traversable]
    files: tuple[str, ...]


def _xstatic_dir(name: str) -> Callable[[], Traversable]:
    def locate() -> Traversable:
        # An XStatic package names its own data folder; importing one only defines constants.
        return Path(importlib.import_module(f"xstatic.pkg.{name}").BASE_DIR)

    return locate


def _package_dir(package: str, *parts: str) -> Callable[[], Traversable]:
    def locate() -> Traversable:
        return resources.files(package).joinpath(*parts)

    return locate


FONT_AWESOME_WEBFONTS = tuple(
    f"webfonts/{font}.{extension}"
    for font in ("fa-brands-400", "fa-regular-400", "fa-solid-900", "fa-v4compatibility")
    for extension in ("woff2", "ttf")
)

VENDORED = (
    VendoredFiles("bootstrap", _xstatic_dir("bootstrap"), ("css/bootstrap.min.css", "js/bootstrap.bundle.min.js")),
    VendoredFiles("jquery", _xstatic_dir("jquery"), ("jquery.min.js",)),
    VendoredFiles(
        "fontawesome",
        _package_dir("fontawesomefree", "static", "fontawesomefree"),
        ("css/all.min.css", *FONT_AWESOME_WEBFONTS),
    ),
    VendoredFiles(
        "vega",
        _package_dir("js_lib_vega_embed", "static", "js_lib_vega_embed"),
        ("vega5.js", "vega-lite5.js", "vega-embed6.js"),
    ),
    VendoredFiles(
        "bootstrap-table-lite",
        _package_dir("dagster_project.quality", "data_docs_assets"),
        ("bootstrap-table-lite.js", "bootstrap-table-lite.css"),
    ),
)

_FILTER_CONTROL = "dist/extensions/filter-control/bootstrap-table-filter-control"

# External URL (without its query string) -> the file under static/ that replaces it, or None
# when the reference is dropped (its job is done by another file, see the module docstring).
LOCAL_REPLACEMENTS: dict[str, str | None] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "vendor/bootstrap/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "vendor/bootstrap/js/bootstrap.bundle.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": None,
    "https://code.jquery.com/jquery-3.7.1.min.js": "vendor/jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "vendor/fontawesome/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vendor/vega/vega5.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vendor/vega/vega-lite5.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vendor/vega/vega-embed6.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "vendor/bootstrap-table-lite/bootstrap-table-lite.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "vendor/bootstrap-table-lite/bootstrap-table-lite.css"
    ),
    f"https://unpkg.com/bootstrap-table@1.19.1/{_FILTER_CONTROL}.min.js": None,
    f"https://unpkg.com/bootstrap-table@1.19.0/{_FILTER_CONTROL}.css": None,
    f"https://unpkg.com/bootstrap-table@1.19.0/{_FILTER_CONTROL}.min.css": None,
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": None,
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": None,
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": None,
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png": GX_LOGO,
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png": GX_LOGO,
}

_EXTERNAL = r"(?:https?:)?//"
# Tags that make the browser fetch what their src/href names (a link the reader clicks, <a>, is not one).
# A script with a src has an empty body: the closing tag goes with it when the reference is dropped.
RESOURCE_TAG = re.compile(
    r"<script\b[^>]*\bsrc\s*=[^>]*>\s*</script\s*>|<(?:link|img|source|iframe|embed|audio|video)\b[^>]*>",
    re.IGNORECASE,
)
RESOURCE_ATTRIBUTE = re.compile(r"""(?<![\w-])(?P<name>src|href)\s*=\s*(?P<quote>["']?)(?P<url>[^"'\s>]*)(?P=quote)""")
SUBRESOURCE_INTEGRITY = re.compile(r"""\s+(?:integrity|crossorigin)\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""")
CSS_URL = re.compile(rf"""url\(\s*(?P<quote>["']?)(?P<url>{_EXTERNAL}[^"')\s]+)(?P=quote)\s*\)""", re.IGNORECASE)
CSS_IMPORT = re.compile(rf"""@import\s+(?:url\(\s*)?["']?(?P<url>{_EXTERNAL}[^"')\s;]+)""", re.IGNORECASE)
EXTERNAL_URL = re.compile(rf"^{_EXTERNAL}", re.IGNORECASE)
# A page's own way up to static/: GX counts it from the dots in the suite's name, one level short
# for the favicon of a validation page.
WAY_TO_STATIC = re.compile(r"^(?:\./|(?:\.\./)+)static/(?P<rest>.*)$")


@dataclass(frozen=True)
class OfflineDataDocs:
    """What one pass did: files copied into ``static/vendor``, pages rewritten, and the external
    references it did not know (``(page relative to the site, URL)``), which still go online."""

    files_copied: int
    pages_rewritten: int
    unresolved: tuple[tuple[str, str], ...]


def make_data_docs_offline(site_dir: Path) -> OfflineDataDocs:
    """Copy the pages' assets into ``site_dir/static/vendor`` and point every page at them."""
    site_dir = Path(site_dir)
    static_dir = site_dir / "static"
    files_copied = sum(_copy_if_changed(source, target) for source, target in _vendored_files(static_dir))
    pages_rewritten = 0
    unresolved: list[tuple[str, str]] = []
    for page in sorted(_pages(site_dir)):
        text = page.read_text(encoding="utf-8")
        page_unresolved: list[str] = []
        rewritten = _rewrite(text, _relative_to_static(page, static_dir), page_unresolved)
        unresolved.extend((page.relative_to(site_dir).as_posix(), url) for url in page_unresolved)
        if rewritten != text:
            _write_atomically(page, rewritten.encode("utf-8"))
            pages_rewritten += 1
    return OfflineDataDocs(files_copied, pages_rewritten, tuple(unresolved))


def external_references(text: str) -> list[str]:
    """The URLs outside the site that a page or stylesheet makes the browser load (not the links it shows)."""
    urls = []
    for tag in RESOURCE_TAG.finditer(text):
        urls.extend(
            attribute["url"]
            for attribute in RESOURCE_ATTRIBUTE.finditer(tag.group(0))
            if EXTERNAL_URL.match(attribute["url"])
        )
    urls.extend(match["url"] for match in CSS_URL.finditer(text))
    urls.extend(match["url"] for match in CSS_IMPORT.finditer(text))
    return urls


def _vendored_files(static_dir: Path) -> list[tuple[Traversable, Path]]:
    pairs = []
    for vendored in VENDORED:
        package_dir = vendored.package_dir()
        target_dir = static_dir / VENDOR_FOLDER / vendored.folder
        pairs.extend((package_dir.joinpath(*relative.split("/")), target_dir / relative) for relative in vendored.files)
    return pairs


def _copy_if_changed(source: Traversable, target: Path) -> bool:
    content = source.read_bytes()
    if target.is_file() and target.stat().st_size == len(content) and target.read_bytes() == content:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(target, content)
    return True


def _write_atomically(path: Path, content: bytes) -> None:
    # A browser reading the site while a validation rebuilds it sees the old file or the new one.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def _pages(site_dir: Path) -> list[Path]:
    vendor_dir = site_dir / "static" / VENDOR_FOLDER
    return [
        path
        for pattern in ("*.html", "*.css")
        for path in site_dir.rglob(pattern)
        if path.is_file() and not path.is_relative_to(vendor_dir)
    ]


def _relative_to_static(page: Path, static_dir: Path) -> str:
    """The way from the page's folder to ``static/``, written the way a URL is (forward slashes)."""
    return Path(os.path.relpath(static_dir, page.parent)).as_posix()


def _local_replacement(url: str) -> tuple[bool, str | None]:
    """``(known, file under static/ or None to drop the reference)`` for an external URL."""
    base = url.split("?", 1)[0].split("#", 1)[0]
    if base.startswith("//"):
        base = f"https:{base}"
    if base in LOCAL_REPLACEMENTS:
        return True, LOCAL_REPLACEMENTS[base]
    return False, None


def _rewrite(text: str, static_path: str, unresolved: list[str]) -> str:
    def local(target: str) -> str:
        return posixpath.join(static_path, target)

    def rewrite_tag(match: re.Match[str]) -> str:
        tag = match.group(0)
        for attribute in RESOURCE_ATTRIBUTE.finditer(tag):
            url = attribute["url"]
            to_static = WAY_TO_STATIC.match(url)
            if to_static:
                new_url = local(to_static["rest"])
            elif EXTERNAL_URL.match(url):
                known, target = _local_replacement(url)
                if not known:
                    unresolved.append(url)
                    return tag
                if target is None:
                    return ""
                new_url = local(target)
            else:
                continue
            quote = attribute["quote"] or '"'
            tag = f"{tag[: attribute.start()]}{attribute['name']}={quote}{new_url}{quote}{tag[attribute.end() :]}"
            # A hash of the CDN's file would make the browser refuse the local one.
            return SUBRESOURCE_INTEGRITY.sub("", tag)
        return tag

    def rewrite_css_url(match: re.Match[str]) -> str:
        known, target = _local_replacement(match["url"])
        if not known or target is None:
            # A dropped stylesheet or image has no stand-in a url() could name: it stays, reported.
            unresolved.append(match["url"])
            return match.group(0)
        return f"url('{local(target)}')"

    text = RESOURCE_TAG.sub(rewrite_tag, text)
    text = CSS_URL.sub(rewrite_css_url, text)
    unresolved.extend(match["url"] for match in CSS_IMPORT.finditer(text))
    return text
