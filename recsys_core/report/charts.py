"""Charts for the report, drawn with matplotlib (Agg backend) and returned as inline SVG.

Text stays text in the SVG (``svg.fonttype = none``): it is searchable, selectable and small.
Every chart takes plain frames and returns one ``<svg>`` string.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from recsys_core.report.format import fmt

__all__ = [
    "BASELINE",
    "TREND_GID",
    "curves",
    "genre_mix",
    "model_comparison",
    "popularity_profile",
    "trend",
]

BASELINE = "popularity"
COLORS = {"hybrid": "#1b6ca8", BASELINE: "#9e9e9e"}
TREND_GID = "trend-points"
"""SVG id of the group holding a trend chart's points (one marker per run)."""
RC = {"svg.fonttype": "none", "svg.hashsalt": "recsys", "font.size": 9}


def _svg(fig) -> str:
    buf = io.StringIO()
    with plt.rc_context(RC):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _color(model: str) -> str:
    return COLORS.get(model, "#6aa84f")


def model_comparison(metrics: pl.DataFrame, k: int) -> str:
    """Bars of NDCG@k and P@k per model (all users), the popularity baseline in grey."""
    sel = metrics.filter((pl.col("segment") == "all") & (pl.col("k") == k))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, name in zip(axes, ("ndcg", "precision"), strict=True):
        part = sel.filter(pl.col("metric") == name).sort("value", descending=True, nulls_last=True)
        models = part["model"].to_list()
        values = [v if v is not None and math.isfinite(v) else 0.0 for v in part["value"]]
        ax.barh(models, values, color=[_color(m) for m in models])
        ax.invert_yaxis()
        ax.set_title(f"{name}@{k}")
        for y, v in enumerate(part["value"].to_list()):
            ax.text(values[y], y, f" {fmt(v)}", va="center", fontsize=8)
        ax.set_xlim(0, max(max(values, default=0.0), 1e-9) * 1.3)
    fig.tight_layout()
    return _svg(fig)


def curves(metrics: pl.DataFrame) -> str:
    """NDCG@k and precision@k against k for every model; ticks at the evaluated k only."""
    sel = metrics.filter(
        (pl.col("segment") == "all") & pl.col("metric").is_in(["ndcg", "precision"])
    )
    ks = sorted(int(k) for k in sel["k"].drop_nulls().unique())
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, name in zip(axes, ("ndcg", "precision"), strict=True):
        for model in sel["model"].unique().sort().to_list():
            part = sel.filter((pl.col("metric") == name) & (pl.col("model") == model)).sort("k")
            style = "--" if model == BASELINE else "-"
            color = _color(model) if model in COLORS else None
            ax.plot(part["k"], part["value"], style, marker="o", label=model, color=color)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("k (list length)")
        ax.set_title(f"{name}@k")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _svg(fig)


def trend(trends: pl.DataFrame, column: str, title: str) -> str:
    """``column`` against the run date, one marker per run (in the group :data:`TREND_GID`)."""
    part = trends.sort("date")
    x = np.arange(part.height)
    y = np.array([np.nan if v is None else float(v) for v in part[column]], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(3.3, 2.0))
    ax.plot(x, y, "-", marker="o", markersize=3, color=COLORS["hybrid"], gid=TREND_GID)
    step = max(1, math.ceil(part.height / 5))
    ticks = x[::step]
    ax.set_xticks(ticks, [_day(part["date"][int(i)]) for i in ticks], fontsize=7)
    ax.set_xlim(-0.5, max(part.height - 0.5, 0.5))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _svg(fig)


def _day(value) -> str:
    return value.strftime("%m-%d") if hasattr(value, "strftime") else str(value)[:10]


def popularity_profile(published: pl.DataFrame, train: pl.DataFrame) -> str:
    """Share of items by popularity decile: in the catalogue vs in the published lists."""
    counts = train.group_by("item_id").agg(pl.len().alias("n"))
    counts = counts.sort(["n", "item_id"], descending=[True, False])
    decile = (np.arange(counts.height) * 10 // max(counts.height, 1)).astype(np.int64)
    counts = counts.with_columns(pl.Series("decile", decile))
    recs = published.join(counts, on="item_id", how="left")
    rec_share = np.bincount(recs["decile"].fill_null(9).to_numpy(), minlength=10) / max(
        recs.height, 1
    )
    per_decile = counts.group_by("decile").agg(pl.col("n").sum())
    rating_n = np.zeros(10)
    rating_n[per_decile["decile"].to_numpy()] = per_decile["n"].to_numpy()
    rating_share = rating_n / max(counts["n"].sum(), 1)
    fig, ax = plt.subplots(figsize=(10, 3.4))
    x = np.arange(10)
    ax.bar(x - 0.2, rating_share, 0.4, label="share of training ratings", color="#9e9e9e")
    ax.bar(x + 0.2, rec_share, 0.4, label="share of published recommendations", color="#1b6ca8")
    ax.set_xticks(x, [f"{10 * d}-{10 * d + 10}%" for d in x], fontsize=8)
    ax.set_xlabel("items by popularity (most rated first), deciles of the catalogue")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _svg(fig)


GENRES_SHOWN = 12


def genre_mix(rated: pl.DataFrame, recommended: pl.DataFrame) -> str:
    """Bars of each genre's share (``genre, share`` frames) in the training ratings and in the
    published rows; the :data:`GENRES_SHOWN` genres most present in either, largest first."""
    both = (
        rated.rename({"share": "rated"})
        .join(recommended.rename({"share": "recommended"}), on="genre", how="full", coalesce=True)
        .fill_null(0.0)
        .with_columns(pl.max_horizontal("rated", "recommended").alias("top"))
        .sort(["top", "genre"], descending=[True, False])
        .head(GENRES_SHOWN)
    )
    fig, ax = plt.subplots(figsize=(10, 3.4))
    x = np.arange(both.height)
    ax.bar(x - 0.2, both["rated"], 0.4, label="share of training ratings", color="#9e9e9e")
    ax.bar(x + 0.2, both["recommended"], 0.4, label="share of published recommendations",
           color=COLORS["hybrid"])  # fmt: skip
    ax.set_xticks(x, both["genre"].to_list(), fontsize=8, rotation=30, ha="right")
    ax.set_ylabel("share of genre labels")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _svg(fig)
