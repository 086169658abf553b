"""The Dagster code location (thin wiring around recsys_core)."""

from pipeline.definitions import defs as defs
