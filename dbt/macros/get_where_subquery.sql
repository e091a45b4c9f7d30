{#
    dbt's `where` config of data tests, plus one keyword for incremental models:

        data_tests:
          - unique:
              config:
                where: "__latest_run__"

    tests only the rows the model wrote in its latest run (_processed_at equal to the latest
    _processed_at it holds): after a full build that is every row, after a nightly run the new,
    corrected and relinked ones. Meant for tests of tens of millions of rows whose result on the
    rows kept from earlier runs cannot change: an incremental merge or delete+insert on the key
    replaces the rows it writes, so keys unique among the latest rows are unique in the table,
    and the rows kept were tested when they were written.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == '__latest_run__' -%}
        {%- set where -%}
            _processed_at = (select max(_processed_at) from {{ relation }})
        {%- endset -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
