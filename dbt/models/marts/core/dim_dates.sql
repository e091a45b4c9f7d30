-- One row per calendar day from the earliest to the latest date found in the data (customer
-- creation, orders, email events, leads, tickets, surveys, campaign start and end) and at least
-- up to the analysis date. Generated without a package (macro days_from_to).

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

spine as (

    {{ days_from_to('first_date', 'last_date', 'date_range where first_date is not null') }}

),

final as (

    -- Cast to the contract's types: the engines return different integer widths.
    select
        date_day,
        cast(year(date_day) * 10000 + month(date_day) * 100 + day(date_day) as integer) as date_id,
        cast(year(date_day) as bigint) as year,
        cast(quarter(date_day) as bigint) as quarter,
        cast(month(date_day) as bigint) as month,
        {{ month_name('date_day') }} as month_name,
        cast(date_trunc('month', date_day) as date) as date_month,
        cast(weekofyear(date_day) as bigint) as week,
        cast({{ iso_year('date_day') }} as bigint) as iso_year,
        cast(date_trunc('week', date_day) as date) as week_start_date,
        cast(day(date_day) as bigint) as day_of_month,
        cast({{ iso_day_of_week('date_day') }} as bigint) as day_of_week,
        {{ day_name('date_day') }} as day_of_week_name,
        cast(dayofyear(date_day) as bigint) as day_of_year,
        {{ iso_day_of_week('date_day') }} in (6, 7) as is_weekend

    from spine

)

select * from final
