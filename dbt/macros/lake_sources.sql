{#
    On Spark the raw tables are the Parquet files ingestion lands in the lake
    (dagster_project/ingestion/lake.py): <lake>/raw/<entity>/load_date=<day>/<load>.parquet.
    register_lake_sources() (on-run-start) declares each raw source as an external Parquet table
    over its folder, with the columns and types of dbt/models/staging/_sources.yml, and picks up
    the load days added since the last run. The lake is CRM_LAKE_DIR, or lake/ in CRM_DATA_DIR:
    an absolute path (or a URI such as s3a://bucket/crm/lake) that the Spark cluster can read.

    On DuckDB there is nothing to do: ingestion writes the raw schema itself.
#}
{% macro register_lake_sources() %}
    {{ return(adapter.dispatch('register_lake_sources')()) }}
{% endmacro %}

{% macro default__register_lake_sources() %}
{% endmacro %}

{% macro spark__register_lake_sources() %}
    {%- if execute -%}
        {%- set lake = env_var('CRM_LAKE_DIR', env_var('CRM_DATA_DIR', '') ~ '/lake') -%}
        {%- if not (lake.startswith('/') or '://' in lake) -%}
            {{ exceptions.raise_compiler_error(
                "The lake must be an absolute path or a URI the Spark cluster can read (CRM_LAKE_DIR or "
                ~ "CRM_DATA_DIR), not '" ~ lake ~ "'"
            ) }}
        {%- endif -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for raw in graph.sources.values() | selectattr('source_name', 'equalto', 'raw') -%}
            {%- set columns = [] -%}
            {%- for column in raw.columns.values() -%}
                {#- Spark has no JSON type: the JSON text of _extra_columns is a string. -#}
                {%- do columns.append(column.name ~ ' ' ~ ('string' if column.data_type == 'json' else column.data_type)) -%}
            {%- endfor -%}
            {%- do run_query(
                'create table if not exists raw.' ~ raw.name ~ ' (' ~ columns | join(', ') ~ ', load_date date) '
                ~ "using parquet partitioned by (load_date) location '" ~ lake ~ '/raw/' ~ raw.name ~ "'"
            ) -%}
            {%- do run_query('msck repair table raw.' ~ raw.name) -%}
            {%- do run_query('refresh table raw.' ~ raw.name) -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
