"""A deterministic synthetic generator of CRM exports, with the ground truth behind them.

Plain numpy + polars, no Dagster: the ``crm generate`` command and the tests call
:func:`generate_exports` directly. See generator.py for the flow and each module for one part
of the simulated business.
"""

from .generator import GenerationSummary, generate_exports

__all__ = ["GenerationSummary", "generate_exports"]
