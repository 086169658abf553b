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
- ``ials``: ``q_i . q_j``, the dot product of iALS's item factors (:class:`recsys_core.models.
  ials.IALS`): how much a user whose taste is ``q_i`` would score j. The dot product, not the
  cosine: it keeps the factors' popularity (their norms), and on "because you last watched"
  (:mod:`recsys_core.evaluation.similar`) it scored above both the cosine and EASE's rows
  (``docs/benchmarks.md``, "Similar items from iALS"). Used when iALS is the night's model;
  it costs one ``b x factors`` by ``factors x n_items`` product per block, no fit.
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
from recsys_core.ranking.similar_sources import item_model_source, model_rows
from recsys_core.ranking.topn import auto_block_size, map_blocks, top_k_rows

__all__ = ["SOURCES", "item_model_source", "similar_items", "similar_items_problems"]

SOURCES = ("ease", "item_knn", "ials", "co_raters")
COLUMNS = ("item_id", "rank", "similar_item_id", "score", "source")


def similar_items(
    model: Recommender,
    n: int = 10,
    min_ratings: int = 5,
    *,
    block_size: int | None = None,
    exclude: np.ndarray | None = None,
    threads: int | None = None,
) -> pl.DataFrame:
    """``item_id, rank, similar_item_id, score, source`` for every training item of ``model``.

    ``model`` is a fitted EASE, item-based KNN or iALS (see the module docstring for the sources
    and the fallback); ``exclude``: a bool per item index of items never listed as similar;
    ``block_size`` (items per block) and ``threads`` (None: one per CPU) only change speed and
    memory.
    """
    source = item_model_source(model)
    if source is None:
        raise ConfigError(
            f"similar_items needs a fitted EASE, item-based KNN or iALS model, got "
            f"{type(model).__name__}"
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
    by_count = np.lexsort((np.arange(n_items), -counts))
    if exclude is not None:
        by_count = by_count[~exclude[by_count]]
    popular = by_count[: 2 * n + 1]  # the most rated listable items: see _co_raters
    rows_of = model_rows(model)

    def one(block: np.ndarray) -> tuple:
        live, scores = rows_of(block, counts[block] >= min_ratings)
        if exclude is not None:
            scores[:, exclude] = np.nan
        model_rows_ = _model_rows(block, live, scores, n)
        return _block_rows(
            block, model_rows_, item_users, binary, counts, popular, n, source, exclude
        )

    items = np.arange(n_items, dtype=np.int64)
    parts = map_blocks(one, items, block_size or auto_block_size(n_items), threads)
    return _frame(data.items, parts)


def _model_rows(block, live, scores, n):
    """(row in block, item, score) of each live row's ``n`` best positive neighbours."""
    scores[np.arange(len(live)), block[live]] = np.nan  # never the item itself
    with np.errstate(invalid="ignore"):
        scores[~(scores > 0)] = np.nan  # only positive neighbours
    r, cols, vals = top_k_rows(scores, n)
    return live[r], cols, vals


def _block_rows(block, model_rows, item_users, binary, counts, popular, n, source, exclude=None):
    """Model rows then fallback rows for one block: ``(items, ranks, similar, scores, source)``."""
    b, n_items = len(block), len(counts)
    rows, cols, vals = model_rows
    got = np.bincount(rows, minlength=b)
    need = np.minimum(n, n_items - 1) - got
    f_rows, f_cols, f_co, f_rank = _co_raters(
        block, need, (rows, cols), item_users, binary, counts, popular, exclude
    )
    m_rank = np.arange(len(rows)) - np.searchsorted(rows, rows) + 1
    f_rank = f_rank + 1 + got[f_rows]
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


DENSE_CO = 0.05
"""Above this share of nonzero co-rater counts in a block, the fallback ranks dense rows (one
pass of the top-N ranker); below it, only the nonzero entries (tail items, whose few raters
co-rate a small part of a large catalogue). Both give the same picks."""


def _co_raters(block, need, taken, item_users, binary, counts, popular, exclude=None):
    """The fallback's picks ``(row, item, c_ij, rank among the row's picks)``: per row with
    ``need > 0``, the best ``need`` items by ``(c_ij, |U_j|, -j)``, never the item itself nor an
    item ``taken`` (the model's rows) nor an ``exclude``d one."""
    short = np.flatnonzero(need > 0)
    if len(short) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0), empty
    n_items = len(counts)
    co = (item_users[block[short]] @ binary).tocsr()  # c_ij of the short rows, sparse
    at = np.full(len(block), -1, dtype=np.int64)
    at[short] = np.arange(len(short))
    mine = at[taken[0]] >= 0
    banned = (  # (short row, item): the item itself, then the model's rows
        np.concatenate([np.arange(len(short)), at[taken[0][mine]]]),
        np.concatenate([block[short], taken[1][mine]]),
    )
    pick = _dense_picks if co.nnz > DENSE_CO * co.shape[0] * n_items else _sparse_picks
    r, c, v, rank = pick(co, need[short], banned, counts, popular, exclude)
    return short[r], c, v, rank


def _dense_picks(co, need, banned, counts, popular, exclude=None):
    """Picks from the dense rows: ``key = c_ij (max |U| + 1) + |U_j|``, exact in float64."""
    co = co.toarray()
    key = co * float(counts.max() + 1) + counts
    key[banned] = -np.inf
    if exclude is not None:
        key[:, exclude] = -np.inf
    r, c, _ = top_k_rows(key, int(need.max()))
    rank = np.arange(len(r)) - np.searchsorted(r, r)
    keep = rank < need[r]
    return r[keep], c[keep], co[r[keep], c[keep]], rank[keep]


def _sparse_picks(co, need, banned, counts, popular, exclude=None):
    """Picks from the nonzero entries, ranked by the same key; if a row has too few, the rest
    are the most rated items with ``c_ij = 0``, which lie among the ``2n + 1`` most rated items
    (``popular``): of those, at most ``n`` are banned model rows and the others are either free
    or co-rated (already ranked), so enough free ones remain."""
    n_items = co.shape[1]
    codes = np.sort(banned[0] * n_items + banned[1])
    r = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
    c, v = co.indices.astype(np.int64), co.data
    ok = ~_member(r * n_items + c, codes)
    if exclude is not None:
        ok &= ~exclude[c]
    r, c, v = r[ok], c[ok], v[ok]
    order = np.lexsort((c, -(v * float(counts.max() + 1) + counts[c]), r))
    r, c, v = r[order], c[order], v[order]
    rank = np.arange(len(r)) - np.searchsorted(r, r)
    keep = rank < need[r]
    r, c, v, rank = r[keep], c[keep], v[keep], rank[keep]
    done = np.bincount(r, minlength=co.shape[0])
    deficient = np.flatnonzero(need - done > 0)
    if len(deficient):
        free = ~(co[deficient][:, popular].toarray() > 0)  # c_ij = 0 (never the item itself)
        free &= ~_member(deficient[:, None] * n_items + popular[None, :], codes)
        pos = np.cumsum(free, axis=1) - 1
        fr, fj = np.nonzero(free & (pos < (need - done)[deficient][:, None]))
        r = np.concatenate([r, deficient[fr]])
        c = np.concatenate([c, popular[fj]])
        v = np.concatenate([v, np.zeros(len(fr))])
        rank = np.concatenate([rank, done[deficient[fr]] + pos[fr, fj]])
    return r, c, v, rank


def _member(values: np.ndarray, sorted_codes: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_codes)`` for a sorted ``sorted_codes``."""
    if len(sorted_codes) == 0:
        return np.zeros(values.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_codes, values), len(sorted_codes) - 1)
    return sorted_codes[at] == values


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
