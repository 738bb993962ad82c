with

source as (
    {{ latest_snapshot(source('raw', 'power__electricity_use')) }}
),

deduped as (
    select
        *,
        row_number() over (partition by uscc, month order by _source_file, _row_number) as _seq
    from source
),

renamed as (
    select
        uscc,
        account_no,
        month as usage_month,
        kwh,
        _drop_date as snapshot_date
    from deduped
    where _seq = 1
)

select * from renamed
