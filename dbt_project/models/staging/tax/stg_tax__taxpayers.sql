with

source as (
    {{ latest_snapshot(source('raw', 'tax__taxpayers')) }}
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
        taxpayer_name,
        registered_date,
        tax_info_confirmed_date,
        first_declaration_date,
        status as taxpayer_status,
        entity_type,
        industry_code,
        vat_taxpayer_type,
        branch_code,
        officer_code,
        contact_name,
        contact_mobile,
        is_exporter,
        is_key_source,
        nullif(trim(wechat_openid), '') as wechat_openid,
        _drop_date as snapshot_date
    from deduped
    where _seq = 1
)

select * from renamed
