{#-
    current_scores(table_name, columns): the rows of one of the Python models' current score tables,
    source('ml', table_name) (e.g. 'churn_scores_current'), as a select of the given columns
    (a mapping name -> SQL type, in the order to select them), each cast to its type. Only the
    listed columns: a model that starts writing a new column changes no mart by itself.

        churn_scores as (
            {{ current_scores('churn_scores_current', {'customer_id': 'string', 'churn_probability': 'double'}) }}
        ),

    The ml.*_current tables exist only after the model has published a first run (Dagster builds the
    `scored` models after the models, but a plain `dbt build` on a fresh warehouse comes
    first). When the table does not exist yet this returns a select of the same columns, typed,
    with no row: the model reading it still builds, with its score columns null, and its
    contract sees the same types either way.

    source() is called whether or not the relation exists: the call is what makes dbt record
    the dependency (the lineage, and Dagster's ml/<model> -> marts edge via the source's meta).
    At parse time (execute is false) nothing is looked up and the empty select is rendered.

    A column missing from an existing table is an error, not a silent null: a renamed score
    column should break the build rather than empty a column of the marts.
-#}
{% macro current_scores(table_name, columns) -%}
    {%- set scores_relation = source('ml', table_name) -%}
    {%- set scores_exist = execute and adapter.get_relation(
        database=scores_relation.database,
        schema=scores_relation.schema,
        identifier=scores_relation.identifier,
    ) is not none -%}
    {%- if scores_exist -%}
    select
        {%- for column_name, data_type in columns.items() %}
        cast({{ adapter.quote(column_name) }} as {{ data_type }}) as {{ adapter.quote(column_name) }}
        {{- "," if not loop.last }}
        {%- endfor %}

    from {{ scores_relation }}
    {%- else -%}
    -- {{ scores_relation }} does not exist yet (its model has not published a run): no rows
    select
        {%- for column_name, data_type in columns.items() %}
        cast(null as {{ data_type }}) as {{ adapter.quote(column_name) }}
        {{- "," if not loop.last }}
        {%- endfor %}

    where false
    {%- endif %}
{%- endmacro %}
