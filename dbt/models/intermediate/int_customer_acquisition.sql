-- When each customer was acquired, under the one definition of a new customer that
-- cohort_retention, sales_daily and sales_monthly share: a customer is new at their first
-- revenue-generating order, if that order is their first ever as far as the data can tell.
--
-- An export covers a window of time. A customer who existed before the window (created_at
-- before the first order in the data) may well have bought before it, so their first order in
-- the data is not an acquisition: they are 'before_window' and belong to no cohort. So are
-- customers without a created_at whose first order falls on the window's first day, which
-- cannot be told apart from an order placed by a long-standing customer. Orders on or before the
-- analysis date; one row per customer with at least one revenue-generating order.

with

orders as (

    select * from {{ ref('fct_orders') }}

),

customers as (

    select * from {{ ref('int_customers__unioned') }}

),

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

orders_to_date as (

    select orders.*
    from orders
    cross join analysis
    where orders.order_date <= analysis.analysis_date

),

data_window as (

    select min(order_date) as window_started_on
    from orders_to_date

),

first_revenue_orders as (

    select
        customer_id,
        min(ordered_at) as first_order_at

    from orders_to_date
    where is_revenue_generating and customer_id is not null
    group by customer_id

),

final as (

    select
        first_revenue_orders.customer_id,
        first_revenue_orders.first_order_at,
        cast(date_trunc('month', first_revenue_orders.first_order_at) as date) as first_order_month,
        cast(first_revenue_orders.first_order_at as date) as first_order_date,
        data_window.window_started_on,
        case
            when cast(customers.created_at as date) < data_window.window_started_on then 'before_window'
            when
                customers.created_at is null
                and cast(first_revenue_orders.first_order_at as date) = data_window.window_started_on
                then 'before_window'
            else 'in_window'
        end as acquisition

    from first_revenue_orders
    cross join data_window
    left join customers
        on first_revenue_orders.customer_id = customers.customer_id

)

select
    customer_id,
    first_order_at,
    first_order_date,
    first_order_month,
    window_started_on,
    acquisition,
    acquisition = 'in_window' as is_acquired_in_window

from final
