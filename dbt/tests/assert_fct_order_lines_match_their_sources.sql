{{ config(tags=['full_table_audit']) }}

-- The incremental fct_order_lines holds exactly what its sources give now: every line of the
-- deduplicated order lines, with the current order and product values (an incremental run that
-- missed a late or corrected record would show up here). Returns the differing rows.

with

fact as (

    select
        order_line_id,
        customer_id,
        product_id,
        ordered_at,
        quantity,
        revenue_usd,
        cost_usd,
        gross_margin_usd,
        is_revenue_generating

    from {{ ref('fct_order_lines') }}

),

sources as (

    select
        order_lines.order_line_id,
        orders.customer_id,
        order_lines.product_id,
        orders.ordered_at,
        order_lines.quantity,
        order_lines.revenue_usd,
        order_lines.cost_usd,
        order_lines.gross_margin_usd,
        orders.is_revenue_generating

    from {{ ref('int_order_lines__costed') }} as order_lines
    left join {{ ref('stg_sales__orders') }} as orders
        on order_lines.order_id = orders.order_id

),

only_in_fact as (

    select 'only in fct_order_lines' as side, * from (select * from fact except select * from sources)

),

only_in_sources as (

    select 'missing from fct_order_lines' as side, * from (select * from sources except select * from fact)

)

select * from only_in_fact
union all
select * from only_in_sources
