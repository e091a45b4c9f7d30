"""Where things sit on the page and their colours: the rendering test reads the same numbers."""

from __future__ import annotations

PAGE_WIDTH_PX = 1200
HEADER_HEIGHT_PX = 300
CHART_SECTION_HEIGHT_PX = 540
CHART_TOP_IN_SECTION_PX = 100  # below the section's title and explanation
CHART_WIDTH_PX = 1152
CHART_HEIGHT_PX = 420
CHART_LEFT_IN_PAGE_PX = (PAGE_WIDTH_PX - CHART_WIDTH_PX) // 2

# Saturated colours: managers tell them apart, and the rendering test finds them in a screenshot.
BLUE, ORANGE, GREEN, RED, PURPLE, GREY = "#2563eb", "#f97316", "#16a34a", "#dc2626", "#7c3aed", "#6b7280"
RISK_BAND_COLOURS = {"low": GREEN, "medium": ORANGE, "high": RED}
SVG_HASH_SALT = "crm-run-report"  # matplotlib's SVG ids are then the same from run to run
