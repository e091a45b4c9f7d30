{#
    The tail of a reconciliation test: compares two CTEs with the same columns by bucket of
    their key (row count and the sum of the rows' hashes per bucket) and returns the buckets that
    differ. A missing, extra or changed row changes its bucket's count or fingerprint (a sum of
    64-bit hashes, kept exact as a HUGEINT). Cheap at any size: one scan of each side and a few
    hundred groups, where EXCEPT has to hold one side's rows in a hash table.

    actual, expected: CTE names; key: the key column (chooses the bucket); label: the model
    named in the result.
#}
{% macro compare_fingerprints(actual, expected, key, label, buckets=256) -%}
, actual_buckets as (

    select
        hash({{ key }}) % {{ buckets }} as bucket,
        count(*) as row_count,
        sum(hash({{ actual }})) as fingerprint  -- the whole row, as a struct

    from {{ actual }}
    group by 1

),

expected_buckets as (

    select
        hash({{ key }}) % {{ buckets }} as bucket,
        count(*) as row_count,
        sum(hash({{ expected }})) as fingerprint

    from {{ expected }}
    group by 1

)

select
    '{{ label }}' as model,
    coalesce(actual_buckets.bucket, expected_buckets.bucket) as bucket,
    coalesce(actual_buckets.row_count, 0) as rows_in_model,
    coalesce(expected_buckets.row_count, 0) as rows_from_sources

from actual_buckets
full outer join expected_buckets
    on actual_buckets.bucket = expected_buckets.bucket
where
    actual_buckets.fingerprint is distinct from expected_buckets.fingerprint
    or actual_buckets.row_count is distinct from expected_buckets.row_count
{%- endmacro %}
