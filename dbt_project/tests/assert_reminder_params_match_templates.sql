-- Every staged reminder carries exactly as many parameters as its approved template takes, none
-- empty: a provider refuses a mismatched TemplateParamSet, and an empty value reads as a broken text.
select
    r.as_of_date,
    r.idempotency_key,
    r.template_code
from {{ ref('reminder_candidates') }} as r
inner join {{ ref('message_templates') }} as t
    on r.template_code = t.template_code and r.channel = t.channel
where
    jsonb_array_length(r.template_params) <> t.param_count
    or exists (
        select 1 from jsonb_array_elements(r.template_params) as p (v)
        where jsonb_typeof(p.v) <> 'string' or p.v #>> '{}' = ''
    )
