"""Stage reminders: published warnings → ``delivery.outbox`` rows, sent later by the relay.

Deciding and sending are separate: this writes rows with a deterministic idempotency key
(taxpayer, reminder type, subject, channel, recipient), so rerunning a date, or the next day's run
for the same open warning, adds nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from zxt.core.settings import Settings, get_settings
from zxt.warehouse import migrate
from zxt.warehouse import server as warehouse

log = logging.getLogger(__name__)

# Template per warning; an overdue return with nothing left to restore gets the plain wording.
STAGE_SQL = """
with warnings as (
    select w.*,
           case
             when w.warning_type = 'filing_due_soon' then 'FILING_DUE_SOON'
             when w.restore_by_date is not null then 'FILING_OVERDUE'
             else 'FILING_OVERDUE_NO_REPAIR'
           end as template_code,
           case when w.period_type = 'quarter'
                then to_char(w.period_start, 'YYYY"年第"Q"季度"')
                else to_char(w.period_start, 'YYYY"年"FMMM"月"') end as period_label
    from marts.credit_warning w
    where w.as_of_date = :as_of
      and w.sms_reachable
      and (w.warning_type = 'filing_due_soon' or w.days_late <= :max_days_late)
      and zxt.is_mobile(w.contact_mobile)
),
candidates as (
    select w.*, t.provider_template_id,
           jsonb_build_array(
             left(w.taxpayer_name, 20), w.tax_type_name, w.period_label,
             case w.template_code
               when 'FILING_DUE_SOON' then to_char(w.deadline_date, 'FMMM"月"FMDD"日"')
               when 'FILING_OVERDUE' then to_char(w.restore_by_date, 'FMMM"月"FMDD"日"')
             end
           ) as params_full,
           t.param_count
    from warnings w
    join rules.message_templates t on t.template_code = w.template_code and t.channel = 'sms'
    where not exists (
        select 1 from delivery.suppression s where s.channel = 'sms' and s.recipient = w.contact_mobile
    )
)
insert into delivery.outbox (idempotency_key, as_of_date, uscc, reminder_type, subject, channel, recipient,
                             template_code, provider_template_id, template_params, valid_from, valid_until)
select encode(sha256(convert_to(concat_ws('|', uscc, warning_type, subject, 'sms', contact_mobile), 'UTF8')), 'hex'),
       :as_of, uscc, warning_type, subject, 'sms', contact_mobile, template_code, provider_template_id,
       (select jsonb_agg(e order by i) from jsonb_array_elements(params_full) with ordinality a(e, i)
         where i <= param_count),
       -- Reminders go out from 08:00 the next morning; a due-soon reminder is pointless after its
       -- deadline day, an overdue one after three days or after the repair date it quotes.
       ((:as_of + 1)::timestamp + interval '8 hours') at time zone 'Asia/Shanghai',
       ((case when warning_type = 'filing_due_soon' then deadline_date
              when template_code = 'FILING_OVERDUE' then least(:as_of + 3, restore_by_date)
              else :as_of + 3 end)::timestamp
         + interval '21 hours') at time zone 'Asia/Shanghai'
from candidates
on conflict (idempotency_key) do nothing
"""


@dataclass
class StageResult:
    as_of_date: str
    staged: int
    total_for_date: int


def stage_reminders(as_of: date, settings: Settings | None = None) -> StageResult:
    settings = settings or get_settings()
    engine = warehouse.engine(settings, role="delivery")
    migrate.ensure_current(engine)
    with engine.begin() as conn:
        inserted = conn.execute(
            sa.text(STAGE_SQL), {"as_of": as_of, "max_days_late": settings.pipeline.reminder_max_days_late}
        ).rowcount
        total = conn.execute(
            sa.text("select count(*) from delivery.outbox where as_of_date = :d"), {"d": as_of}
        ).scalar()
    log.info("outbox: %d reminder(s) staged for %s", inserted, as_of)
    return StageResult(as_of.isoformat(), inserted, int(total or 0))
