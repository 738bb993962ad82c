"""A landing file refused as a whole: it is quarantined with this rule and reason, never loaded."""

from __future__ import annotations


class FileRefused(Exception):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason
