{#- The business date of this run as a SQL date literal. Every model that reads facts filters
    on it, so a backfilled date sees only what was known that day. -#}
{% macro as_of_date() -%}
    {%- set value = var('as_of_date') -%}
    {%- if value is none and execute -%}
        {{ exceptions.raise_compiler_error("set the as_of_date var, e.g. --vars '{as_of_date: 2026-11-12}'") }}
    {%- endif -%}
    cast('{{ value if value is not none else "1970-01-01" }}' as date)
{%- endmacro %}

{% macro warning_horizon_days() -%}
    {{ var('warning_horizon_days') | int }}
{%- endmacro %}

{#- First deadline date considered: 1 January of the year lookback_years before as_of_date. -#}
{% macro lookback_start() -%}
    cast(date_trunc('year', {{ as_of_date() }}) - interval '{{ var("lookback_years") | int }} years' as date)
{%- endmacro %}
