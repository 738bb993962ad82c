-- Finance content (纳税信用贷) goes by WeChat only, never by SMS (delivery.md, "Rules on what may be
-- sent"); a WeChat template names exactly one data key per parameter.
select
    template_code,
    channel,
    'finance content outside WeChat' as problem
from {{ ref('message_templates') }}
where content_class = 'finance' and channel <> 'wechat'

union all

select
    template_code,
    channel,
    'provider_keys do not match param_count' as problem
from {{ ref('message_templates') }}
where
    channel = 'wechat'
    and coalesce(array_length(string_to_array(provider_keys, '|'), 1), 0) <> param_count
