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
        {{ sales_order_measures('orders.') }},
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
        {{ sales_period_figures('daily_orders') }}

    from days
    left join daily_orders
        on days.date_day = daily_orders.date_day

)

select * from final
