"""Channels by the name stored in ``delivery.outbox.channel``.

A new channel is one module under ``zxt.delivery.channels`` with a ``Channel`` subclass and one line
here; the relay and the outbox never name a channel themselves. Modules load lazily, so a channel's
dependencies are imported only where it is used.
"""

from __future__ import annotations

import importlib

from zxt.core.settings import Settings, get_settings
from zxt.delivery.channels.base import Channel

# name -> "module:class"
CHANNELS: dict[str, str] = {
    "sms": "zxt.delivery.channels.tencent_sms:TencentSmsChannel",
    "wechat": "zxt.delivery.channels.wechat:WeChatChannel",
}


class UnknownChannel(KeyError):
    pass


def names() -> list[str]:
    return sorted(CHANNELS)


def channel_class(name: str) -> type[Channel]:
    try:
        target = CHANNELS[name]
    except KeyError:
        raise UnknownChannel(f"no channel named {name!r}; known: {names()}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def get(name: str, settings: Settings | None = None) -> Channel:
    """A ready channel for ``name`` (one per relay worker; channels share no state in memory)."""
    return channel_class(name)(settings or get_settings())
