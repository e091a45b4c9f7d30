-- Question: How well do we retain customers, by the month they first bought?
-- One row per acquisition cohort: its size and the share still buying 1, 3, 6 and 12 months later.

select
    cohort_month,
    max(cohort_size) as cohort_size,
    round(max(case when months_since_first_order = 1 then retention_rate end), 3) as retention_month_1,
    round(max(case when months_since_first_order = 3 then retention_rate end), 3) as retention_month_3,
    round(max(case when months_since_first_order = 6 then retention_rate end), 3) as retention_month_6,
    round(max(case when months_since_first_order = 12 then retention_rate end), 3) as retention_month_12,
    max(cumulative_revenue_usd) as revenue_to_date_usd

from marts.cohort_retention
group by cohort_month
order by cohort_month
