{#
    Helpers of the incremental models (stg_marketing__email_events, fct_order_lines,
    fct_email_events, fct_interactions).

    Each of them carries _loaded_at: the latest load time of the records a row is built from
    (greatest over the joined records). An incremental run reprocesses every row loaded after the
    latest _loaded_at the table already holds: late-arriving and corrected records always have a
    newer _loaded_at, because ingestion stamps every load later than any load the warehouse holds
    (ledger.next_load_time), inside the single-writer slot. var('incremental_lookback_days')
    (default 0) widens the window for warehouses that are also loaded by other tools. A window
    measured in days would make the nights after the first full load reprocess all of it.
    Links that depend on identity resolution are compared with the table separately in each model
    (a new customer record can link old email events without any of them being reloaded).
#}

{#- Rows with _loaded_at after this SQL expression are new to the table. -#}
{% macro incremental_loaded_at_cutoff(relation=this) -%}
    (
        select
            coalesce(max(_loaded_at), cast('1900-01-01' as timestamp))
            - to_days(cast({{ var('incremental_lookback_days') }} as integer))
        from {{ relation }}
    )
{%- endmacro %}


{#
    dbt's should_full_refresh, plus: an incremental model whose existing table does not have
    exactly the columns its yml declares is rebuilt from scratch instead of failing (or silently
    keeping stale columns). A warehouse built by an older version of the project, or a column
    added to a fact, then needs no manual `--full-refresh`. Only for incremental models with
    declared columns; everything else keeps dbt's behaviour.
#}
{% macro should_full_refresh() %}
    {%- set config_full_refresh = config.get('full_refresh') -%}
    {%- if config_full_refresh is none -%}
        {%- set config_full_refresh = flags.FULL_REFRESH -%}
    {%- endif -%}
    {%- if config_full_refresh or not execute -%}
        {%- do return(config_full_refresh) -%}
    {%- endif -%}
    {%- if model is not defined or model.get('resource_type') != 'model'
        or model.get('config', {}).get('materialized') != 'incremental' -%}
        {%- do return(config_full_refresh) -%}
    {%- endif -%}
    {%- set declared_columns = model.get('columns', {}).keys() | map('lower') | list -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- if declared_columns | length == 0 or existing_relation is none or not existing_relation.is_table -%}
        {%- do return(config_full_refresh) -%}
    {%- endif -%}
    {%- set existing_columns = adapter.get_columns_in_relation(existing_relation) | map(attribute='name') | map('lower') | list -%}
    {%- if existing_columns | sort != declared_columns | sort -%}
        {{ log("Columns of " ~ this ~ " differ from its yml: rebuilding it in full", info=true) }}
        {%- do return(true) -%}
    {%- endif -%}
    {%- do return(config_full_refresh) -%}
{% endmacro %}
