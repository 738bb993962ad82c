{{
    config(
        materialized='incremental',
        incremental_strategy='replace_partition',
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
    )
}}
-- 提醒候选: the reminders the night decides to send, one row per warning × channel × recipient,
-- with the outbox's idempotency key, validity window, template and its parameters. `zxt
-- stage-reminders` upserts the published date's rows into delivery.outbox; nothing else decides.
with

warnings as (
    select * from {{ ref('credit_warning') }}
    where as_of_date = {{ as_of_date() }}
),

templates as (
    select * from {{ ref('message_templates') }}
),

contacts as (
    select * from {{ ref('int_contacts__reachable') }}
),

suppression as (
    select * from {{ source('delivery', 'suppression') }}
),

-- An overdue return with nothing left to restore gets the plain wording.
worded as (
    select
        *,
        case
            when warning_type = 'filing_due_soon' then 'FILING_DUE_SOON'
            when restore_by_date is not null then 'FILING_OVERDUE'
            else 'FILING_OVERDUE_NO_REPAIR'
        end as template_code,
        case
            when period_type = 'quarter' then to_char(period_start, 'YYYY"年第"Q"季度"')
            else to_char(period_start, 'YYYY"年"FMMM"月"')
        end as period_label
    from warnings
    -- Overdue returns older than this go to officers, not to the taxpayer's phone.
    where warning_type = 'filing_due_soon' or days_late <= {{ var('reminder_max_days_late') | int }}
),

-- Every value a template may name (message_templates.param_names), by that name.
valued as (
    select
        *,
        jsonb_build_object(
            'taxpayer_name', left(taxpayer_name, 20),
            'tax_type_name', tax_type_name,
            'period', period_label,
            'deadline', to_char(deadline_date, 'FMMM"月"FMDD"日"'),
            'restore_by', to_char(restore_by_date, 'FMMM"月"FMDD"日"')
        ) as named_values
    from worded
),

-- One channel per reminder: WeChat where the contact follows the bureau's official account (and
-- has not opted out of it), SMS otherwise — a valid mobile not opted out on as_of_date. Should the
-- chosen channel fail for good, the relay's fallback tries the other one (zxt.delivery.fallback).
channel_recipients as (
    select
        v.*,
        'wechat' as channel,
        c.wechat_openid as recipient
    from valued as v
    inner join contacts as c on v.uscc = c.uscc
    where c.wechat_reachable

    union all

    select
        v.*,
        'sms' as channel,
        v.contact_mobile as recipient
    from valued as v
    left join contacts as c on v.uscc = c.uscc
    -- zxt.is_mobile: the one mobile pattern (zxt.core.identifiers), installed by the migrations.
    where
        v.sms_reachable and zxt.is_mobile(v.contact_mobile)
        and not coalesce(c.wechat_reachable, false)
),

final as (
    select
        r.as_of_date,
        encode(
            sha256(convert_to(concat_ws('|', r.uscc, r.warning_type, r.subject, r.channel, r.recipient), 'UTF8')),
            'hex'
        ) as idempotency_key,
        r.warning_id,
        r.uscc,
        r.warning_type as reminder_type,
        r.subject,
        r.channel,
        r.recipient,
        r.template_code,
        t.provider_template_id,
        (
            select jsonb_agg(r.named_values -> p.param_name order by p.ordinal)
            from unnest(string_to_array(t.param_names, '|')) with ordinality as p (param_name, ordinal)
            where p.ordinal <= t.param_count
        ) as template_params,
        t.param_count as template_param_count,
        -- From 08:00 the next morning; a due-soon reminder is pointless after its deadline day, an
        -- overdue one after three days or after the repair date it quotes.
        ((r.as_of_date + 1)::timestamp + interval '8 hours') at time zone 'Asia/Shanghai' as valid_from,
        (
            (
                case
                    when r.warning_type = 'filing_due_soon' then r.deadline_date
                    when r.template_code = 'FILING_OVERDUE' then least(r.as_of_date + 3, r.restore_by_date)
                    else r.as_of_date + 3
                end
            )::timestamp
            + interval '21 hours'
        ) at time zone 'Asia/Shanghai' as valid_until,
        r.priority
    from channel_recipients as r
    inner join templates as t
        on r.template_code = t.template_code and r.channel = t.channel
    -- Finance content (纳税信用贷) goes by WeChat only, never by SMS.
    where
        (r.channel = 'wechat' or t.content_class is distinct from 'finance')
        and not exists (
            select 1 from suppression as s
            where s.channel = r.channel and s.recipient = r.recipient
        )
)

select * from final
