"""The runtime suspension record, kept in the stack status (``StackStatus.suspension``).

A module of its own, importing only :class:`~reconciler.record.Record`, so the stack status and the
audit record can both carry it without importing the operations code.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from reconciler.record import Record


class Suspension(Record):
    """Who stopped converges and new rollouts of one environment, why, and since when."""

    by: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    at: datetime
