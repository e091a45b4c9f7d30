{#
    Helpers of the incremental models (stg_marketing__email_events, stg_sales__orders,
    stg_sales__order_lines, int_order_lines__costed, fct_orders, fct_order_lines,
    fct_email_events, fct_interactions).

    Each of them carries _loaded_at: the latest load time of the records a row is built from
    (greatest over the joined records). An incremental run reprocesses every row loaded after the
    latest _loaded_at the table already holds: late-arriving and corrected records always have a
    newer _loaded_at, because ingestion stamps every load later than any load the warehouse holds
    (ledger.next_load_time), inside the single-writer slot. var('incremental_lookback_days')
    (default 0) widens the window for warehouses that are also loaded by other tools. A window
    measured in days would make the nights after the first full load reprocess all of it.
    Links that depend on identity resolution change without any record being reloaded (a new
    customer record links old email events). int_identity_links stamps each identity with the
    time its link last changed (_link_changed_at), and the models that link records through
    identities stamp each row they write (_processed_at): a run reprocesses the records of the
    identities whose link changed after the latest _processed_at the model holds. Both stamps are
    the start of the dbt invocation (processing_stamp), so a model that failed in one run catches
    up in the next, and none of them compares its tens of millions of rows with the identities.
#}

{#- Rows with _loaded_at after this SQL expression are new to the table. -#}
{% macro incremental_loaded_at_cutoff(relation=this) -%}
    (
        select
            coalesce(max(_loaded_at), cast('1900-01-01' as timestamp))
            - {{ interval_days(var('incremental_lookback_days')) }}
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


{#-
    When this dbt invocation started (UTC), as a timestamp literal: the _processed_at of every row
    an incremental model writes and the _link_changed_at of int_identity_links. One value for the
    whole invocation, so "changed after the model last wrote" compares stamps of whole runs.
-#}
{% macro processing_stamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}


{#- The latest _processed_at in a relation (rows it wrote in its latest run that wrote any). -#}
{% macro latest_processed_at(relation=this, where=none) -%}
    (
        select coalesce(max(_processed_at), cast('1900-01-01' as timestamp))
        from {{ relation }}
        {% if where %}where {{ where }}{% endif %}
    )
{%- endmacro %}
