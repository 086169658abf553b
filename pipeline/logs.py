"""Quiet console logs: one line per finished step (name, duration), the steps' own INFO lines
(progress of long steps, what was chosen), warnings, and the run's end.

Dagster's console logger prints every event (about 30 DEBUG lines per step); this one keeps the
events a person watching ``make run`` needs. ``RECSYS_LOG_LEVEL=DEBUG`` prints everything. The
event log (the UI) keeps every event whatever the console shows.
"""

from __future__ import annotations

import logging
import os
import re
import sys

import dagster as dg

KEPT_EVENTS = {
    "STEP_SUCCESS",
    "STEP_FAILURE",
    "RUN_SUCCESS",
    "RUN_FAILURE",
    "ASSET_CHECK_EVALUATION",
}
LEVEL_ENV = "RECSYS_LOG_LEVEL"


class QuietFilter(logging.Filter):
    """Keep step/run ends, failed checks and warnings; with DEBUG, keep everything."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if self.level <= logging.DEBUG or record.levelno >= logging.WARNING:
            return True
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        kind = getattr(event, "event_type_value", None)
        if kind == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            return not getattr(data, "passed", True)
        if kind in KEPT_EVENTS:
            return True
        return event is None and record.levelno >= self.level  # the steps' own INFO lines


class QuietFormatter(logging.Formatter):
    """``HH:MM:SS step  message`` (the step's own words, without Dagster's run prefix)."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        step = meta.get("step_key") or ""
        text = meta.get("orig_message") or record.getMessage()
        finished = re.match(r'Finished execution of step "[^"]+" in (.+)\.$', text)
        if finished:
            text = f"done in {finished.group(1)}"
        level = "INFO" if meta.get("dagster_event") and record.levelno < logging.INFO else None
        when = self.formatTime(record, "%H:%M:%S")
        return f"{when} {level or record.levelname:<7} {step:<38} {text}".rstrip()


@dg.logger(description="One line per finished step; RECSYS_LOG_LEVEL=DEBUG shows every event.")
def quiet_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    level = logging.getLevelName(os.environ.get(LEVEL_ENV, "INFO").upper())
    level = level if isinstance(level, int) else logging.INFO
    logger = logging.getLogger("recsys.console")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(QuietFilter(level))
    handler.setFormatter(QuietFormatter())
    logger.addHandler(handler)
    return logger


LOGGING = {"loggers": {"console": {}}}
"""Job config naming the quiet console logger (a logger is used only when the config names it)."""
