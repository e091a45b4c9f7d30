"""The life of a model in the warehouse, in plain Python: when to train and when to score with
the published model (lifecycle.py), and the table of the models the pipeline runs (specs.py).
The Dagster assets in ``dagster_project.assets.models`` are built from that table."""
