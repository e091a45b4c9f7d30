-- Sales per calendar month, from the month of the first order to the analysis month (months
-- without orders included), on or before the analysis date. Same definitions as sales_daily,
-- with customers counted once per month: new in the month of their acquisition
-- (int_customer_acquisition, the cohorts' definition), returning in any other month they place a
-- revenue-generating order (so the month's figures are not sums of the daily ones).

with

orders as (

    select * from {{ ref('fct_orders') }}

),

dates as (

    select * from {{ ref('dim_dates') }}

),

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

acquisitions as (

    select * from {{ ref('int_customer_acquisition') }}

),

months_orders as (

    select
        cast(date_trunc('month', orders.order_date) as date) as date_month,
        orders.*,
        -- the month a customer is new in; null for customers acquired before the data window
        case when acquisitions.is_acquired_in_window then acquisitions.first_order_month end as acquisition_month

    from orders
    cross join analysis
    left join acquisitions
        on orders.customer_id = acquisitions.customer_id
    where orders.order_date <= analysis.analysis_date

),

monthly_orders as (

    select
        date_month,
        {{ sales_order_measures() }},
        count(distinct case when is_revenue_generating and acquisition_month = date_month then customer_id end)
            as new_customers,
        count(
            distinct case
                when is_revenue_generating and acquisition_month is distinct from date_month then customer_id
            end
        ) as returning_customers

    from months_orders
    group by date_month

),

months as (

    select distinct dates.date_month
    from dates
    cross join analysis
    where
        dates.date_day >= (select min(order_date) from orders)
        and dates.date_day <= analysis.analysis_date

),

final as (

    select
        months.date_month,
        {{ sales_period_figures('monthly_orders') }}

    from months
    left join monthly_orders
        on months.date_month = monthly_orders.date_month

)

select * from final
