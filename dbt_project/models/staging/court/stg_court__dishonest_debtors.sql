with

source as (
    {{ latest_snapshot(source('raw', 'court__dishonest_debtors')) }}
),

deduped as (
    select
        *,
        row_number() over (partition by case_no order by _source_file, _row_number) as _seq
    from source
),

renamed as (
    select
        case_no,
        uscc,
        debtor_name,
        court,
        published_date,
        performance,
        amount_due,
        removed_date,
        _drop_date as snapshot_date
    from deduped
    where _seq = 1
)

select * from renamed
