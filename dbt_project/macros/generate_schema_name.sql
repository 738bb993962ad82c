{#- Layers live in fixed schemas (stg, int, marts, rules) whatever the target, so officers and
    delivery code find the same names in every environment. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
