"""CRM_ENGINE=spark: a local Spark SQL server for development and tests, and the Arrow transfers
between Spark and the local DuckDB file (docs/spark.md)."""
