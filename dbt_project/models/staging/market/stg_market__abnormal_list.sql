with

source as (
    {{ latest_snapshot(source('raw', 'market__abnormal_list')) }}
),

deduped as (
    select
        *,
        row_number() over (partition by uscc, listed_date order by _source_file, _row_number) as _seq
    from source
),

renamed as (
    select
        uscc,
        enterprise_name,
        listed_date,
        reason as listed_reason,
        authority,
        removed_date,
        _drop_date as snapshot_date
    from deduped
    where _seq = 1
)

select * from renamed
