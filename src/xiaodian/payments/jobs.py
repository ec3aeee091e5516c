"""Periodic and queued jobs of the payments domain (registered on xiaodian.tasks.huey)."""

from __future__ import annotations
