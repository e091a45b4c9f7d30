-- Acquisition cohorts (month of a customer's first revenue-generating order) by months since
-- that order: how many of the cohort ordered again (revenue-generating) in each month, the
-- retention rate and the revenue. The full grid from month 0 up to the analysis month for every
-- cohort, with zeros. Only orders placed on or before the analysis date count. Only customers
-- acquired inside the data window form cohorts (int_customer_acquisition): those who existed
-- before the export begins would otherwise swell its first month.

with

orders as (

    select * from {{ ref('fct_orders') }}

),

acquisitions as (

    select * from {{ ref('int_customer_acquisition') }}

),

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

revenue_orders as (

    select
        orders.customer_id,
        cast(date_trunc('month', orders.ordered_at) as date) as order_month,
        orders.is_revenue_generating,
        orders.net_revenue_usd

    from orders
    cross join analysis
    where
        (orders.is_revenue_generating or orders.is_refund)
        and cast(orders.ordered_at as date) <= analysis.analysis_date

),

customer_cohorts as (

    select
        customer_id,
        first_order_month as cohort_month

    from acquisitions
    where is_acquired_in_window

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_size

    from customer_cohorts
    group by cohort_month

),

cohorts_to_analysis as (

    select
        cohort_sizes.cohort_month,
        cohort_sizes.cohort_size,
        {{ months_between_months('cohort_sizes.cohort_month', 'analysis.analysis_month') }} as months_to_analysis

    from cohort_sizes
    cross join analysis

),

grid as (

    {{ with_offsets(
        'cohorts_to_analysis', ['cohort_month', 'cohort_size'], 'months_to_analysis', 'months_since_first_order'
    ) }}

),

monthly_activity as (

    select
        customer_cohorts.cohort_month,
        {{ months_between_months('customer_cohorts.cohort_month', 'revenue_orders.order_month') }}
            as months_since_first_order,
        count(distinct revenue_orders.customer_id) filter (where revenue_orders.is_revenue_generating)
            as active_customers,
        sum(revenue_orders.net_revenue_usd) as revenue_usd

    from revenue_orders
    inner join customer_cohorts
        on revenue_orders.customer_id = customer_cohorts.customer_id
    group by all

),

final as (

    select
        {{ year_month_text('grid.cohort_month') }} || '+' || grid.months_since_first_order as cohort_retention_id,
        grid.cohort_month,
        grid.months_since_first_order,
        {{ add_months('grid.cohort_month', 'grid.months_since_first_order') }} as activity_month,
        grid.cohort_size,
        coalesce(monthly_activity.active_customers, 0) as active_customers,
        {{ safe_divide('coalesce(monthly_activity.active_customers, 0)', 'grid.cohort_size') }} as retention_rate,
        cast(coalesce(monthly_activity.revenue_usd, 0) as decimal(18, 2)) as revenue_usd,
        cast(
            sum(coalesce(monthly_activity.revenue_usd, 0)) over (
                partition by grid.cohort_month
                order by grid.months_since_first_order
                rows between unbounded preceding and current row
            ) as decimal(18, 2)
        ) as cumulative_revenue_usd

    from grid
    left join monthly_activity
        on
            grid.cohort_month = monthly_activity.cohort_month
            and grid.months_since_first_order = monthly_activity.months_since_first_order

)

select * from final
