"""WeChat token cache; receipts, replies, phone follow-ups, delivery rates.

Revision ID: 0601
Revises: 041
Create Date: 2026-11-26
"""

from alembic import op

from zxt.warehouse.ddl import execute_script

revision = "0601"
down_revision = "041"
branch_labels = None
depends_on = None

DDL = """
-- The WeChat channel's send-time opt-out check finds a follower's mobile by openid.
create index if not exists tax__taxpayers__openid on raw.tax__taxpayers (wechat_openid)
  where wechat_openid is not null;

-- One access token per provider app, shared by every relay worker: whoever finds it stale takes
-- the row lock and fetches; the others wait on the lock and read the fresh token.
create table delivery.provider_tokens (
  provider text primary key,
  access_token text,
  expires_at timestamptz,
  fetched_at timestamptz,
  fetches integer not null default 0
);
comment on table delivery.provider_tokens is 'access tokens of provider apps (WeChat stable_token), one per app: a credential, never logged';

-- Delivery receipts as the providers report them (Tencent status callback / PullSmsSendStatus,
-- WeChat TEMPLATESENDJOBFINISH), one row per provider message id however often it is reported.
create table delivery.receipts (
  channel text not null,
  provider_message_id text not null,
  outbox_id bigint,
  report_status text not null check (report_status in ('delivered', 'failed')),
  code text,
  description text,
  user_received_at timestamptz,
  via text not null check (via in ('callback', 'pull')),
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  times_seen integer not null default 1,
  -- Set once the receipt has settled its outbox row (a receipt can arrive before the relay has
  -- recorded the send: it waits here for the next pass).
  applied_at timestamptz,
  primary key (channel, provider_message_id)
);
create index receipts_pending on delivery.receipts (channel, provider_message_id) where applied_at is null;

-- Replies to our texts (Tencent reply callback / PullSmsReplyStatus). The provider gives no id:
-- the key is a hash of number, time and text, so a reply reported twice is kept once.
create table delivery.replies (
  reply_key char(64) primary key,
  channel text not null,
  recipient text not null,
  reply_text text not null,
  replied_at timestamptz not null,
  opt_out boolean not null,
  via text not null check (via in ('callback', 'pull')),
  received_at timestamptz not null default now()
);

alter table delivery.outbox
  add column delivered_at timestamptz,
  add column receipt_code text,
  add column fallback_of bigint references delivery.outbox;
create index outbox_fallback_of on delivery.outbox (fallback_of) where fallback_of is not null;
create index outbox_failed_open on delivery.outbox (valid_until) where status = 'failed';
create index outbox_provider_message on delivery.outbox (channel, provider_message_id)
  where provider_message_id is not null;
create index outbox_unconfirmed on delivery.outbox (valid_until)
  where status in ('submitted', 'unknown');
create index outbox_recipient_queued on delivery.outbox (channel, recipient) where status = 'queued';

-- A reminder (taxpayer, reminder type, subject) that no channel confirmed delivered within its
-- validity window: an officer follows it up by phone.
create table delivery.followups (
  uscc varchar(18) not null,
  reminder_type text not null,
  subject text not null,
  as_of_date date not null,
  valid_until timestamptz not null,
  last_statuses text not null,
  marked_at timestamptz not null default now(),
  done_at timestamptz,
  done_by text,
  primary key (uscc, reminder_type, subject)
);
comment on table delivery.followups is '电话回访: reminders never confirmed delivered within their validity window';

-- Per business date and channel, recomputed by each zxt_feedback run.
create table ops.delivery_rates (
  as_of_date date not null,
  channel text not null,
  sent integer not null,
  delivered integer not null,
  failed integer not null,
  unknown integer not null,
  refused integer not null,
  awaiting_receipt integer not null,
  delivery_rate numeric(5, 4),
  computed_at timestamptz not null default now(),
  primary key (as_of_date, channel)
);
comment on table ops.delivery_rates is 'delivered / sent per business date and channel (sent = accepted by the provider or outcome unknown; refused = turned down by the provider, never sent)';
"""


def upgrade() -> None:
    execute_script(op.get_bind(), DDL)


def downgrade() -> None:
    raise NotImplementedError("the warehouse only moves forward; restore a backup to go back")
