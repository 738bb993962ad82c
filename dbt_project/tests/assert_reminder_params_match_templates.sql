-- Every reminder carries exactly as many parameters as its approved template takes, none missing
-- or empty: a provider refuses a mismatched TemplateParamSet, and an empty value reads as a broken
-- text. (Reads the model alone, so dbt runs it after the model, not after the templates seed.)
select
    r.as_of_date,
    r.idempotency_key,
    r.template_code
from {{ ref('reminder_candidates') }} as r
where
    jsonb_array_length(r.template_params) <> r.template_param_count
    or exists (
        select 1 from jsonb_array_elements(r.template_params) as p (v)
        where jsonb_typeof(p.v) <> 'string' or p.v #>> '{}' = ''
    )
