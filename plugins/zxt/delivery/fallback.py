"""Fall back to the contact's other channel when a message failed for good.

WeChat → SMS when the contact is not (or no longer) a follower, refused the account's messages or
the event said the send failed; SMS → WeChat when the number is wrong or the carrier failed it.
The other channel must reach the contact on the latest contact data (``int.int_contacts__reachable``:
consent, binding), must not be suppressed, and finance content (纳税信用贷) never falls back to SMS.

The new outbox row has the idempotency key staging would have given it, so a reminder is never
queued twice on a channel, and ``fallback_of`` points at the failed row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

log = logging.getLogger(__name__)

FALLBACK_SQL = """
insert into delivery.outbox (idempotency_key, as_of_date, uscc, reminder_type, subject, channel, recipient,
                             template_code, provider_template_id, template_params, valid_from, valid_until,
                             fallback_of)
select encode(sha256(convert_to(concat_ws('|', o.uscc, o.reminder_type, o.subject, alt.channel, alt.recipient),
                                'UTF8')), 'hex'),
       o.as_of_date, o.uscc, o.reminder_type, o.subject, alt.channel, alt.recipient, o.template_code,
       t.provider_template_id,
       (select coalesce(jsonb_agg(e order by i), '[]'::jsonb)
          from jsonb_array_elements(o.template_params) with ordinality a(e, i) where i <= t.param_count),
       greatest(o.valid_from, :now), o.valid_until, o.outbox_id
from delivery.outbox o
join int.int_contacts__reachable c on c.uscc = o.uscc
cross join lateral (
    select 'sms' as channel, c.contact_mobile as recipient
    where o.channel = 'wechat' and c.sms_reachable and zxt.is_mobile(c.contact_mobile)
    union all
    select 'wechat', c.wechat_openid
    where o.channel = 'sms' and c.wechat_reachable
) alt
join rules.message_templates t on t.template_code = o.template_code and t.channel = alt.channel
where o.outbox_id = any(:ids)
  and o.valid_until > :now
  and (alt.channel <> 'sms' or t.content_class <> 'finance')
  and not exists (
      select 1 from delivery.suppression s where s.channel = alt.channel and s.recipient = alt.recipient
  )
on conflict (idempotency_key) do nothing
"""


def create(conn: sa.Connection, failed_outbox_ids: Sequence[int], now: datetime) -> int:
    """Queue the other channel for these failed rows where it may reach the contact; returns rows queued."""
    if not failed_outbox_ids:
        return 0
    for relation in ("int.int_contacts__reachable", "rules.message_templates"):
        if conn.execute(sa.text("select to_regclass(:r)"), {"r": relation}).scalar() is None:
            log.warning("fallback: %s does not exist yet; no fallback queued", relation)
            return 0
    n = conn.execute(sa.text(FALLBACK_SQL), {"ids": list(failed_outbox_ids), "now": now}).rowcount
    if n:
        log.info(
            "fallback: %d of %d failed message(s) queued on the other channel", n, len(failed_outbox_ids)
        )
    return n
