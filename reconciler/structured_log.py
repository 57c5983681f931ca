"""JSON log lines for the worker in its task: one object per line, the record's extra fields included.

template.yaml sets ``ECS_GITOPS_LOG_FORMAT=json`` on the converge worker, so CloudWatch Logs metric
filters can select lines by field (ConvergeFailedMetricFilter counts ``"job finished"`` lines whose
``outcome`` is ``failed``). Anywhere else the plain text format stays. The redacting filter the
worker installs on the root handlers scrubs the message and every extra field before this runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

LOG_FORMAT_ENV = "ECS_GITOPS_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# What every LogRecord carries; anything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonLogFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", <extra fields>..., "traceback"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS and key not in line})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["traceback"] = record.exc_text
        return json.dumps(line, default=str)


def configure_logging(environ: Mapping[str, str], level: int = logging.INFO) -> None:
    """The root logger's handler, JSON when ``environ`` asks for it (``ECS_GITOPS_LOG_FORMAT=json``)."""
    if environ.get(LOG_FORMAT_ENV, "").lower() == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLogFormatter())
        logging.basicConfig(level=level, handlers=[handler])
    else:
        logging.basicConfig(level=level, format=TEXT_FORMAT)
