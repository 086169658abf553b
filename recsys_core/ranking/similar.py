"""Similar items: per item, the ``n`` most similar other items, from a fitted item-item model.

Sources, in order of preference (the pipeline passes the strongest one the night has):

- ``ease``: row i of EASE's weights ``B`` (:class:`recsys_core.models.ease.EASE`, ``B_`` over the
  item subset ``items_``). ``B_ij`` is how much having i raises the score of j in ``X B``: a
  *learned* item-item regression that explains away what other items already predict (two
  sequels are not both credited for the same fans), fitted for top-N. Preferred.
- ``item_knn``: row i of an item-based KNN's ranking neighbourhood ``rank_``
  (:mod:`recsys_core.models.knn`, ``sim_options={"user_based": False}``): the support-shrunk
  similarity ``sim(i, j) * freq_ij / (freq_ij + lambda)``, a co-rating *statistic* of each pair
  on its own. Used when EASE was not fitted.
- ``co_raters`` (fallback): the items most often rated by the users who rated i
  (``c_ij = |U_i ∩ U_j|``, the score), ties by overall popularity ``|U_j|``, then smaller id.

Items in ``exclude`` (business rules' ``exclude_items.csv``: withdrawn, out of stock) are never
listed as a similar item, by the model or the fallback; their own rows are kept (a page about
a withdrawn item may still exist). Only positive model scores count as neighbours. An item
with fewer than ``min_ratings`` training ratings gets no model rows (its row of ``B`` or
``rank_`` rests on too little data); an item with fewer than ``n`` positive neighbours keeps
them and the fallback fills the remaining ranks (the fallback never repeats an item). So every
item gets ``min(n, n_items - 1 - excluded others)`` rows, never itself and never a sentinel
row. Ranking rule: higher score first, ties by smaller item id; model rows rank before fallback
rows (their scores are on different scales: read ``source``).

Work is done in blocks of items (one ``b x n_items`` float64 block at a time, sized like the
top-N ranker's), never an ``n_items x n_items`` dense matrix beyond EASE's own ``B``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys_core.errors import ConfigError
from recsys_core.models.base import Recommender
from recsys_core.ranking.topn import auto_block_size, top_k_rows, user_blocks

__all__ = ["SOURCES", "item_model_source", "similar_items", "similar_items_problems"]

SOURCES = ("ease", "item_knn", "co_raters")
COLUMNS = ("item_id", "rank", "similar_item_id", "score", "source")


def item_model_source(model: Recommender) -> str | None:
    """``"ease"`` or ``"item_knn"`` when ``model`` carries item-item scores, else None."""
    from recsys_core.models.ease import EASE
    from recsys_core.models.knn import KNNBase

    if isinstance(model, EASE):
        return "ease"
    if isinstance(model, KNNBase) and not model.params.sim_options.user_based:
        return "item_knn"
    return None


def similar_items(
    model: Recommender,
    n: int = 10,
    min_ratings: int = 5,
    *,
    block_size: int | None = None,
    exclude: np.ndarray | None = None,
) -> pl.DataFrame:
    """``item_id, rank, similar_item_id, score, source`` for every training item of ``model``.

    ``model`` is a fitted EASE or item-based KNN (see the module docstring for the sources and
    the fallback); ``exclude``: a bool per item index of items never listed as similar;
    ``block_size`` (items per block) only changes speed and memory.
    """
    source = item_model_source(model)
    if source is None:
        raise ConfigError(
            f"similar_items needs a fitted EASE or item-based KNN model, got {type(model).__name__}"
        )
    if n < 1 or min_ratings < 0:
        raise ConfigError(
            f"similar_items: need n >= 1 and min_ratings >= 0, got {n}, {min_ratings}"
        )
    data = model.data
    n_items = data.n_items
    counts = np.bincount(data.user_items.indices, minlength=n_items).astype(np.int64)
    item_users = (data.user_items.T.tocsr() != 0).astype(np.float64).tocsr()
    binary = (data.user_items != 0).astype(np.float64).tocsr()
    rows_of = _ease_rows(model) if source == "ease" else _knn_rows(model)
    parts = []
    items = np.arange(n_items, dtype=np.int64)
    for block in user_blocks(items, block_size or auto_block_size(n_items)):
        scores = rows_of(block)
        scores[counts[block] < min_ratings] = np.nan
        if exclude is not None:
            scores[:, exclude] = np.nan
        parts.append(_block_rows(block, scores, item_users, binary, counts, n, source, exclude))
    return _frame(data.items, parts)


def _ease_rows(model):
    """Rows of ``B`` (full catalogue width; items outside ``items_`` are NaN)."""
    n_items = model.data.n_items
    pos = np.full(n_items, -1, dtype=np.int64)
    pos[model.items_] = np.arange(len(model.items_))

    def rows(block: np.ndarray) -> np.ndarray:
        out = np.full((len(block), n_items), np.nan)
        inside = pos[block] >= 0
        out[np.ix_(inside, model.items_)] = model.B_[pos[block[inside]]]
        return out

    return rows


def _knn_rows(model):
    """Rows of the KNN's ranking neighbourhoods (absent entries are NaN)."""
    rank = model.rank_.tocsr()

    def rows(block: np.ndarray) -> np.ndarray:
        sub = rank[block]
        out = np.full(sub.shape, np.nan)
        r = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
        out[r, sub.indices] = sub.data
        return out

    return rows


def _block_rows(block, scores, item_users, binary, counts, n, source, exclude=None):
    """Model rows then fallback rows for one block: ``(items, ranks, similar, scores, source)``."""
    b, n_items = scores.shape
    own = (np.arange(b), block)
    scores[own] = np.nan
    with np.errstate(invalid="ignore"):
        scores[~(scores > 0)] = np.nan  # only positive neighbours
    rows, cols, vals = top_k_rows(scores, n)
    got = np.bincount(rows, minlength=b)
    need = np.minimum(n, n_items - 1) - got
    short = np.flatnonzero(need > 0)  # only these rows need the fallback's co-rater counts
    co = (item_users[block[short]] @ binary).toarray()  # c_ij, len(short) x n_items
    key = co * float(counts.max() + 1) + counts  # co-raters first, then popularity (exact)
    at = np.full(b, -1, dtype=np.int64)
    at[short] = np.arange(len(short))
    key[np.arange(len(short)), block[short]] = -np.inf
    model = at[rows] >= 0
    key[at[rows[model]], cols[model]] = -np.inf
    if exclude is not None:
        key[:, exclude] = -np.inf
    f_at, f_cols, _ = top_k_rows(key, n)
    f_rows = short[f_at]
    f_rank = np.arange(len(f_at)) - np.searchsorted(f_at, f_at)
    keep = f_rank < need[f_rows]
    f_rows, f_cols, f_co = f_rows[keep], f_cols[keep], co[f_at[keep], f_cols[keep]]
    m_rank = np.arange(len(rows)) - np.searchsorted(rows, rows) + 1
    f_rank = f_rank[keep] + 1 + got[f_rows]
    all_rows = np.concatenate([rows, f_rows])
    order = np.lexsort((np.concatenate([m_rank, f_rank]), all_rows))
    tags = np.array([source, "co_raters"])[
        np.r_[np.zeros(len(rows), int), np.ones(len(f_rows), int)]
    ]
    return (
        block[all_rows][order],
        np.concatenate([m_rank, f_rank])[order],
        np.concatenate([cols, f_cols])[order],
        np.concatenate([vals, f_co])[order],
        tags[order],
    )


def _frame(items, parts) -> pl.DataFrame:
    if parts:
        it, rk, sim, sc, src = (np.concatenate(col) for col in zip(*parts, strict=True))
    else:
        it = rk = sim = np.empty(0, dtype=np.int64)
        sc, src = np.empty(0), np.empty(0, dtype=str)
    return pl.DataFrame(
        {
            "item_id": items.raw(it),
            "rank": pl.Series(rk, dtype=pl.Int32),
            "similar_item_id": items.raw(sim).rename("similar_item_id"),
            "score": pl.Series(sc, dtype=pl.Float64),
            "source": pl.Series(src.astype(str), dtype=pl.String),
        }
    )


def similar_items_problems(
    table: pl.DataFrame, catalogue: pl.Series, n: int, excluded: pl.Series | None = None
) -> dict[str, str]:
    """What is wrong with a similar-items ``table`` (empty dict: nothing).

    Checks: the columns; every ``catalogue`` item has exactly ``min(n, len(catalogue) - 1 -
    excluded others)`` rows with ranks 1..k; no item is its own neighbour or listed twice; every
    id is in the catalogue; no ``excluded`` item is listed as similar; scores are finite;
    ``source`` is one of :data:`SOURCES`.
    """
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        return {"columns": f"missing column(s) {missing}; has {table.columns}"}
    problems: dict[str, str] = {}
    cat = catalogue.unique()
    gone = pl.Series([], dtype=cat.dtype) if excluded is None else excluded.cast(cat.dtype)
    gone = gone.filter(gone.is_in(cat.implode())).unique()
    per_item = (
        pl.DataFrame({"item_id": cat})
        .with_columns(
            pl.min_horizontal(
                pl.lit(n), cat.len() - 1 - gone.len() + pl.col("item_id").is_in(gone.implode())
            )
            .clip(0)
            .alias("want")
        )
        .join(table.group_by("item_id").len(), on="item_id", how="left")
        .with_columns(pl.col("len").fill_null(0))
        .filter(pl.col("len") != pl.col("want"))
    )
    if per_item.height:
        ex = per_item.head(3).select("item_id", "len", "want").rows()
        problems["rows_per_item"] = (
            f"{per_item.height} item(s) without min(N, others) rows, e.g. {ex}"
        )
    listed = table.filter(pl.col("similar_item_id").is_in(gone.implode()))
    if listed.height:
        ex = listed.get_column("similar_item_id").unique().head(3).to_list()
        problems["excluded"] = f"{listed.height} row(s) list an excluded item, e.g. {ex}"
    for col in ("item_id", "similar_item_id"):
        unknown = table.filter(~pl.col(col).is_in(cat.implode()))
        if unknown.height:
            ex = unknown.get_column(col).head(3).to_list()
            problems[f"unknown_{col}"] = f"{unknown.height} row(s) with an unknown {col}, e.g. {ex}"
    own = table.filter(pl.col("item_id") == pl.col("similar_item_id"))
    if own.height:
        problems["self"] = f"{own.height} item(s) listed as their own neighbour"
    dup = table.select("item_id", "similar_item_id").is_duplicated().sum()
    if dup:
        problems["duplicates"] = f"{dup} rows repeat an (item, similar item) pair"
    bad_rank = table.group_by("item_id").agg(
        (pl.col("rank").sort() == pl.int_range(1, pl.len() + 1)).all().alias("ok")
    )
    if not bad_rank.get_column("ok").all():
        problems["ranks"] = f"{(~bad_rank['ok']).sum()} item(s) whose ranks are not 1..k"
    score = table.get_column("score").cast(pl.Float64)
    if not score.is_finite().fill_null(False).all():
        problems["scores"] = "non-finite or null scores"
    bad_src = table.filter(~pl.col("source").is_in(list(SOURCES)))
    if bad_src.height:
        problems["source"] = f"unknown source(s) {bad_src['source'].unique().to_list()[:3]}"
    return problems
