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
, actual_hashes as (

    {{ row_hashes(actual, key, buckets) }}

),

expected_hashes as (

    {{ row_hashes(expected, key, buckets) }}

),

actual_buckets as (

    select
        bucket,
        count(*) as row_count,
        sum(row_hash) as fingerprint

    from actual_hashes
    group by bucket

),

expected_buckets as (

    select
        bucket,
        count(*) as row_count,
        sum(row_hash) as fingerprint

    from expected_hashes
    group by bucket

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


{#- One row per row of `relation`: its key's bucket and a 64-bit hash of the whole row, typed so
    that summing millions of them neither overflows nor loses a bit. -#}
{% macro row_hashes(relation, key, buckets) -%}
    {{ return(adapter.dispatch('row_hashes')(relation, key, buckets)) }}
{%- endmacro %}

{% macro default__row_hashes(relation, key, buckets) -%}
    select
        hash({{ key }}) % {{ buckets }} as bucket,
        cast(hash({{ relation }}) as hugeint) as row_hash  -- the whole row, as a struct
    from {{ relation }}
{%- endmacro %}

{% macro spark__row_hashes(relation, key, buckets) -%}
    select
        pmod(xxhash64({{ key }}), {{ buckets }}) as bucket,
        cast(xxhash64(*) as decimal(38, 0)) as row_hash
    from {{ relation }}
{%- endmacro %}
