"""Fresh lists between nights: new ratings folded into the night's models.

Notation: ``R`` is the night's ratings (the fitted model's ``data``), ``D`` the day's ratings
(every rating read since the night from raw files that were new or changed, validated like the
night's, one row per (user, item)), ``N`` the ratings a refresh reads.

- The day's ratings after a refresh, ``D' = merge(D, N)`` (:func:`merge_day`): per (user, item)
  the later timestamp wins, a rating with a timestamp beats one without, ties go to ``N``: the
  ingest's duplicate rule, with ``N`` as the later file.
- A user's ratings are ``R_u`` updated by ``D_u``: a day rating replaces the night's (it
  arrived later; the next night applies the ingest's rule to all files and retrains).
- The users a refresh *touches* (:func:`fold_in_plan`): those whose ratings of the night's items
  differ between ``R + D`` and ``R + D'``, and users the night did not know, the first time they
  appear (they need a list, if only the fallback's). Ratings of items the night did not know
  change no score (no model has them) until the next night.
- Their lists (:func:`refreshed_lists`): the night's hybrid serving them through
  :meth:`~recsys_core.models.base.Recommender.for_users` (the fold-in path of the scorer
  protocol: EASE and item-KNN score the updated rows with their fitted item-item weights, iALS
  solves the users' factors against the fixed item factors, the blend weights, fallback,
  cold-start rules and ranker are the night's), so no item-side parameter is refitted.
- The table (:func:`replace_users`): the live table with exactly those users' rows replaced;
  every other row is kept as it is, provenance included.

:func:`default_list` is the fallback's top-N for a user with no rating at all: what a service
shows a user nobody has seen yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_core.data.ids import IdIndex, RatingData, build_csr
from recsys_core.errors import DataError
from recsys_core.publish.table import published_table
from recsys_core.ranking.blend import zscore_rows
from recsys_core.ranking.hybrid import Exclude, Hybrid
from recsys_core.ranking.ranker import FALLBACK
from recsys_core.ranking.topn import top_k_rows

__all__ = [
    "DAY_COLUMNS",
    "FoldIn",
    "day_schema",
    "default_list",
    "fold_in_plan",
    "merge_day",
    "rated_pairs",
    "refreshed_lists",
    "replace_users",
    "typed_like",
]

KEY = ["user_id", "item_id"]
DAY_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
"""The columns of the day's ratings (the validated ratings' columns)."""


@dataclass(frozen=True)
class FoldIn:
    """The users a refresh touches and their ratings of the night's items."""

    users: IdIndex
    """Their raw ids (sorted); row ``r`` of ``user_items`` is ``users`` position ``r``."""
    user_items: sp.csr_matrix
    """``len(users) x n_items`` ratings over the fitted model's item indices (``R_u + D'_u``)."""
    new_users: int
    """How many of them the night did not know."""

    def __len__(self) -> int:
        return len(self.users)


def day_schema(id_types: dict[str, str]) -> pl.Schema:
    """The day's ratings' schema, ids typed like the night's (``{"user_id": "Int64", ...}``)."""
    types = {name: pl.String if id_types[name] == "String" else pl.Int64 for name in KEY}
    return pl.Schema({**types, "rating": pl.Float64, "timestamp": pl.Int64})


def typed_like(new: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """Validated ratings ``new`` with the night's id types: integer ids become strings when the
    night's are strings (the integer's spelling is the id, as validation typed it); a string
    id where the night's are integers is a :class:`DataError` (the next night, which sees
    every file, decides the type)."""
    out = new.select(DAY_COLUMNS)
    for name in KEY:
        have, want = out.schema[name], schema[name]
        if have == want:
            continue
        if want != pl.String:
            odd = out.get_column(name).head(3).to_list()
            raise DataError(
                f"{name} is {have} in the new ratings (e.g. {odd}) but {want} in the night's: "
                "an id type change waits for the next night"
            )
        out = out.with_columns(pl.col(name).cast(pl.String))
    return out.cast(dict(schema))


def merge_day(day: pl.DataFrame, new: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(D', changes)``: the day's ratings updated by ``new`` (see the module docstring), sorted
    by (user, item), and the rows of ``D'`` that ``D`` did not hold as they are (a new pair or
    a new rating value), with ``was`` (the pair's earlier day rating, or null) and ``first``
    (the user had no day rating before)."""
    day, new = day.select(DAY_COLUMNS), new.select(DAY_COLUMNS)
    if day.schema != new.schema:
        raise DataError(f"new ratings are typed {dict(new.schema)}, the day's {dict(day.schema)}")
    both = pl.concat(
        [day.with_columns(pl.lit(0).alias("_n")), new.with_columns(pl.lit(1).alias("_n"))]
    )
    merged = both.sort([*KEY, "timestamp", "_n"], nulls_last=False).unique(KEY, keep="last")
    merged = merged.sort(KEY)
    earlier = day.select(*KEY, pl.col("rating").alias("was"))
    changes = (
        merged.filter(pl.col("_n") == 1)
        .join(earlier, on=KEY, how="left")
        .filter(pl.col("was").is_null() | (pl.col("was") != pl.col("rating")))
        .with_columns(
            pl.col("user_id").is_in(day.get_column("user_id").implode()).not_().alias("first")
        )
    )
    return merged.drop("_n"), changes.drop("_n")


def fold_in_plan(data: RatingData, day: pl.DataFrame, changes: pl.DataFrame) -> FoldIn:
    """The users ``changes`` touch (:func:`merge_day`'s, against the night's ``data``) and their
    rows ``R_u + D_u`` over the night's items, ``day`` being the merged day's ratings."""
    u = data.users.index_of(changes.get_column("user_id"))
    i = data.items.index_of(changes.get_column("item_id"))
    night = _values(data.user_items, u, i)
    was = changes.get_column("was").to_numpy()
    before = np.where(np.isnan(was), night, was)  # the day's earlier rating, else the night's
    rating = changes.get_column("rating").to_numpy()
    moved = (i >= 0) & ~(before == rating)  # NaN before (absent): a change
    first = (u < 0) & changes.get_column("first").to_numpy()
    touched = changes.get_column("user_id").filter(pl.Series(moved | first))
    users = IdIndex.from_series(touched)
    new_users = int((data.users.index_of(users.ids) < 0).sum())
    return FoldIn(users, _rows(data, users, day), new_users)


def _values(m: sp.csr_matrix, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``m[u, i]`` where stored, NaN where not (or where u or i is -1); reads only the rows of
    the users in ``u``."""
    rows = np.unique(u[u >= 0])
    block = m[rows].tocoo()
    stored = pl.DataFrame({"u": rows[block.row], "i": block.col.astype(np.int64), "v": block.data})
    asked = pl.DataFrame({"u": u, "i": i})
    found = asked.join(stored, on=["u", "i"], how="left", maintain_order="left")
    return found.get_column("v").fill_null(np.nan).to_numpy()


def _rows(data: RatingData, users: IdIndex, day: pl.DataFrame) -> sp.csr_matrix:
    """``R_u`` updated by ``D_u`` for ``users``, over the night's items (CSR, sorted)."""
    night = data.users.index_of(users.ids)
    known = np.flatnonzero(night >= 0)
    block = data.user_items[night[known]].tocoo()
    frames = [
        pl.DataFrame(
            {"r": known[block.row], "i": block.col.astype(np.int64), "v": block.data, "_n": 0}
        ),
    ]
    mine = day.filter(pl.col("user_id").is_in(users.ids.implode()))
    r = users.index_of(mine.get_column("user_id"))
    i = data.items.index_of(mine.get_column("item_id"))
    ok = i >= 0
    v = mine.get_column("rating").cast(pl.Float64).to_numpy()
    frames.append(pl.DataFrame({"r": r[ok], "i": i[ok], "v": v[ok], "_n": 1}))
    cells = (
        pl.concat(frames, how="vertical_relaxed")
        .sort("r", "i", "_n")
        .unique(["r", "i"], keep="last")
    )
    return build_csr(
        cells["r"].to_numpy(),
        cells["i"].to_numpy(),
        cells["v"].to_numpy(),
        (len(users), data.n_items),
    )


def refreshed_lists(
    hybrid: Hybrid,
    fold: FoldIn,
    n: int,
    exclude: Exclude | None = None,
    block_size: int | None = None,
) -> pl.DataFrame:
    """``user_id, rank, item_id, score, source, explanation`` of the touched users, from the
    night's ``hybrid`` folded in (``exclude``: business rules, over ``fold.users`` positions)."""
    folded = hybrid.for_users(fold.users, fold.user_items)
    folded.exclude = exclude
    return folded.recommend_explained(n, block_size=block_size)


def replace_users(
    live: pl.DataFrame,
    users: pl.Series,
    lists: pl.DataFrame,
    run_id: str,
    generated_at: datetime,
    model_run_id: str,
) -> pl.DataFrame:
    """The published table ``live`` with the rows of ``users`` replaced by ``lists`` (which get
    this run's provenance and ``model_run_id``); every other row kept as it is."""
    fresh = published_table(lists, run_id, generated_at, model_run_id=model_run_id)
    kept = live.filter(~pl.col("user_id").is_in(users.cast(live.schema["user_id"]).implode()))
    return pl.concat([kept, fresh.cast(dict(live.schema))]).sort(["user_id", "rank"])


def rated_pairs(data: RatingData, day: pl.DataFrame) -> pl.DataFrame:
    """``user_id, item_id`` of every rating in ``R + D`` (one row per pair): the ratings the
    refreshed table is checked against."""
    m = data.user_items
    night = pl.DataFrame(
        {
            "user_id": data.users.raw(np.repeat(np.arange(data.n_users), np.diff(m.indptr))),
            "item_id": data.items.raw(m.indices),
        }
    )
    return pl.concat([night, day.select(KEY)]).unique(KEY)


def default_list(hybrid: Hybrid, n: int) -> pl.DataFrame:
    """``rank, item_id, score, source`` of the fallback's top-``n`` for a user with no rating:
    the fallback's scores z-scored over the whole catalogue (the unit of every published score,
    as the hybrid ranks a cold user), best first, ties by the smaller item id."""
    blank = hybrid.fallback_.for_users(
        _one_user(hybrid.data.users), sp.csr_matrix((1, hybrid.data.n_items))
    )
    scores = np.asarray(blank.score_users(np.zeros(1, dtype=np.int64)), dtype=np.float64)
    z = zscore_rows(scores, np.zeros(scores.shape, dtype=bool))
    _, items, values = top_k_rows(z, n)
    names = np.array([*hybrid.source_names, "popularity"])
    return pl.DataFrame(
        {
            "rank": pl.Series(np.arange(1, len(items) + 1), dtype=pl.Int32),
            "item_id": hybrid.data.items.raw(items),
            "score": pl.Series(values, dtype=pl.Float64),
            "source": names[np.full(len(items), FALLBACK)],
        }
    )


def _one_user(users: IdIndex) -> IdIndex:
    """A one-user index typed like ``users`` (its first id: any id will do, no row is kept)."""
    return IdIndex(users.ids.head(1))
