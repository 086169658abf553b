"""Checks on validated ratings and on a recommendations table, as pure functions.

Each returns a dict of failed-check name -> a short description with counts (empty = passed),
so the orchestrator can gate publishing on it and show why.
"""

from __future__ import annotations

import polars as pl

from recsys_core.data.validate import RATINGS_SCHEMA_COLUMNS


def ratings_problems(ratings: pl.DataFrame, rating_scale: tuple[float, float]) -> dict[str, str]:
    """Schema, rating range and uniqueness of the validated ratings."""
    problems: dict[str, str] = {}
    if tuple(ratings.columns) != RATINGS_SCHEMA_COLUMNS:
        problems["schema"] = f"columns {ratings.columns} != {list(RATINGS_SCHEMA_COLUMNS)}"
        return problems
    types = ratings.schema
    id_ok = all(types[c] in (pl.Int64, pl.String) for c in ("user_id", "item_id"))
    if not id_ok or types["rating"] != pl.Float64 or types["timestamp"] != pl.Int64:
        problems["schema"] = f"unexpected types {dict(types)}"
    lo, hi = rating_scale
    r = ratings.get_column("rating")
    outside = int(((r < lo) | (r > hi) | r.is_nan() | r.is_null()).sum())
    if outside:
        problems["rating_range"] = f"{outside} rating(s) outside [{lo}, {hi}] or missing"
    dupes = ratings.height - ratings.select(pl.struct("user_id", "item_id").n_unique()).item()
    if dupes:
        problems["duplicate_pairs"] = f"{dupes} duplicated (user, item) pair(s)"
    return problems


def recommendation_problems(
    recs: pl.DataFrame, ratings: pl.DataFrame, n: int, removed: pl.DataFrame | None = None
) -> dict[str, str]:
    """Every known user has min(n, candidates) distinct unseen items, ranks 1..k, finite scores.

    ``ratings`` are the ratings the lists were built from: their users are the known users and
    their items the catalogue. A user's candidates are the items they have not rated, less the
    ``removed`` ones (``user_id, removed``: how many of them business rules exclude,
    :func:`recsys_core.ranking.removed.removed_frame`; none when not given).
    """
    problems: dict[str, str] = {}
    n_items = ratings.get_column("item_id").n_unique()
    rated = ratings.group_by("user_id").agg(pl.len().alias("rated"))
    if removed is not None:
        rated = rated.join(removed, on="user_id", how="left").select(
            "user_id", pl.col("rated") + pl.col("removed").fill_null(0)
        )
    per_user = recs.group_by("user_id").agg(
        pl.len().alias("rows"),
        pl.col("item_id").n_unique().alias("distinct"),
        pl.col("rank").min().alias("lo"),
        pl.col("rank").max().alias("hi"),
        pl.col("rank").n_unique().alias("ranks"),
    )
    want = rated.with_columns(pl.min_horizontal(pl.lit(n), n_items - pl.col("rated")).alias("want"))
    cover = want.join(per_user, on="user_id", how="left").with_columns(pl.col("rows").fill_null(0))
    short = cover.filter(pl.col("rows") != pl.col("want"))
    if short.height:
        example = short.head(3).select("user_id", "rows", "want").rows()
        problems["rows_per_user"] = (
            f"{short.height} user(s) without min(N, candidates) rows, e.g. {example}"
        )
    unknown = recs.join(rated, on="user_id", how="anti").height
    unknown_items = recs.join(ratings.select("item_id").unique(), on="item_id", how="anti").height
    if unknown or unknown_items:
        problems["unknown_ids"] = (
            f"{unknown} row(s) for unknown users, {unknown_items} unknown items"
        )
    # the rated pairs among the lists' first (a join keyed on the lists' pairs, not on every
    # rating: at 25M ratings a hash of all of them was this check's 3 GiB), then the lists' rows
    pairs = ["user_id", "item_id"]
    rated_listed = ratings.select(pairs).join(recs.select(pairs), on=pairs, how="semi")
    seen = recs.join(rated_listed, on=pairs, how="semi").height
    if seen:
        problems["already_rated"] = f"{seen} recommended item(s) already rated by the user"
    bad_ranks = per_user.filter(
        (pl.col("lo") != 1) | (pl.col("hi") != pl.col("rows")) | (pl.col("ranks") != pl.col("rows"))
    ).height
    if bad_ranks:
        problems["ranks"] = f"{bad_ranks} user(s) whose ranks are not 1..k"
    dup_items = per_user.filter(pl.col("distinct") != pl.col("rows")).height
    if dup_items:
        problems["distinct_items"] = f"{dup_items} user(s) with a repeated item"
    s = recs.get_column("score")
    not_finite = int((~s.is_finite() | s.is_null()).sum())
    if not_finite:
        problems["finite_scores"] = f"{not_finite} score(s) not finite"
    return problems


def quality_problems(
    ndcg: float,
    live_ndcg: float | None,
    min_ndcg: float,
    max_drop: float,
    popularity_ndcg: float | None = None,
    min_lift: float = 1.5,
) -> dict[str, str]:
    """The publish gate: NDCG at least ``min_ndcg``, at most ``max_drop`` below the live run's
    (when there is one), and at least ``min_lift`` times ``popularity_ndcg`` (popularity's NDCG
    on the same test split, when given: an absolute floor means little on a new dataset)."""
    problems: dict[str, str] = {}
    if not ndcg >= min_ndcg:  # also catches NaN
        problems["ndcg_floor"] = f"NDCG {ndcg:.4f} < floor {min_ndcg:.4f}"
    if live_ndcg is not None and not ndcg >= live_ndcg - max_drop:
        problems["ndcg_regression"] = (
            f"NDCG {ndcg:.4f} is more than {max_drop:.4f} below the live run's {live_ndcg:.4f}"
        )
    if popularity_ndcg is not None and not ndcg >= min_lift * popularity_ndcg:  # NaN fails
        problems["popularity_lift"] = (
            f"NDCG {ndcg:.4f} < {min_lift:.2f} x popularity's {popularity_ndcg:.4f} "
            f"(= {min_lift * popularity_ndcg:.4f})"
        )
    return problems
