{{ config(materialized='table', post_hook='analyze {{ this }}') }}
-- A table, not a view: the latest-snapshot filter hides the row count from the planner (it
-- expected a few hundred rows of tens of thousands and chose nested loops downstream).
with

source as (
    {{ latest_snapshot(source('raw', 'tax__obligations')) }}
),

deduped as (
    select
        *,
        row_number() over (
            partition by uscc, tax_type, valid_from order by _source_file, _row_number
        ) as _seq
    from source
),

renamed as (
    select
        uscc,
        tax_type,
        period_type,
        valid_from,
        valid_to
    from deduped
    where _seq = 1
)

select * from renamed
