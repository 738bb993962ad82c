-- SMS template rules reject finance / marketing content: a reminder about the taxpayer's own
-- filing may never mention loans, credit reports or banks (delivery.md, "Rules on what may be sent").
select template_code, text_zh
from {{ ref('message_templates') }}
where channel = 'sms'
  and (text_zh like '%贷%' or text_zh like '%银行%' or text_zh like '%征信%' or text_zh like '%融资%'
       or text_zh like '%利率%' or text_zh like '%额度%')
