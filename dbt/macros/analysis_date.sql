{#-
    The configured analysis date: env var CRM_ANALYSIS_DATE (YYYY-MM-DD), or none. Models do not
    call this directly: they read int_analysis_date, which falls back to the latest event.
-#}
{% macro configured_analysis_date() -%}
    {%- set value = env_var('CRM_ANALYSIS_DATE', '') | trim -%}
    {%- if value and not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error("CRM_ANALYSIS_DATE must be YYYY-MM-DD, got '" ~ value ~ "'") }}
    {%- endif -%}
    {{- return(value if value else none) -}}
{%- endmacro %}
