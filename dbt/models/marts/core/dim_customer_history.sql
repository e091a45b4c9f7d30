{#
    The customer attributes over time (SCD2): one row per customer and version. A version starts
    at the load whose record of the customer differs from the state before it in a tracked
    attribute (segment, contact email and phone, city, country, company).

    Built from every customer record ever loaded (stg_sales__customer_records), not from dbt
    snapshots: the same rows on DuckDB and Spark (whose Parquet tables have no snapshots), rebuilt
    whole from the raw loads, so a warehouse rebuilt from scratch or a run skipped loses no
    version. valid_from is the load time of the record that started the version (when the
    warehouse learned it; the export does not say when the customer changed).
#}
{%- set tracked = ['segment', 'email_normalized', 'phone_normalized', 'city', 'country_code', 'company_name'] %}

with

records as (

    select * from {{ ref('stg_sales__customer_records') }}
    where customer_id is not null

),

-- A load may carry a customer twice (a file and its correction): what the load left is its
-- latest record, as stg_sales__customers picks it.
state_after_each_load as (

    select * except (_load_rank)
    from (
        select
            *,
            row_number() over (
                partition by customer_id, _loaded_at
                order by _source_file desc nulls last, _source_line desc nulls last
            ) as _load_rank
        from records
    ) as ranked
    where _load_rank = 1

),

compared_with_previous_load as (

    select
        *,
        {%- for column in tracked %}
        lag({{ column }}) over (partition by customer_id order by _loaded_at) as previous_{{ column }},
        {%- endfor %}
        row_number() over (partition by customer_id order by _loaded_at) as load_number

    from state_after_each_load

),

version_starts as (

    select *
    from compared_with_previous_load
    where load_number = 1
        {%- for column in tracked %}
        or {{ column }} is distinct from previous_{{ column }}
        {%- endfor %}

),

versions as (

    select
        *,
        cast(row_number() over (partition by customer_id order by _loaded_at) as integer) as version_number,
        lead(_loaded_at) over (partition by customer_id order by _loaded_at) as valid_to

    from version_starts

)

select
    concat(customer_id, '#', cast(version_number as string)) as customer_version_key,
    customer_id,
    version_number,
    email_normalized,
    phone,
    phone_normalized,
    first_name,
    last_name,
    company_name,
    segment,
    country_code,
    city,
    created_at,
    _loaded_at as valid_from,
    valid_to,
    valid_to is null as is_current,
    _source_file,
    _source_line

from versions
