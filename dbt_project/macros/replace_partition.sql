{#- Incremental strategy for partitioned marts: a rebuild replaces the run's whole partition.

    dbt's delete+insert deletes only the partitions present in the new rows, so a date rebuilt to
    nothing (an authorisation revoked, a warning resolved) kept its old rows. Here the partition of
    the run's as_of_date is deleted whatever the new row count, then the new rows are inserted, in
    the materialization's transaction. `unique_key` names the partition column. -#}
{% macro get_incremental_replace_partition_sql(arg_dict) %}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set partition = arg_dict["unique_key"] -%}
    {%- if partition is none or partition is not string -%}
        {{ exceptions.raise_compiler_error(
            "replace_partition needs unique_key = the partition column (e.g. 'as_of_date'), got "
            ~ partition ~ " in " ~ target) }}
    {%- endif -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    delete from {{ target }}
    where
        {{ partition }} = {{ as_of_date() }}
        or {{ partition }} in (select distinct {{ partition }} from {{ source }});

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{% endmacro %}
