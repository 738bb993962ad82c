{{ config(materialized='table', post_hook='analyze {{ this }}') }}
-- A table, not a view: the latest-snapshot filter hides the row count from the planner (it
-- expected a few hundred rows of tens of thousands and chose nested loops downstream).
with

source as (
    {{ latest_snapshot(source('raw', 'credit__ratings')) }}
),

deduped as (
    select
        *,
        row_number() over (
            partition by uscc, evaluation_year order by _source_file, _row_number
        ) as _seq
    from source
    where published_date <= {{ as_of_date() }}
),

renamed as (
    select
        uscc,
        evaluation_year,
        score,
        credit_level,
        published_date
    from deduped
    where _seq = 1
)

select * from renamed
