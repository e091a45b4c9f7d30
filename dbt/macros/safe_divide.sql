{#- numerator / denominator as a double; null when the denominator is 0 or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    (cast({{ numerator }} as double) / nullif(cast({{ denominator }} as double), 0))
{%- endmacro %}


{#- An amount (decimal, to the cent) divided by a count, as decimal(18, 2) rounded half away from
    zero; null when the count is 0 or null. Divided in whole cents: the quotient of two integers
    is exact in a double exactly when it ends in .5, so both engines round a half cent the same
    way (a double divided in dollars, 2580.95 / 2, is 1290.4749... in binary: DuckDB's cast
    gave 1290.47, Spark's 1290.48). -#}
{% macro safe_divide_money(amount, count) -%}
    cast(
        round(cast(round({{ amount }} * 100) as double) / nullif(cast({{ count }} as double), 0)) / 100
        as decimal(18, 2)
    )
{%- endmacro %}
