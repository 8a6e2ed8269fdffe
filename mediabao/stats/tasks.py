"""Periodic roll-up of the statistics (see :mod:`mediabao.stats.rollup`)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="mediabao.stats.rollup_recent", acks_late=True, expires=50)
def rollup_recent() -> dict:
    """Every minute: yesterday and today of the teams with new rows; lagging teams catch up."""
    from mediabao.stats import rollup

    return {str(k): v for k, v in rollup.refresh_recent().items()}


@shared_task(name="mediabao.stats.rollup_settle", acks_late=True)
def rollup_settle() -> int:
    """Every night: the last ``SETTLE_DAYS`` days of every team with roll-ups again."""
    from mediabao.stats import rollup

    return rollup.settle()
