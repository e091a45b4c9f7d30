{#
    Keep the latest record per key of a raw export: the same record can be delivered twice or
    corrected by a later export. Latest = most recently loaded, then the later file name, then the
    later row in that file.

    relation: a relation or CTE name that still carries the raw metadata columns.
    partition_by: the key column(s), comma separated.

    A ranked subquery rather than QUALIFY, which Spark SQL does not have; `select * except` is
    understood by both DuckDB and Spark.
#}
{% macro deduplicate_latest(relation, partition_by) -%}
    select * except (_latest_rank)
    from (
        select
            *,
            row_number() over (
                partition by {{ partition_by }}
                order by _loaded_at desc nulls last, _source_file desc nulls last, _source_line desc nulls last
            ) as _latest_rank
        from {{ relation }}
    ) as ranked
    where _latest_rank = 1
{%- endmacro %}
