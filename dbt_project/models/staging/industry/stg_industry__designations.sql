with

source as (
    {{ latest_snapshot(source('raw', 'industry__designations')) }}
),

deduped as (
    select
        *,
        row_number() over (partition by uscc, designation order by _source_file, _row_number) as _seq
    from source
),

renamed as (
    select
        uscc,
        enterprise_name,
        designation,
        level as designation_level,
        granted_date,
        expires_date,
        _drop_date as snapshot_date
    from deduped
    where _seq = 1
)

select * from renamed
