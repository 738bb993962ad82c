"""The WeChat client against the loopback WeChat API over HTTP, with the token cache in the warehouse:
one token fetch shared by all workers, one refresh on a token error, each errcode in its class,
client_msg_id de-duplication, field rules checked before anything is sent, and no token in logs."""

from __future__ import annotations

import logging
import threading

import pytest
import sqlalchemy as sa

from tests.support import free_port
from zxt.core.settings import get_settings

FOLLOWER, STRANGER, REFUSER, QUOTA_HIT, SLOW = (
    "o" + "A" * 27,
    "o" + "B" * 27,
    "o" + "C" * 27,
    "o" + "D" * 27,
    "o" + "E" * 27,
)
TEMPLATE = "Zx7kVd2nQm4TfA9bLr3cWp8yHs6uGe1oJi5NtKq0Xb2"
KEYS = ["thing1", "thing2", "thing3", "time4"]
VALUES = ["甲公司", "增值税", "2026年10月", "11月16日"]


@pytest.fixture
def wechat(engine):
    from tests.support import reset_warehouse
    from zxt_sandbox import wechat_gateway as sim

    reset_warehouse(engine)
    config = sim.WeChatConfig.from_dict(
        {
            "not_following": [STRANGER],
            "refused": [REFUSER],
            "fail_openids": {QUOTA_HIT: 45009},
            "slow_openids": {SLOW: 1.0},
        }
    )
    handle = sim.WeChatHandle.start(config, "127.0.0.1", free_port())
    settings = get_settings().with_(wechat__endpoint=handle.url, wechat__timeout_s=0.4)
    yield settings, handle
    handle.close()


def client(engine, settings):
    from zxt.delivery.channels import wechat

    return wechat.WeChatClient(engine, settings)


def test_one_token_for_all_workers_and_a_message_goes_out(engine, wechat):
    from zxt.delivery.channels import wechat as w

    settings, sim = wechat
    results = []

    def worker(i: int) -> None:
        c = client(engine, settings)
        results.append(c.send(FOLLOWER, TEMPLATE, KEYS, VALUES, client_msg_id=f"key-{i}"))
        c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.outcome for r in results] == [w.SUBMITTED] * 6
    assert sim.state.token_fetches == 1  # six workers, one fetch: the others waited on the row lock
    assert len(sim.messages()) == 6
    assert {m["values"]["thing1"] for m in sim.messages()} == {"甲公司"}
    with engine.connect() as conn:
        fetches = conn.execute(sa.text("select fetches from delivery.provider_tokens")).scalar()
    assert fetches == 1


def test_an_expired_token_is_refreshed_once_by_one_worker(engine, wechat):
    from zxt.delivery.channels import wechat as w

    settings, sim = wechat
    first = client(engine, settings)
    assert first.send(FOLLOWER, TEMPLATE, KEYS, VALUES, "k0").outcome == w.SUBMITTED
    sim.state.expire_token()  # WeChat now answers 42001 to the cached token

    results = []

    def worker(i: int) -> None:
        c = client(engine, settings)
        results.append(c.send(FOLLOWER, TEMPLATE, KEYS, VALUES, f"k{i}"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.outcome for r in results] == [w.SUBMITTED] * 4
    assert any(r.token_refreshed for r in results)
    # One fetch at start, one refresh after expiry — not one per worker.
    assert sim.state.token_fetches == 2
    assert len(sim.messages()) == 5


def test_each_errcode_lands_in_its_class(engine, wechat):
    from zxt.delivery.channels import wechat as w

    settings, sim = wechat
    c = client(engine, settings)
    assert (r := c.send(STRANGER, TEMPLATE, KEYS, VALUES, "a")).code == 43004 and r.outcome == w.PERMANENT
    assert (r := c.send(REFUSER, TEMPLATE, KEYS, VALUES, "b")).code == 43101 and r.outcome == w.PERMANENT
    assert (
        r := c.send(QUOTA_HIT, TEMPLATE, KEYS, VALUES, "c")
    ).code == 45009 and r.outcome == w.PAUSE_CHANNEL
    sim.state.set_faults({"busy_next": 1})
    assert (r := c.send(FOLLOWER, TEMPLATE, KEYS, VALUES, "d")).code == -1 and r.outcome == w.RETRY
    assert c.send("not-an-openid", TEMPLATE, KEYS, VALUES, "e").code == 40003
    assert c.send(FOLLOWER, "no-such-template", KEYS, VALUES, "f").code == 40037
    assert sim.messages() == []
    # A slow answer after WeChat accepted the message: the outcome is unknown, never "not sent".
    r = c.send(SLOW, TEMPLATE, KEYS, VALUES, "g")
    assert r.outcome == w.UNKNOWN and r.code == w.READ_TIMEOUT
    assert [m["openid"] for m in sim.messages()] == [SLOW]


def test_field_rules_are_checked_before_sending_and_by_the_simulator(engine, wechat):
    from zxt.delivery.channels import wechat as w

    settings, sim = wechat
    c = client(engine, settings)
    long_name = "广水市某某某某某某某某某某某某某有限责任公司"
    assert len(long_name) == 22
    r = c.send(FOLLOWER, TEMPLATE, KEYS, [long_name, *VALUES[1:]], "x")
    assert r.outcome == w.PERMANENT and r.code == w.VALUE_TOO_LONG and "22 characters" in r.message
    r = c.send(FOLLOWER, TEMPLATE, KEYS, ["甲公司\n乙", *VALUES[1:]], "y")
    assert r.code == w.VALUE_TOO_LONG and "line break" in r.message
    assert sim.messages() == []
    # The simulator enforces the same rule on its own (a client that skipped the check).
    import requests

    token = w.TokenCache(engine, settings, requests.Session()).get()
    data = {k: {"value": v} for k, v in zip(KEYS, [long_name, *VALUES[1:]], strict=True)}
    doc = requests.post(
        f"{sim.url}/cgi-bin/message/template/send",
        params={"access_token": token},
        json={"touser": FOLLOWER, "template_id": TEMPLATE, "data": data},
        timeout=5,
    ).json()
    assert doc["errcode"] == 47003 and "thing1" in doc["errmsg"]


def test_client_msg_id_deduplicates_a_repeated_send(engine, wechat):
    settings, sim = wechat
    c = client(engine, settings)
    a = c.send(FOLLOWER, TEMPLATE, KEYS, VALUES, "same-idempotency-key")
    b = c.send(FOLLOWER, TEMPLATE, KEYS, VALUES, "same-idempotency-key")
    assert a.msgid == b.msgid and len(sim.messages()) == 1


def test_the_token_never_reaches_the_logs(engine, wechat, caplog):
    settings, _sim = wechat
    caplog.set_level(logging.DEBUG)
    c = client(engine, settings)
    c.send(FOLLOWER, TEMPLATE, KEYS, VALUES, "z")
    with engine.connect() as conn:
        token = conn.execute(sa.text("select access_token from delivery.provider_tokens")).scalar()
    assert token and token not in caplog.text
    assert FOLLOWER not in caplog.text
