"""What a refresh reads and writes under the data root (the job is :mod:`pipeline.assets.refresh`).

A refresh builds on the live run: the night whose models scored its lists (``model_run_id``),
the raw files as that run had read them (name -> size, mtime, sha256) and the day's ratings
folded in since the night. A published refresh keeps them in its history folder
(``refresh_state.json``, ``day_ratings.parquet``: never live files), so rolling back to a run
also rolls back what the next refresh builds on; a night's come from ``refresh_base``, written
by the night right after it published (with a copy of its hybrid, ``refresh_model``: a night
that fails its gate leaves the live night's models in place for the day's refreshes).

The refresh publishes like a night (:class:`pipeline.publishing.Published`): its files go to
``published/history/<run_id>/``, then live, ``CURRENT.json`` last; the night's evaluation,
similar items and default list are carried over unchanged (its models are the night's).
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from pipeline.publishing import Published
from pipeline.resources import DataRoot
from recsys_core.data.ids import IdIndex
from recsys_core.data.readers import Reader, read_ratings
from recsys_core.data.validate import validate
from recsys_core.data.watch import display_name
from recsys_core.errors import DataError
from recsys_core.publish.drift import table_summary
from recsys_core.publish.files import sha256_file
from recsys_core.publish.history import HISTORY, RUN_RECORD, run_record
from recsys_core.publish.table import write_published
from recsys_core.ranking.hybrid import Hybrid
from recsys_core.ranking.refresh import (
    DAY_COLUMNS,
    FoldIn,
    day_schema,
    fold_in_plan,
    merge_day,
    refreshed_lists,
    replace_users,
    typed_like,
)
from recsys_core.ranking.rules import excluded_problems, load_rules
from recsys_core.report.refresh import refresh_entry, with_refreshes
from recsys_core.sections import IngestSettings, TopNSettings

STATE = "refresh_state.json"
DAY = "day_ratings.parquet"
CARRIED = ("metrics.parquet", "similar_items.parquet", "default_list.parquet")
"""The live run's files a refresh publishes again unchanged."""
NIGHT_KEYS = ("ndcg", "coverage", "k", "settings", "chosen")
"""What a refresh's record repeats from its night's (the models and their evaluation)."""


@dataclass(frozen=True)
class Base:
    """What a refresh builds on (see the module docstring)."""

    live_run: str
    model_run: str
    files: dict[str, dict[str, Any]]
    day: pl.DataFrame
    record: dict[str, Any]
    """The live run's record (``run.json``)."""


@dataclass(frozen=True)
class Plan:
    """What a refresh found (``record``: JSON-ready, ``stopped`` says why nothing follows) and,
    when there is something to fold in, the day's ratings, their changes and the quarantine."""

    record: dict[str, Any]
    day: pl.DataFrame | None = None
    changes: pl.DataFrame | None = None
    quarantine: pl.DataFrame | None = None


@dataclass(frozen=True)
class Arrivals:
    """The raw files now (name -> size, mtime, sha256), those read (name -> rows) and their
    validated ratings (None: nothing new) with the quarantine and the ingest's counts."""

    files: dict[str, dict[str, Any]]
    read: dict[str, int]
    ratings: pl.DataFrame | None
    quarantine: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


NIGHT_STATES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
"""A nightly run in one of these states supersedes a refresh: it reads every file anyway."""


def pending_night(instance: dg.DagsterInstance) -> str | None:
    """The id of a nightly run that is queued or running on ``instance``, or None."""
    runs = instance.get_runs(dg.RunsFilter(job_name="nightly", statuses=NIGHT_STATES), limit=1)
    return runs[0].run_id if runs else None


def history_bytes(published: Published, run_id: str, name: str) -> bytes | None:
    """A file of a published run's history folder, or None."""
    path = published.root.upath("published", HISTORY, run_id, name)
    return path.read_bytes() if path.exists() else None


def live_base(published: Published, night: dict[str, Any], day_schema: pl.Schema) -> Base:
    """The live run's state; refuses (``dg.Failure``) when it cannot be refreshed from the kept
    night (``night``: the ``refresh_base`` record)."""
    live = published.current_run()
    if live is None:
        raise dg.Failure("refresh refused: nothing is published yet; run a night first")
    record = json.loads(history_bytes(published, live, RUN_RECORD) or b"{}")
    state = history_bytes(published, live, STATE)
    if state is not None:
        saved = json.loads(state)
        model, files = saved["model_run_id"], saved["files"]
        day = pl.read_parquet(io.BytesIO(history_bytes(published, live, DAY) or b""))
    elif live == night["run_id"]:
        model, files, day = live, night["files"], pl.DataFrame(schema=day_schema)
    else:
        raise dg.Failure(
            f"refresh refused: the live run {live} has no refresh state (it was published "
            f"before refreshes existed, or it is not the night whose models are kept, "
            f"{night['run_id']}); the next night makes lists refreshable again"
        )
    if model != night["run_id"]:
        raise dg.Failure(
            f"refresh refused: the live lists were scored by night {model}, the kept models are "
            f"night {night['run_id']}'s; roll forward or run a night"
        )
    return Base(live, model, files, day.select(DAY_COLUMNS).cast(dict(day_schema)), record)


def read_arrivals(root: DataRoot, known: dict[str, dict], reader: Reader, bad: float) -> Arrivals:
    """Read and validate (the ingest's rules and quarantine) the raw files that are new or
    whose content differs from ``known``; a file's hash is reused while its size and mtime
    are unchanged. Files gone from ``raw/`` are not read (the next night drops them)."""
    with root.raw_copies() as paths:
        names = {display_name(p.name): p for p in paths}
        files = {name: _signature(p, known.get(name)) for name, p in names.items()}
        changed = [p for name, p in names.items() if files[name]["sha256"] != _sha(known, name)]
        parsed = [read_ratings(p, reader) for p in changed]
    read = {display_name(Path(p.file).name): p.n_rows for p in parsed}
    if not any(p.good.height for p in parsed):
        empty = pl.concat([p.quarantine for p in parsed]) if parsed else pl.DataFrame()
        return Arrivals(files, read, None, empty)
    checked = validate(parsed, bad)
    return Arrivals(files, read, checked.ratings, checked.quarantine, checked.counts)


def plan_refresh(root: DataRoot, ingest: IngestSettings, night: dict[str, Any]) -> Plan:
    """The live run's state, the raw files new or changed since it, read and validated, and
    the day's ratings merged with them (``night``: the ``refresh_base`` record)."""
    schema = day_schema(night["id_types"])
    published = Published(root)
    base = live_base(published, night, schema)
    reader = Reader(line_format=ingest.line_format, sep=ingest.sep,
                    rating_scale=ingest.rating_scale, skip_lines=ingest.skip_lines)  # fmt: skip
    found = read_arrivals(root, base.files, reader, ingest.max_bad_fraction)
    night_record = json.loads(history_bytes(published, base.model_run, RUN_RECORD) or b"{}")
    record = {
        "live_run": base.live_run,
        "model_run": base.model_run,
        "read": found.read,
        "files": found.files,
        "counts": found.counts,
        "inputs": {**base.record.get("inputs", {}), **found.read},
        "night": {k: night_record.get(k) for k in NIGHT_KEYS},
    }
    if found.ratings is None:
        return Plan({**record, "stopped": "no new ratings in raw/"})
    try:
        new = typed_like(found.ratings, schema)
    except DataError as err:
        raise dg.Failure(f"refresh refused: {err}") from None
    day, changes = merge_day(base.day, new)
    return Plan({**record, "changed_ratings": changes.height}, day, changes, found.quarantine)


def _sha(known: dict[str, dict], name: str) -> str | None:
    return (known.get(name) or {}).get("sha256")


def _signature(path: Path, known: dict | None) -> dict[str, Any]:
    st = path.stat()
    same = known and known.get("bytes") == st.st_size and known.get("mtime_ns") == st.st_mtime_ns
    digest = known["sha256"] if same else sha256_file(path)
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}


def refreshed_table(
    root: DataRoot,
    model: Hybrid,
    plan: dict[str, Any],
    day: pl.DataFrame,
    changes: pl.DataFrame,
    run_id: str,
) -> tuple[pl.DataFrame | None, FoldIn]:
    """The live table with the lists of the users ``changes`` touch rewritten by ``model``
    folded in (business rules in ``rules/`` applied to them as to a night's lists); None when
    the changes touch nobody."""
    fold = fold_in_plan(model.data, day, changes)
    if not len(fold):
        return None, fold
    n = night_n(plan)
    rules = load_rules(root.upath("rules"), fold.users, model.data.items)
    lists = refreshed_lists(model, fold, n, None if rules.is_empty else rules.exclusions)
    live = history_bytes(Published(root), plan["live_run"], "recommendations.parquet")
    if live is None:
        raise dg.Failure(f"refresh refused: run {plan['live_run']} has no published lists")
    table = replace_users(pl.read_parquet(io.BytesIO(live)), fold.users.ids, lists, run_id,
                          datetime.now(UTC), plan["model_run"])  # fmt: skip
    return table, fold


def refresh_record(
    root: DataRoot, plan: dict[str, Any], table: pl.DataFrame, rated: pl.DataFrame,
    fold: FoldIn, run_id: str, seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """The refresh's ``run.json``: the night's evaluation and settings (its models), this
    table's counts, and what the refresh did (:func:`refresh_entry`)."""
    night = plan["night"]
    input_rows = sum(plan["inputs"].values())
    record = run_record(
        run_id, data_root=root.uri, inputs=plan["inputs"], ratings=rated.height,
        users=table.get_column("user_id").n_unique(), ndcg=night["ndcg"], k=night["k"] or 10,
        coverage=night["coverage"], gate="passed", settings=night["settings"] or {},
        seconds=seconds, chosen=night["chosen"],
    )  # fmt: skip
    entry = refresh_entry(plan["read"], plan["changed_ratings"], len(fold), fold.new_users, seconds)
    return record | {
        "kind": "refresh",
        "model_run_id": plan["model_run"],
        "base_run_id": plan["live_run"],
        "refresh": entry,
        "summary": table_summary(rated, table, input_rows),
    }


def refresh_chain(published: Published, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The refresh records from the night to ``record`` (oldest first), following each
    refresh's ``base_run_id`` back through the history."""
    chain = [record]
    while chain[0].get("kind") == "refresh":
        data = history_bytes(published, chain[0]["base_run_id"], RUN_RECORD)
        if data is None:
            break
        chain.insert(0, json.loads(data))
    return [r for r in chain if r.get("kind") == "refresh"]


def publish_refresh(
    published: Published,
    table: pl.DataFrame,
    plan: dict[str, Any],
    record: dict[str, Any],
    day: pl.DataFrame,
    keep_runs: int,
) -> None:
    """Publish the refreshed ``table`` as run ``record["run_id"]`` (see the module docstring)."""
    run_id, live, night = record["run_id"], plan["live_run"], plan["model_run"]
    chain = refresh_chain(published, record)
    row_runs = {night, *(r["run_id"] for r in chain)}  # the night and its refreshes so far
    state = {"model_run_id": night, "base_run_id": live, "files": plan["files"]}
    night_page = history_bytes(published, night, "report.html") or b"<h2></h2>"
    page = with_refreshes(night_page.decode(), night, chain)
    with tempfile.TemporaryDirectory(prefix="recsys-refresh-") as tmp:
        out = {name: Path(tmp) / name for name in ("recommendations.parquet", *CARRIED)}
        write_published(table, out["recommendations.parquet"], run_id, row_runs=row_runs)
        for name in CARRIED:
            data = history_bytes(published, live, name)
            if data is None:
                del out[name]
            else:
                out[name].write_bytes(data)
        extra = {"report.html": page, RUN_RECORD: _json(record), STATE: _json(state)}
        for name, text in extra.items():
            out[name] = Path(tmp) / name
            out[name].write_text(text, encoding="utf-8")
        out[DAY] = Path(tmp) / DAY
        day.write_parquet(out[DAY])
        published.publish(run_id, out, keep_runs)


def night_n(plan: dict[str, Any]) -> int:
    """The night's list length (``topn.n`` of its settings): a refresh keeps it."""
    return ((plan["night"].get("settings") or {}).get("topn") or {}).get("n", TopNSettings().n)


def refreshed_rule_problems(root: DataRoot, rows: pl.DataFrame, model: Hybrid) -> dict[str, str]:
    """Rows of the refresh (``user_id, item_id``) that a business rule in ``rules/`` excludes."""
    users = IdIndex.from_series(rows.get_column("user_id"))
    return excluded_problems(rows, load_rules(root.upath("rules"), users, model.data.items))


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
