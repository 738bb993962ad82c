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

{#- The bureau's administrative division (GB/T 2260; Guangshui 421381): local deadline extensions
    of its county, prefecture and province apply, the most local first. -#}
{% macro bureau_region_code() -%}
    {{ var('bureau_region_code') | string }}
{%- endmacro %}

{% macro region_hierarchy_sql() -%}
    {%- set code = var('bureau_region_code') | string -%}
    '{{ code }}', '{{ code[:4] }}00', '{{ code[:2] }}0000', '000000'
{%- endmacro %}

{#- 0 for the bureau's own county, 1 prefecture, 2 province, 3 national: order by it, most local first. -#}
{% macro region_rank(column) -%}
    {%- set code = var('bureau_region_code') | string -%}
    case {{ column }} when '{{ code }}' then 0 when '{{ code[:4] }}00' then 1 when '{{ code[:2] }}0000' then 2 else 3 end
{%- endmacro %}
