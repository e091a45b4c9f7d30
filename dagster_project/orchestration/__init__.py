"""How runs happen: the Dagster instance, resources, sensors, recovery of interrupted runs, which
errors are transient, progress reporting and the end-of-build summary. Builds on every package
below it; the assets and the definitions build on it."""
