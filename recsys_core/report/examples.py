"""What the lists look like, in titles: a sample of users' lists, the similar items of the most
rated items, and the genre mix of what we recommend. Shown only when the data root has item
metadata (``items/``, :mod:`recsys_core.data.items`); never required.

The samples are deterministic, so two reports of the same data show the same users: the users
at evenly spaced positions of the sorted user ids, and the most rated items (ties by smaller
id).
"""

from __future__ import annotations

import html

import numpy as np
import polars as pl

from recsys_core.report import charts
from recsys_core.report.format import fmt, html_table
from recsys_core.report.inputs import ReportInputs

__all__ = ["SAMPLE_ITEMS", "SAMPLE_USERS", "genre_mix", "sample_lists", "similar_titles"]

SAMPLE_USERS = 3
"""Users whose lists are shown."""
SAMPLE_ITEMS = 5
"""Most rated items whose similar items are shown (their first ``SAMPLE_ITEMS`` each)."""


def has_items(inputs: ReportInputs) -> bool:
    """Whether the run has item metadata to show."""
    return inputs.items is not None and inputs.items.height > 0


def titled(frame: pl.DataFrame, column: str, items: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``title`` and ``genres`` of the item in ``column`` (null when the items
    file lacks it); the metadata's ids are cast to the frame's id type."""
    meta = items.select(
        pl.col("item_id").cast(frame.schema[column], strict=False).alias(column),
        "title",
        pl.col("genres").list.join(", ").alias("genres"),
    ).unique(column, keep="first")
    return frame.join(meta, on=column, how="left", maintain_order="left")


def pick_users(users: pl.Series, n: int = SAMPLE_USERS) -> pl.Series:
    """``n`` users at evenly spaced positions of the sorted distinct ``users``."""
    ids = users.unique().sort()
    if ids.len() <= n:
        return ids
    return ids.gather(np.unique(np.linspace(0, ids.len() - 1, n).round().astype(np.int64)))


def sample_lists(inputs: ReportInputs) -> str:
    """A few users' published lists with titles (empty without item metadata)."""
    if not has_items(inputs):
        return ""
    lists = inputs.published
    if "rank" not in lists.columns:
        lists = lists.with_columns(pl.int_range(1, pl.len() + 1).over("user_id").alias("rank"))
    users = pick_users(lists.get_column("user_id"))
    parts = []
    for user in users.to_list():
        rows = lists.filter(pl.col("user_id") == user).sort("rank")
        rows = titled(rows, "item_id", inputs.items).select(
            "rank", "item_id", "title", "genres", "source"
        )
        parts.append(f"<h3>User {html.escape(fmt(user))}</h3>{html_table(rows)}")
    return (
        "<h2>A sample of the published lists</h2>"
        f"<p>{users.len()} users at evenly spaced positions of the user ids, with the titles "
        "from the items file.</p>" + "".join(parts)
    )


def similar_titles(inputs: ReportInputs) -> str:
    """The similar items of the most rated items, with titles (empty without metadata or a
    similar-items table)."""
    if not has_items(inputs) or inputs.similar is None or inputs.similar.height == 0:
        return ""
    top = (
        inputs.train_items.group_by("item_id")
        .len()
        .sort(["len", "item_id"], descending=[True, False])
        .head(SAMPLE_ITEMS)
    )
    parts = []
    for item in top.get_column("item_id").to_list():
        rows = inputs.similar.filter(
            (pl.col("item_id") == item) & (pl.col("rank") <= SAMPLE_ITEMS)
        ).sort("rank")
        rows = titled(rows, "similar_item_id", inputs.items)
        cols = [c for c in ("rank", "similar_item_id", "title", "genres", "source") if c in rows]
        name = titled(pl.DataFrame({"item_id": [item]}), "item_id", inputs.items)["title"][0]
        heading = html.escape(f"{fmt(item)}: {name if name is not None else fmt(None)}")
        parts.append(f"<h3>{heading}</h3>{html_table(rows.select(cols))}")
    return (
        "<h2>Similar items of the most rated items</h2>"
        f"<p>The first {SAMPLE_ITEMS} rows of published/similar_items.parquet for the "
        f"{top.height} most rated items.</p>" + "".join(parts)
    )


def genre_mix(inputs: ReportInputs) -> str:
    """Genre shares of the published rows against the training ratings (empty without
    genres)."""
    if not has_items(inputs) or inputs.items.get_column("genres").list.len().sum() == 0:
        return ""
    recs = genre_shares(inputs.published.select("item_id"), inputs.items)
    rated = genre_shares(inputs.train_items, inputs.items)
    return "\n".join(
        [
            "<h2>Genre mix</h2>",
            "<p>Each genre's share of the genre labels of the published rows, against its "
            "share in the training ratings (an item with several genres counts once for each; "
            "items without metadata are left out).</p>",
            charts.genre_mix(rated, recs),
        ]
    )


def genre_shares(rows: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """``genre, share``: each genre's share of the genre labels of ``rows`` (``item_id``)."""
    meta = items.select(
        pl.col("item_id").cast(rows.schema["item_id"], strict=False), "genres"
    ).unique("item_id", keep="first")
    labels = rows.select("item_id").join(meta, on="item_id").explode("genres")
    labels = labels.drop_nulls("genres")
    counts = labels.group_by("genres").len().rename({"genres": "genre"})
    total = max(int(counts.get_column("len").sum()), 1) if counts.height else 1
    return counts.select("genre", (pl.col("len") / total).alias("share"))
