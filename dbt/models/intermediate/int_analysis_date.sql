{{ config(materialized='table') }}

-- The one "today" of every as-of computation (recency, RFM, cohorts, open tickets, SLA clocks,
-- churn cutoffs): CRM_ANALYSIS_DATE (YYYY-MM-DD) when set, otherwise the date of the latest
-- event in the data (orders, email events, tickets), never the wall clock, so a historical
-- export is analysed as if it were that day. One row; nulls only when there is no event at all.

{%- set configured_date = configured_analysis_date() %}

with

latest_events as (

    select max(ordered_at) as latest_event_at from {{ ref('stg_sales__orders') }}
    union all
    select max(occurred_at) from {{ ref('stg_marketing__email_events') }}
    union all
    select max(created_at) from {{ ref('stg_support__tickets') }}

),

latest as (

    select max(latest_event_at) as latest_event_at
    from latest_events

),

final as (

    select
        {% if configured_date -%}
        cast('{{ configured_date }}' as date) as analysis_date,
        'CRM_ANALYSIS_DATE' as analysis_date_source,
        {%- else -%}
        cast(latest_event_at as date) as analysis_date,
        'latest_event' as analysis_date_source,
        {%- endif %}
        latest_event_at

    from latest

),

with_cutoff as (

    select
        analysis_date,
        -- events strictly before the cutoff happened on or before the analysis date
        cast(analysis_date + 1 as timestamp) as analysis_cutoff_at,
        cast(date_trunc('month', analysis_date) as date) as analysis_month,
        analysis_date_source,
        latest_event_at

    from final

)

select * from with_cutoff
