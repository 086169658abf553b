"""Charts for the report, drawn with matplotlib (Agg backend) and returned as inline SVG."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

BASELINE = "popularity"
COLORS = {"hybrid": "#1b6ca8", BASELINE: "#9e9e9e"}


def _svg(fig) -> str:
    buf = io.StringIO()
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
        part = sel.filter(pl.col("metric") == name).sort("value", descending=True)
        models = part["model"].to_list()
        ax.barh(models, part["value"].to_list(), color=[_color(m) for m in models])
        ax.invert_yaxis()
        ax.set_title(f"{name}@{k}")
        for y, v in enumerate(part["value"].to_list()):
            ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
        ax.set_xlim(0, max(part["value"].max() or 0.0, 1e-9) * 1.25)
    fig.tight_layout()
    return _svg(fig)


def curves(metrics: pl.DataFrame) -> str:
    """NDCG@k and precision@k against k for every model."""
    sel = metrics.filter(
        (pl.col("segment") == "all") & pl.col("metric").is_in(["ndcg", "precision"])
    )
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, name in zip(axes, ("ndcg", "precision"), strict=True):
        for model in sel["model"].unique().sort().to_list():
            part = sel.filter((pl.col("metric") == name) & (pl.col("model") == model)).sort("k")
            style = "--" if model == BASELINE else "-"
            ax.plot(part["k"], part["value"], style, marker="o", label=model, color=None)
        ax.set_xlabel("k")
        ax.set_title(f"{name}@k")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _svg(fig)


def popularity_profile(published: pl.DataFrame, train: pl.DataFrame) -> str:
    """Share of items by popularity decile: in the catalogue vs in the published lists."""
    counts = train.group_by("item_id").agg(pl.len().alias("n")).sort("n", descending=True)
    decile = (np.arange(counts.height) * 10 // max(counts.height, 1)).astype(np.int64)
    counts = counts.with_columns(pl.Series("decile", decile))
    recs = published.join(counts, on="item_id", how="left")
    rec_share = np.bincount(recs["decile"].fill_null(9).to_numpy(), minlength=10) / max(
        recs.height, 1
    )
    rating_share = counts.group_by("decile").agg(pl.col("n").sum()).sort("decile")[
        "n"
    ].to_numpy() / max(counts["n"].sum(), 1)
    fig, ax = plt.subplots(figsize=(10, 3.4))
    x = np.arange(10)
    ax.bar(x - 0.2, rating_share, 0.4, label="share of training ratings", color="#9e9e9e")
    ax.bar(x + 0.2, rec_share, 0.4, label="share of published recommendations", color="#1b6ca8")
    ax.set_xticks(x, [f"{10 * d}-{10 * d + 10}%" for d in x], fontsize=8)
    ax.set_xlabel("items by popularity (most rated first), deciles of the catalogue")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _svg(fig)
