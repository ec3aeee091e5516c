"""Periodic and queued jobs of this domain (registered on xiaodian.tasks.huey)."""

from __future__ import annotations
