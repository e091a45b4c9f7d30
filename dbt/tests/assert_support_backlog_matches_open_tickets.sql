-- A reconciliation across tables, shown in Dagster as a check on support_kpis_daily.
{{ config(meta={'dagster': {'ref': {'name': 'support_kpis_daily'}}}) }}

-- The backlog of support_kpis_daily on the analysis date (summed over channels and priorities)
-- equals the tickets fct_tickets says are open at the end of that day. Returns a row when not.

with

backlog as (

    select coalesce(sum(kpis.backlog), 0) as backlog
    from {{ ref('support_kpis_daily') }} as kpis
    inner join {{ ref('int_analysis_date') }} as analysis
        on kpis.date_day = analysis.analysis_date

),

open_tickets as (

    select count(*) as open_tickets
    from {{ ref('fct_tickets') }}
    where is_open

)

select
    backlog.backlog,
    open_tickets.open_tickets

from backlog
cross join open_tickets
where backlog.backlog != open_tickets.open_tickets
