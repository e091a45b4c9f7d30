{#
    The figures sales_daily and sales_monthly both report, so a day and a month are measured
    the same way.

    sales_order_measures(prefix): the aggregates over the orders of a period (one group), for
    columns of fct_orders read as `<prefix>column`. Orders count every order placed (refunds
    apart); revenue is net of refunds; order value, margin and average order value count the
    revenue-generating orders only.

    sales_period_figures(measures): the period's published columns from a left join of every
    period to those aggregates (`measures` the joined relation's alias): zeros for a period
    without orders, money as decimal(18, 2), margin and average order value left null there.
#}
{% macro sales_order_measures(prefix='') -%}
        count(*) filter (where not {{ prefix }}is_refund) as orders,
        count(*) filter (where {{ prefix }}is_revenue_generating) as revenue_generating_orders,
        count(*) filter (where {{ prefix }}is_refund) as refunds,
        sum({{ prefix }}net_revenue_usd) as revenue_usd,
        -sum({{ prefix }}net_revenue_usd) filter (where {{ prefix }}is_refund) as refunded_usd,
        sum({{ prefix }}total_amount_usd) filter (where {{ prefix }}is_revenue_generating) as order_value_usd,
        sum(case when {{ prefix }}is_revenue_generating then {{ prefix }}gross_margin_usd end) as gross_margin_usd
{%- endmacro %}

{% macro sales_period_figures(measures) -%}
        coalesce({{ measures }}.orders, 0) as orders,
        coalesce({{ measures }}.revenue_generating_orders, 0) as revenue_generating_orders,
        coalesce({{ measures }}.refunds, 0) as refunds,
        cast(coalesce({{ measures }}.revenue_usd, 0) as decimal(18, 2)) as revenue_usd,
        cast(coalesce({{ measures }}.refunded_usd, 0) as decimal(18, 2)) as refunded_usd,
        cast({{ measures }}.gross_margin_usd as decimal(18, 2)) as gross_margin_usd,
        coalesce({{ measures }}.new_customers, 0) as new_customers,
        coalesce({{ measures }}.returning_customers, 0) as returning_customers,
        {{ safe_divide_money(measures ~ '.order_value_usd', measures ~ '.revenue_generating_orders') }}
            as average_order_value_usd
{%- endmacro %}
