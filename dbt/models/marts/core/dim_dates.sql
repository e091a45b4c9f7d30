-- One row per calendar day from the earliest to the latest date found in the data (customer
-- creation, orders, email events, leads, tickets, surveys, campaign start and end) and at least
-- up to the analysis date. Generated with DuckDB's range(), no package.

with

bounds as (

    select min(created_at) as first_at, max(created_at) as last_at from {{ ref('stg_sales__customers') }}
    union all
    select min(ordered_at), max(ordered_at) from {{ ref('stg_sales__orders') }}
    union all
    select min(occurred_at), max(occurred_at) from {{ ref('stg_marketing__email_events') }}
    union all
    select min(created_at), max(coalesce(converted_at, created_at)) from {{ ref('stg_marketing__leads') }}
    union all
    select min(started_at), max(coalesce(ended_at, started_at)) from {{ ref('stg_marketing__campaigns') }}
    union all
    select min(created_at), max(greatest(created_at, first_response_at, resolved_at)) from {{ ref('stg_support__tickets') }}
    union all
    select min(responded_at), max(responded_at) from {{ ref('stg_support__satisfaction_surveys') }}
    union all
    select cast(analysis_date as timestamp), cast(analysis_date as timestamp) from {{ ref('int_analysis_date') }}

),

date_range as (

    select
        cast(min(first_at) as date) as first_date,
        cast(max(last_at) as date) as last_date

    from bounds

),

days as (

    select
        unnest(
            generate_series(cast(first_date as timestamp), cast(last_date as timestamp), interval 1 day)
        ) as day_at

    from date_range
    where first_date is not null

),

spine as (

    select cast(day_at as date) as date_day
    from days

),

final as (

    select
        date_day,
        cast(strftime(date_day, '%Y%m%d') as integer) as date_id,
        year(date_day) as year,
        quarter(date_day) as quarter,
        month(date_day) as month,
        monthname(date_day) as month_name,
        cast(date_trunc('month', date_day) as date) as date_month,
        weekofyear(date_day) as week,
        isoyear(date_day) as iso_year,
        cast(date_trunc('week', date_day) as date) as week_start_date,
        day(date_day) as day_of_month,
        isodow(date_day) as day_of_week,
        dayname(date_day) as day_of_week_name,
        dayofyear(date_day) as day_of_year,
        isodow(date_day) in (6, 7) as is_weekend

    from spine

)

select * from final
