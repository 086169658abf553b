"""Ingest layer: raw rating files -> validated ratings + quarantine."""

from pathlib import Path

import dagster as dg
import polars as pl

from pipeline.lock import DataRootLock
from pipeline.metadata import output
from pipeline.resources import DataRoot
from pipeline.settings import RecsysSettings
from recsys_core.data.ids import IdIndex
from recsys_core.data.items import find_items_file, read_items
from recsys_core.data.readers import Reader, read_ratings
from recsys_core.data.validate import validate
from recsys_core.publish.files import remove_stale_temps
from recsys_core.publish.fingerprint import raw_listing
from recsys_core.ranking.rules import read_rule_files, rules_from_frame

GROUP = "ingest"
OWNERS = ["team:recsys"]
RATING_COLUMNS = {
    "user_id": "The user's own id, as in the raw files (Int64 if every id is an integer).",
    "item_id": "The item's own id, as in the raw files (Int64 if every id is an integer).",
    "rating": "The rating, within ingest.rating_scale; implicit feedback: the pair's signal "
    "(1, or the log-count confidence), >= 1.",
    "timestamp": "Unix seconds (null when the file has no time column).",
}

QUARANTINE_COLUMNS = {
    "file": "The raw file the row came from.",
    "line": "Its line number in that file (1-based; Parquet: the row number).",
    "reason": "Why it was set aside, naming the column and ending with the value.",
    "raw": "The line as read (bytes that are not UTF-8 shown as \\xNN).",
}


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"csv"},
    code_version="2",
    description="The raw rating files in $RECSYS_DATA_DIR/raw/ (name, bytes, sha256), read in "
    "name order; the data version is a hash of this listing, so a night on the same files leaves "
    "every downstream asset fresh. No file is an error: nothing is invented. First step of every "
    "run: takes the data root's lock (one writer per root) and removes temporary files an "
    "interrupted run left behind.",
)
def raw_files(
    context: dg.AssetExecutionContext, data_root: DataRoot, lock: DataRootLock
) -> dg.Output:
    if data_root.is_local:
        for stale in remove_stale_temps(data_root.local()):
            context.log.warning("removed %s, left by an interrupted run", stale)
    with data_root.raw_copies() as files:
        listing = raw_listing(files)
    skipped = data_root.skipped_raw()
    if skipped:
        context.log.warning(
            "not read from raw/ (hidden, .part, folder or link out): %s", ", ".join(skipped[:20])
        )
    if not listing:
        raise dg.Failure(
            f"no rating files in {data_root.uri}/raw ({len(skipped)} hidden or partial files "
            "skipped); nothing was read or published"
        )
    return output(listing, file_count=len(listing))


@dg.multi_asset(
    outs={
        "ratings": dg.AssetOut(
            description="Validated ratings (or, with ingest.feedback implicit, interactions "
            "as one signal per pair): one row per (user, item); " + ", ".join(RATING_COLUMNS),
            metadata={"columns": RATING_COLUMNS},
            kinds={"polars", "parquet"},
        ),
        "quarantine": dg.AssetOut(
            description="Every row set aside (file, line, reason, raw), with its reason.",
            metadata={"columns": QUARANTINE_COLUMNS},
            kinds={"polars", "parquet"},
        ),
        "ingest_summary": dg.AssetOut(
            description="What was read: rows per raw file and the ingest counts (rows read, "
            "blank lines, bad rows, duplicates superseded, ratings kept).",
            kinds={"json"},
        ),
    },
    group_name=GROUP,
    ins={"raw_files": dg.AssetIn(dagster_type=dg.Nothing)},
    code_version="4",
)
def validated_ratings(settings: RecsysSettings, data_root: DataRoot):
    cfg = settings.effective.ingest
    reader = Reader(
        line_format=cfg.line_format,
        sep=cfg.sep,
        rating_scale=cfg.rating_scale,
        skip_lines=cfg.skip_lines,
        feedback=cfg.feedback,
    )
    with data_root.raw_copies() as files:
        parsed = [read_ratings(path, reader) for path in files]
    result = validate(parsed, cfg.max_bad_fraction, feedback=cfg.feedback, signal=cfg.signal,
                      alpha=cfg.confidence_alpha, eps=cfg.confidence_eps)  # fmt: skip
    yield output(result.ratings, "ratings", **result.counts)
    yield output(result.quarantine, "quarantine")
    per_file = {Path(p.file).name: p.n_rows for p in parsed}
    yield output({**result.counts, "rows_per_file": per_file}, "ingest_summary")


RULE_COLUMNS = {
    "file": "The rule file the row came from (exclude_items.csv, exclude_pairs.csv, "
    "allowed_items.csv, user_segments.csv).",
    "user_id": "The user the row is about, as written (null in files without one).",
    "item_id": "The item the row is about, as written (null in files without one).",
    "segment": "The user segment (allowed_items.csv, user_segments.csv; else null).",
}


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"csv", "polars"},
    code_version="1",
    metadata={"columns": RULE_COLUMNS},
    description="This run's business rules: a snapshot of the optional rules/ folder "
    "(exclude_items.csv, exclude_pairs.csv, allowed_items.csv with user_segments.csv), read once "
    "so every bucket and check of the run applies the same rules; empty without a folder. Rows "
    "with ids unknown to the ratings are reported in the metadata and ignored, not fatal.",
)
def business_rules(
    context: dg.AssetExecutionContext, data_root: DataRoot, ratings: pl.DataFrame
) -> dg.Output:
    snapshot = read_rule_files(data_root.upath("rules"))
    if snapshot.height == 0:
        return output(snapshot, files="none")
    users, items = (IdIndex.from_series(ratings.get_column(c)) for c in ("user_id", "item_id"))
    files = rules_from_frame(snapshot, users, items).summary()["files"]
    for name, seen in files.items():
        if seen.get("unknown_id_rows") or "ignored" in seen:
            context.log.warning("rules/%s: %s", name, seen)
    rows = {f"rows/{name}": seen.get("rows", 0) for name, seen in files.items()}
    return output(snapshot, files=files, **rows)


ITEM_COLUMNS = {
    "item_id": "The item's own id, as in the items file (typed like the ratings' ids).",
    "title": "The item's title.",
    "genres": "Its genres (empty when the file lists none).",
}
EMPTY_ITEMS = pl.DataFrame(
    schema={"item_id": pl.String, "title": pl.String, "genres": pl.List(pl.String)}
)


@dg.asset(
    ins={"raw_files": dg.AssetIn(dagster_type=dg.Nothing)},
    group_name=GROUP,
    owners=OWNERS,
    kinds={"csv", "polars"},
    code_version="1",
    metadata={"columns": ITEM_COLUMNS},
    description="Optional item metadata from the items/ folder (u.item, movies.csv or "
    "items.csv: id, title, genres) for the report's titles and genre mix; empty without one. "
    "Never required: no model reads it.",
)
def item_metadata(data_root: DataRoot) -> dg.Output:
    found = find_items_file(data_root.upath("items"))
    items = EMPTY_ITEMS if found is None else read_items(found)
    return output(items, file="none" if found is None else found.name)
