{#
    Every row of the model satisfies a SQL expression (rows where it is false fail; null counts
    as true, so optional values do not fail). A small stand-in for dbt_utils.expression_is_true.
#}
{% test expression_is_true(model, expression) %}

    select *
    from {{ model }}
    where not coalesce({{ expression }}, true)

{% endtest %}
