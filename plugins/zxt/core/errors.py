"""Errors that say what was wrong and what to do. Tasks turn ``NeedsOperator`` (and its kinds) into
a failure without retries: bad data or a conflict does not fix itself by waiting."""

from __future__ import annotations


class ZxtError(RuntimeError):
    """Base of the pipeline's own errors."""


class ConfigError(ZxtError, ValueError):
    """The settings cannot run: a production secret is missing or a value is malformed."""


class WarehouseError(ZxtError):
    """The warehouse cannot be reached, started or upgraded."""


class DbtFailed(ZxtError):
    """A dbt command failed."""


class NeedsOperator(ZxtError):
    """Retrying cannot help: a person must look (bad data, a conflicting delivery, a failed gate)."""


class GateFailed(NeedsOperator):
    """A data-quality gate failed: publish and delivery are blocked for that date."""


class DeliveryConflict(NeedsOperator):
    """A bank's inbox holds different files under our names, or an authorisation lapsed: nothing is
    sent or overwritten until a person has looked."""
