"""What every other package builds on: settings and paths, the export contracts, the warehouse
connection, the model store and the dbt project. Imports nothing else from dagster_project."""
