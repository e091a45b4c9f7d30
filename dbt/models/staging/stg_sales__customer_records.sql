with

source as (

    select * from {{ source('raw', 'customers') }}

),

renamed as (

    select
        -- ids
        nullif(trim(customer_id), '') as customer_id,

        -- contact
        {{ normalize_email('email') }} as email_normalized,
        nullif(trim(phone), '') as phone,
        {{ normalize_phone('phone') }} as phone_normalized,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        nullif(trim(company_name), '') as company_name,

        -- attributes
        nullif(lower(trim(segment)), '') as segment,
        nullif(upper(trim(country)), '') as country_code,
        nullif(trim(city), '') as city,

        -- timestamps (naive UTC)
        created_at,

        -- lineage
        _source_file,
        _source_line,
        _loaded_at

    from source

)

select * from renamed
