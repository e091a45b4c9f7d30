{#- Emails as typed by people and tools: lower case, no surrounding spaces, blank -> null. -#}
{% macro normalize_email(column_name) -%}
    nullif(lower(trim({{ column_name }})), '')
{%- endmacro %}
