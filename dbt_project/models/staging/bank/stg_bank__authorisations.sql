{{ config(materialized='table', post_hook='analyze {{ this }}') }}
-- A table, not a view: the latest-snapshot filter hides the row count from the planner (it
-- expected a few hundred rows of tens of thousands and chose nested loops downstream).
with

source as (
    {{ latest_snapshot(source('raw', 'bank__authorisations')) }}
),

deduped as (
    select
        *,
        row_number() over (partition by authorisation_id order by _source_file, _row_number) as _seq
    from source
),

renamed as (
    select
        authorisation_id,
        uscc,
        bank_code,
        authorised_date,
        expires_date,
        revoked_date,
        scope as authorised_scope
    from deduped
    where _seq = 1
)

select * from renamed
