with

source as (
    select *
    from {{ source('raw', 'market__registration_changes') }}
    where
        _drop_date <= {{ as_of_date() }}
        and change_date <= {{ as_of_date() }}
),

deduped as (
    select
        *,
        row_number() over (
            partition by change_id order by _drop_date desc, _source_file asc, _row_number asc
        ) as _seq
    from source
),

renamed as (
    select
        change_id,
        uscc,
        change_date,
        item as changed_item,
        before_value,
        after_value
    from deduped
    where _seq = 1
)

select * from renamed
