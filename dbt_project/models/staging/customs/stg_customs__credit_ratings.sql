with

source as (
    {{ latest_snapshot(source('raw', 'customs__credit_ratings')) }}
),

deduped as (
    select
        *,
        row_number() over (partition by uscc order by _source_file, _row_number) as _seq
    from source
),

renamed as (
    select
        uscc,
        customs_code,
        rating as customs_rating,
        rated_date,
        _drop_date as snapshot_date
    from deduped
    where _seq = 1
)

select * from renamed
