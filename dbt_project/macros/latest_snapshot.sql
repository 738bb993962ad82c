{#- Rows of the latest drop on or before as_of_date of a snapshot dataset: no look-ahead. -#}
{% macro latest_snapshot(relation) -%}
    select *
    from {{ relation }}
    where _drop_date = (
        select max(_drop_date) from {{ relation }} where _drop_date <= {{ as_of_date() }}
    )
{%- endmacro %}
