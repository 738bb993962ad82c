"""The channel interface: registry by outbox name, per-channel sanitising, batching into requests."""

from __future__ import annotations

import pytest

from zxt.core.settings import get_settings
from zxt.delivery.channels import registry
from zxt.delivery.channels.base import Channel, Message, Outcome, clean_text


def test_registry_resolves_the_outbox_channel_name():
    sms = registry.get("sms", get_settings())
    assert sms.name == "sms" and sms.max_batch == 200
    assert sms.max_per_recipient_per_day == get_settings().sms.max_per_number_per_day
    with pytest.raises(registry.UnknownChannel, match="no channel named 'fax'"):
        registry.get("fax")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("甲\u202e公司", "甲公司"),  # right-to-left override
        ("\u2066甲\u2069公司\u200b", "甲公司"),  # isolates, zero-width space
        ("甲公司\n乙", "甲公司 乙"),
        ("甲\r\n\u2028公司", "甲 公司"),
        ("甲\x00\x1b[31m公司\x7f", "甲[31m公司"),  # NUL, ESC, DEL
        ("  甲   公司\t", "甲 公司"),
        ("\ufeff甲公司", "甲公司"),  # BOM
    ],
)
def test_parameters_lose_control_format_and_line_break_characters(raw, clean):
    assert clean_text(raw) == clean
    assert registry.get("sms").sanitise([raw, 5]) == (clean, "5")


class _Fake(Channel):
    name = "fake"
    max_batch = 3

    def send_batch(self, messages):
        return []


def test_batches_share_template_and_parameters_with_unique_recipients_and_a_size_cap():
    def m(i, r, params=("a",), tid="T1"):
        return Message(i, r, tid, params)

    msgs = [m(1, "1"), m(2, "2"), m(3, "1"), m(4, "3"), m(5, "4"), m(6, "5", ("b",)), m(7, "6", tid="T2")]
    batches = _Fake(get_settings()).batches(msgs)
    assert sorted(sorted(x.outbox_id for x in b) for b in batches) == [[1, 2, 4], [3, 5], [6], [7]]
    for b in batches:
        assert len({x.recipient for x in b}) == len(b) <= 3
        assert len({(x.template_id, x.params) for x in b}) == 1


def test_outcomes_are_plain_strings_for_the_outbox():
    assert Outcome.NOT_SENT == "not_sent" and str(Outcome.PAUSE) == "pause_channel"
