"""Reaping orphaned runs: STARTED runs whose process died without saying so.

A SIGKILLed ``execute_in_process`` run (what ``python -m pipeline run`` does), or a run whose
code server died with it, stays STARTED forever and holds the ``max_concurrent_runs`` slot, so
queued runs never start (docs/dagster.md §9.2). :func:`reap_orphans` marks such runs failed:
a STARTED run of this host whose run-worker process is gone, a zombie, or a different process
that reused its pid (one that started after the run's worker reported its pid).

The worker's pid is the ``recsys/pid`` run tag if present, else the first ENGINE_EVENT of the
run carrying a ``pid`` (every run worker and ``execute_in_process`` logs one). A run with a
``recsys/host`` tag naming another host is left alone; a run without it is taken to be local
(one instance per host). A run that has not logged its pid yet is left alone. Reap in two places:
before ``python -m pipeline run`` executes, and in :data:`orphan_reaper_sensor` (the daemon
evaluates it while a queued run waits for the slot the orphan holds).

Uses ``DagsterInstance.all_logs``/``get_runs``/``report_run_failed``, not marked public in
dagster 1.13: ``tests/test_orphans.py`` exercises each against a real instance.
"""

from __future__ import annotations

import os
import socket

import dagster as dg
from dagster import DagsterEventType

__all__ = ["HOST_TAG", "PID_TAG", "orphan_reaper_sensor", "process_problem", "reap_orphans"]

HOST_TAG = "recsys/host"
PID_TAG = "recsys/pid"
SLACK_SECONDS = 2.0  # /proc start times are in clock ticks from a boot time rounded to 1 s


def run_tags() -> dict[str, str]:
    """Tags naming this host and process, for a run executed in this process (the CLI)."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def reap_orphans(instance: dg.DagsterInstance, host: str | None = None) -> list[str]:
    """Mark every orphaned STARTED run of ``host`` (default: this one) failed; returns their ids."""
    host = host or socket.gethostname()
    reaped = []
    started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    for run in started:
        if run.tags.get(HOST_TAG, host) != host:
            continue
        worker = _worker(instance, run)
        if worker is None:
            continue
        pid, reported_at = worker
        problem = process_problem(pid, reported_at)
        if problem is None:
            continue
        instance.report_run_failed(
            run, f"Orphaned run: its run worker (pid {pid} on {host}) {problem}; marked failed."
        )
        reaped.append(run.run_id)
    return reaped


def process_problem(pid: int, alive_at: float | None = None) -> str | None:
    """Why ``pid`` is not a live process that was already running at time ``alive_at`` (unix
    seconds), or None if it is."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except FileNotFoundError:
        return "is gone"
    except OSError:  # no /proc (not Linux): ask the kernel
        return _signal_zero(pid)
    if fields[0] in ("Z", "X"):
        return "is a zombie" if fields[0] == "Z" else "is dead"
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    if alive_at is not None and started > alive_at + SLACK_SECONDS:
        return f"is gone (pid {pid} now belongs to a process started later)"
    return None


@dg.sensor(
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the STARTED runs whose process died (SIGKILL, host crash), so "
    "their concurrency slot frees and queued runs start.",
)
def orphan_reaper_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    reaped = reap_orphans(context.instance)
    if reaped:
        context.log.warning(f"marked orphaned runs failed: {', '.join(reaped)}")
    return dg.SkipReason(f"reaped {len(reaped)} orphaned run(s): {', '.join(reaped) or 'none'}")


def _worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[int, float | None] | None:
    """(pid, when it was reported) of the run's worker, or None if not known yet."""
    tagged = run.tags.get(PID_TAG)
    if tagged and tagged.isdigit():
        record = instance.get_run_record_by_id(run.run_id)
        return int(tagged), record.start_time if record else None
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        value = getattr(data, "metadata", {}).get("pid") if data else None
        text = str(getattr(value, "value", value)) if value is not None else ""
        if text.isdigit():
            return int(text), entry.timestamp
    return None


def _boot_time() -> float:
    with open("/proc/stat", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise OSError("no btime line in /proc/stat")


def _signal_zero(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "is gone"
    except PermissionError:  # alive, another user's
        return None
    return None
