"""Periodic and queued jobs of the orders domain (registered on xiaodian.tasks.huey)."""

from __future__ import annotations
