"""Plain-Python models of the analytical CRM: frames in, scores out. No Dagster import here."""
