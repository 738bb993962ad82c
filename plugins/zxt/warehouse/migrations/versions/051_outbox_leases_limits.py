"""Relay leases, per-recipient daily counts, channel state (circuit breaker, rate window), indexed opt-outs.

Revision ID: 051
Revises: 0801
Create Date: 2026-11-26
"""

from alembic import op

from zxt.warehouse.ddl import execute_script

revision = "051"
down_revision = "0801"
branch_labels = None
depends_on = None

DDL = """
-- A worker claims queued rows with a lease (they stay 'queued'); it marks a row 'sending' only
-- right before that row's own request. A killed worker's queued rows return when the lease ends;
-- its 'sending' rows (the request may have left) become 'unknown'.
alter table delivery.outbox
  add column lease_owner text,
  add column lease_until timestamptz,
  -- When the request that may have carried it left: the daily cap and receipts go by this.
  add column sent_at timestamptz,
  -- Set by `zxt outbox replay`: attempts allowed in total (else settings.delivery.max_attempts).
  add column attempts_allowed integer,
  add column replayed_at timestamptz;
comment on column delivery.outbox.lease_owner is 'relay worker holding the row (host:pid:nonce) until lease_until';
comment on column delivery.outbox.sent_at is 'when the request that may have delivered it left';

create index outbox_queued on delivery.outbox (valid_until, outbox_id) where status = 'queued';
create index outbox_sending on delivery.outbox (lease_until) where status = 'sending';
create index outbox_dead on delivery.outbox (updated_at) where status in ('dead', 'failed');
drop index if exists delivery.outbox_due;

-- Messages that may have reached a recipient per channel and bureau day: the per-recipient daily
-- cap is one row lookup (reserved before the request, given back when nothing went out), shared
-- by every relay worker, never a scan of the outbox.
create table delivery.recipient_day (
  channel text not null,
  recipient text not null,
  day date not null,
  sent integer not null default 0 check (sent >= 0),
  primary key (channel, recipient, day)
);
insert into delivery.recipient_day (channel, recipient, day, sent)
select channel, recipient, (coalesce(submitted_at, updated_at) at time zone 'Asia/Shanghai')::date, count(*)
from delivery.outbox
where status in ('sending', 'submitted', 'delivered', 'unknown')
group by 1, 2, 3;

-- One row per channel, shared by all workers: the circuit breaker and a provider quota pause
-- (paused_until), and the current one-second rate window.
create table delivery.channel_state (
  channel text primary key,
  paused_until timestamptz,
  pause_reason text,
  consecutive_failures integer not null default 0,
  window_start timestamptz,
  window_used integer not null default 0,
  updated_at timestamptz not null default now()
);

-- The send-time opt-out check reads the latest consent event of one number.
create index contact__consents__latest
  on raw.contact__consents (contact_mobile, channel, event_date desc, event_id desc);
"""


def upgrade() -> None:
    execute_script(op.get_bind(), DDL)


def downgrade() -> None:
    raise NotImplementedError("the warehouse only moves forward; restore a backup to go back")
