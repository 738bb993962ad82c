with

source as (
    select *
    from {{ source('raw', 'contact__consents') }}
    where
        _drop_date <= {{ as_of_date() }}
        and event_date <= {{ as_of_date() }}
),

deduped as (
    select
        *,
        row_number() over (partition by event_id order by _drop_date, _source_file, _row_number) as _seq
    from source
),

renamed as (
    select
        event_id,
        uscc,
        contact_mobile,
        channel,
        event_type,
        event_date
    from deduped
    where _seq = 1
)

select * from renamed
