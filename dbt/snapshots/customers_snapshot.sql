{#
    SCD2 history of the customer attributes of the sales customers export (latest record per
    customer, stg_sales__customers): a new version whenever the segment, email, phone, city,
    country or company of a customer changes between two dbt runs. dbt_valid_from and
    dbt_valid_to are the times of the runs that saw the change (not the time of the change in
    the sales system, which the export does not carry).
#}
{% snapshot customers_snapshot %}

    {{
        config(
            unique_key='customer_id',
            strategy='check',
            check_cols=['segment', 'email_normalized', 'phone_normalized', 'city', 'country_code', 'company_name'],
        )
    }}

    select
        customer_id,
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
        _loaded_at

    from {{ ref('stg_sales__customers') }}

{% endsnapshot %}
