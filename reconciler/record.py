"""The base of every typed record the reconciler reads or writes (camelCase JSON, frozen, strict)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Record(BaseModel):
    # defer_build: validators are built on first use, so the intake Lambda's cold start pays only for Job's.
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True)
