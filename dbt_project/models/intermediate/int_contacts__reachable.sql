-- The SMS contact of each enterprise and whether that number may be messaged on as_of_date:
-- a valid mainland mobile whose latest consent event for SMS is not an opt-out. WeChat reaches a
-- contact who follows the bureau's official account (an openid in the registry) and has not opted
-- out of WeChat.
with

taxpayers as (
    select * from {{ ref('stg_tax__taxpayers') }}
),

consents as (
    select * from {{ ref('stg_contact__consents') }}
),

latest_sms_event as (
    select distinct on (contact_mobile)
        contact_mobile,
        event_type,
        event_date
    from consents
    where channel = 'sms'
    order by contact_mobile asc, event_date desc, event_id desc
),

latest_wechat_event as (
    select distinct on (contact_mobile)
        contact_mobile,
        event_type
    from consents
    where channel = 'wechat'
    order by contact_mobile asc, event_date desc, event_id desc
),

final as (
    select
        t.uscc,
        t.contact_name,
        t.contact_mobile,
        coalesce(e.event_type = 'opt_out', false) as sms_opted_out,
        e.event_date as sms_consent_event_date,
        t.contact_mobile is not null and coalesce(e.event_type <> 'opt_out', true) as sms_reachable,
        t.wechat_openid,
        t.wechat_openid is not null and coalesce(w.event_type <> 'opt_out', true) as wechat_reachable
    from taxpayers as t
    left join latest_sms_event as e on t.contact_mobile = e.contact_mobile
    left join latest_wechat_event as w on t.contact_mobile = w.contact_mobile
)

select * from final
