{#
    SQL that DuckDB and Spark SQL write differently, in one place. The models use these (and
    dbt's own cross-database macros: dbt.datediff, dbt.date_trunc, dbt.hash, ...) instead of
    either engine's dialect, so that one project builds the same marts on both targets
    (docs/spark.md). Each macro has a DuckDB default and a Spark version, chosen by
    adapter.dispatch; another adapter falls back to the default.
#}

{#- An interval of a whole number of days (a var or a literal): `ts - {{ interval_days(7) }}`. -#}
{% macro interval_days(days) -%}
    interval {{ days | int }} day
{%- endmacro %}

{#- Whole days from one date to another (end - start), as an integer. -#}
{% macro days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('days_between')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__days_between(start_date, end_date) -%}
    date_diff('day', {{ start_date }}, {{ end_date }})
{%- endmacro %}

{% macro spark__days_between(start_date, end_date) -%}
    cast(datediff({{ end_date }}, {{ start_date }}) as bigint)
{%- endmacro %}


{#- Seconds from one timestamp to another (end - start), fractions included, as a double. -#}
{% macro seconds_between(start_at, end_at) -%}
    {{ return(adapter.dispatch('seconds_between')(start_at, end_at)) }}
{%- endmacro %}

{% macro default__seconds_between(start_at, end_at) -%}
    epoch({{ end_at }} - {{ start_at }})
{%- endmacro %}

{% macro spark__seconds_between(start_at, end_at) -%}
    cast(unix_micros({{ end_at }}) - unix_micros({{ start_at }}) as double) / 1000000
{%- endmacro %}


{#- Calendar months from the month of one date to the month of another (the day is ignored). -#}
{% macro months_between_months(start_date, end_date) -%}
    (
        (extract(year from {{ end_date }}) - extract(year from {{ start_date }})) * 12
        + extract(month from {{ end_date }}) - extract(month from {{ start_date }})
    )
{%- endmacro %}


{#- A date plus a whole number of months (an integer expression), as a date. -#}
{% macro add_months(date_expression, months) -%}
    {{ return(adapter.dispatch('add_months')(date_expression, months)) }}
{%- endmacro %}

{% macro default__add_months(date_expression, months) -%}
    cast({{ date_expression }} + to_months(cast({{ months }} as integer)) as date)
{%- endmacro %}

{% macro spark__add_months(date_expression, months) -%}
    add_months({{ date_expression }}, cast({{ months }} as integer))
{%- endmacro %}


{#- 'YYYY-MM' of a date. -#}
{% macro year_month_text(date_expression) -%}
    substr(cast(cast({{ date_expression }} as date) as string), 1, 7)
{%- endmacro %}


{#- Every day from one date to another, both included: a select of one column `date_day`. -#}
{% macro days_from_to(first_date, last_date, from_relation) -%}
    {{ return(adapter.dispatch('days_from_to')(first_date, last_date, from_relation)) }}
{%- endmacro %}

{% macro default__days_from_to(first_date, last_date, from_relation) -%}
    select cast(unnest(generate_series(
        cast({{ first_date }} as timestamp), cast({{ last_date }} as timestamp), interval 1 day
    )) as date) as date_day
    from {{ from_relation }}
{%- endmacro %}

{% macro spark__days_from_to(first_date, last_date, from_relation) -%}
    select explode(sequence(cast({{ first_date }} as date), cast({{ last_date }} as date), interval 1 day)) as date_day
    from {{ from_relation }}
{%- endmacro %}


{#- Whole numbers from 0 to an integer expression, both included, for each row of a relation:
    `select <columns>, <offset> as <name> from <relation>`. -#}
{% macro with_offsets(relation, columns, last_offset, name) -%}
    {{ return(adapter.dispatch('with_offsets')(relation, columns, last_offset, name)) }}
{%- endmacro %}

{% macro default__with_offsets(relation, columns, last_offset, name) -%}
    select {{ columns | join(', ') }}, cast(unnest(range(0, {{ last_offset }} + 1)) as integer) as {{ name }}
    from {{ relation }}
{%- endmacro %}

{% macro spark__with_offsets(relation, columns, last_offset, name) -%}
    select {{ columns | join(', ') }}, explode(sequence(0, cast({{ last_offset }} as integer))) as {{ name }}
    from {{ relation }}
{%- endmacro %}


{#- A regular-expression test, true when `expression` matches `pattern` anywhere. -#}
{% macro regex_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_matches')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(expression, pattern) -%}
    regexp_matches({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__regex_matches(expression, pattern) -%}
    regexp_like({{ expression }}, '{{ pattern }}')
{%- endmacro %}


{#- Every match of `pattern` in `expression` removed. DuckDB replaces only the first match
    without the 'g' flag; Spark always replaces all. -#}
{% macro regex_remove_all(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_remove_all')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regex_remove_all(expression, pattern) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '', 'g')
{%- endmacro %}

{% macro spark__regex_remove_all(expression, pattern) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '')
{%- endmacro %}


{#- Calendar attributes of a date (dim_dates): ISO day of week 1 = Monday ... 7 = Sunday, the ISO
    week-numbering year, and the English month and day names. -#}
{% macro iso_day_of_week(date_expression) -%}
    {{ return(adapter.dispatch('iso_day_of_week')(date_expression)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(date_expression) -%}
    isodow({{ date_expression }})
{%- endmacro %}

{% macro spark__iso_day_of_week(date_expression) -%}
    extract(dayofweek_iso from {{ date_expression }})
{%- endmacro %}

{% macro iso_year(date_expression) -%}
    {{ return(adapter.dispatch('iso_year')(date_expression)) }}
{%- endmacro %}

{% macro default__iso_year(date_expression) -%}
    isoyear({{ date_expression }})
{%- endmacro %}

{% macro spark__iso_year(date_expression) -%}
    extract(yearofweek from {{ date_expression }})
{%- endmacro %}

{% macro month_name(date_expression) -%}
    {{ return(adapter.dispatch('month_name')(date_expression)) }}
{%- endmacro %}

{% macro default__month_name(date_expression) -%}
    monthname({{ date_expression }})
{%- endmacro %}

{% macro spark__month_name(date_expression) -%}
    date_format({{ date_expression }}, 'MMMM')
{%- endmacro %}

{% macro day_name(date_expression) -%}
    {{ return(adapter.dispatch('day_name')(date_expression)) }}
{%- endmacro %}

{% macro default__day_name(date_expression) -%}
    dayname({{ date_expression }})
{%- endmacro %}

{% macro spark__day_name(date_expression) -%}
    date_format({{ date_expression }}, 'EEEE')
{%- endmacro %}


{#- The materialization of the incremental models: incremental on DuckDB (delete+insert and
    merge on a key), a table rebuilt in full on Spark, where Parquet tables offer neither
    strategy (only append and insert_overwrite of partitions) and a full rebuild is what the
    cluster is for. -#}
{% macro incremental_materialization() -%}
    {{ return('table' if target.type == 'spark' else 'incremental') }}
{%- endmacro %}
