-- SMS template rules reject finance / marketing content: a reminder about the taxpayer's own
-- filing may never mention loans, credit reports or banks (delivery.md, "Rules on what may be sent").
-- The words are the forbidden_wording seed, which the relay also checks at send time.
select
    t.template_code,
    w.word
from {{ ref('message_templates') }} as t
inner join {{ ref('forbidden_wording') }} as w
    on t.channel = w.channel and strpos(t.text_zh, w.word) > 0
