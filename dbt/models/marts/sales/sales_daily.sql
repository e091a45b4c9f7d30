-- Sales per day, from the first order day to the analysis date (days without orders included,
-- with zeros). Orders count every order placed (any status); revenue, margin, average order
-- value and customers only the revenue-generating ones. A customer is new on the day of their
-- acquisition (int_customer_acquisition: the first revenue-generating order, inside the data
-- window; the cohorts' definition) and returning on any other day they place such an order.

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

daily_orders as (

    select
        orders.order_date as date_day,
        count(*) filter (where not orders.is_refund) as orders,
        count(*) filter (where orders.is_revenue_generating) as revenue_generating_orders,
        count(*) filter (where orders.is_refund) as refunds,
        sum(orders.net_revenue_usd) as revenue_usd,
        -sum(orders.net_revenue_usd) filter (where orders.is_refund) as refunded_usd,
        sum(orders.total_amount_usd) filter (where orders.is_revenue_generating) as order_value_usd,
        sum(case when orders.is_revenue_generating then orders.gross_margin_usd end) as gross_margin_usd,
        count(
            distinct case
                when orders.is_revenue_generating and acquisitions.is_acquired_in_window
                    and acquisitions.first_order_date = orders.order_date
                    then orders.customer_id
            end
        ) as new_customers,
        count(
            distinct case
                when orders.is_revenue_generating
                    and not (acquisitions.is_acquired_in_window and acquisitions.first_order_date = orders.order_date)
                    then orders.customer_id
            end
        ) as returning_customers

    from orders
    left join acquisitions
        on orders.customer_id = acquisitions.customer_id
    group by orders.order_date

),

days as (

    select dates.date_day
    from dates
    cross join analysis
    where
        dates.date_day >= (select min(order_date) from orders)
        and dates.date_day <= analysis.analysis_date

),

final as (

    select
        days.date_day,
        coalesce(daily_orders.orders, 0) as orders,
        coalesce(daily_orders.revenue_generating_orders, 0) as revenue_generating_orders,
        coalesce(daily_orders.refunds, 0) as refunds,
        cast(coalesce(daily_orders.revenue_usd, 0) as decimal(18, 2)) as revenue_usd,
        cast(coalesce(daily_orders.refunded_usd, 0) as decimal(18, 2)) as refunded_usd,
        cast(daily_orders.gross_margin_usd as decimal(18, 2)) as gross_margin_usd,
        coalesce(daily_orders.new_customers, 0) as new_customers,
        coalesce(daily_orders.returning_customers, 0) as returning_customers,
        cast(
            {{ safe_divide('daily_orders.order_value_usd', 'daily_orders.revenue_generating_orders') }}
            as decimal(18, 2)
        ) as average_order_value_usd

    from days
    left join daily_orders
        on days.date_day = daily_orders.date_day

)

select * from final
