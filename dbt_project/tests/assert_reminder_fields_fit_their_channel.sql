-- The actual reminder rows against their channel's rules: no parameter longer than the template
-- allows (WeChat: 20 characters) or carrying a line break, no template whose wording the channel
-- forbids (finance words by SMS), no finance content outside WeChat.
with

reminders as (
    select * from {{ ref('reminder_candidates') }}
),

templates as (
    select * from {{ ref('message_templates') }}
),

params as (
    select
        r.as_of_date,
        r.idempotency_key,
        r.channel,
        r.template_code,
        p.ordinal,
        p.value
    from reminders as r
    cross join lateral jsonb_array_elements_text(r.template_params) with ordinality as p (value, ordinal)
)

select
    p.as_of_date,
    p.idempotency_key,
    p.channel,
    p.template_code,
    'parameter ' || p.ordinal || ' too long or multi-line' as problem
from params as p
inner join templates as t on p.template_code = t.template_code and p.channel = t.channel
where char_length(p.value) > t.max_param_chars or p.value ~ '[\r\n]'

union all

select
    r.as_of_date,
    r.idempotency_key,
    r.channel,
    r.template_code,
    'template wording forbidden on this channel: ' || w.word as problem
from reminders as r
inner join templates as t on r.template_code = t.template_code and r.channel = t.channel
inner join {{ ref('forbidden_wording') }} as w on r.channel = w.channel and strpos(t.text_zh, w.word) > 0

union all

select
    r.as_of_date,
    r.idempotency_key,
    r.channel,
    r.template_code,
    'finance content outside WeChat' as problem
from reminders as r
inner join templates as t on r.template_code = t.template_code and r.channel = t.channel
where t.content_class = 'finance' and r.channel <> 'wechat'
