"""The held-out quality protocol as a script: published lists vs single models on one split.

    python -m benchmarks.heldout /work/shared/data/ml-100k/u.data [--library-only]

Split (fixed, independent of the pipeline's own split): the file's data rows in file order,
``perm = numpy.random.default_rng(42).permutation(n)``; test = the rows at ``perm[: n // 5]``,
train = the rest, still in file order. Both parts are written in the input's own format (the
lines as they are) and read back with :func:`recsys_core.data.validate.ingest`.

Rows of the table, each scored on the test part (relevant = rating >= 4; P@10 and binary NDCG@10
over users with a relevant test item; :func:`recsys_core.evaluation.metrics.ranking_metrics`):

- ``popularity``: the most-rated train items;
- ``EASE`` / ``IALS``: hyperparameters chosen by :func:`recsys_core.evaluation.select.select`
  on a validation split carved from the TRAIN part (``random_split(train, 0.2, 0)``, default
  grids, every validation user scored), then refitted on the whole train part; the test part
  chooses nothing;
- ``EASE+IALS z-blend``: per user, each model's scores z-normalised over the catalogue, then
  averaged 50/50 (fixed weights: nothing chosen);
- ``published``: ``<root>/published/recommendations.parquet`` after the nightly job ran on a
  fresh data root holding the train part in ``raw/`` (skipped with ``--library-only``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from recsys_core.data.split import random_split
from recsys_core.data.validate import ingest
from recsys_core.evaluation.metrics import ranking_metrics
from recsys_core.evaluation.select import DEFAULT_GRIDS, select
from recsys_core.evaluation.validation import ValidationSet
from recsys_core.models.base import Recommender
from recsys_core.models.ease import EASE
from recsys_core.models.ials import IALS
from recsys_core.models.popularity import Popularity
from recsys_core.ranking.topn import block_topn

ROOT = Path(__file__).resolve().parents[1]
K, THRESHOLD, SEED = 10, 4.0, 42


def split_lines(path: Path, out: Path) -> tuple[Path, Path]:
    """Write ``out/train/<name>`` and ``out/test/<name>``: the protocol's split of the data lines
    (a header line, if ``ingest`` finds one, is copied to both)."""
    lines = [line for line in path.read_bytes().splitlines(keepends=True) if line.strip()]
    header = [] if ingest([path]).ratings.height >= len(lines) else lines[:1]
    rows = lines[len(header) :]
    n = len(rows)
    test_mask = np.zeros(n, dtype=bool)
    test_mask[np.random.default_rng(SEED).permutation(n)[: n // 5]] = True
    paths = []
    for part, keep in (("train", ~test_mask), ("test", test_mask)):
        target = out / part / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"".join(header + [r for r, k in zip(rows, keep, strict=True) if k]))
        paths.append(target)
    return paths[0], paths[1]


def tuned(cls: type[Recommender], train: pl.DataFrame) -> tuple[Recommender, dict, float, float]:
    """``cls`` with params chosen on a validation split of ``train``, refitted on ``train``."""
    inner = random_split(train, 0.2, random_state=0)
    t0 = time.perf_counter()
    valid = ValidationSet.build(inner.train, inner.test, threshold=THRESHOLD)
    chosen = select(cls, {}, DEFAULT_GRIDS[cls.__name__], valid, k=K)
    t1 = time.perf_counter()
    model = cls(**chosen.params).fit(train)
    return model, chosen.params, t1 - t0, time.perf_counter() - t1


def zscore(scores: np.ndarray) -> np.ndarray:
    """Each row's finite scores as ``(s - mean) / std`` (NaN and -inf stay as they are)."""
    finite = np.isfinite(scores)
    masked = np.where(finite, scores, np.nan)
    mean, std = np.nanmean(masked, axis=1, keepdims=True), np.nanstd(masked, axis=1, keepdims=True)
    return np.where(finite, (scores - mean) / np.where(std > 0, std, 1.0), scores)


def blend(a: Recommender, b: Recommender) -> pl.DataFrame:
    """Top-``K`` of the 50/50 average of the two models' per-user z-scores (same training data)."""

    def score(users: np.ndarray) -> np.ndarray:
        return 0.5 * zscore(a.score_users(users).astype(np.float64)) + 0.5 * zscore(
            b.score_users(users).astype(np.float64)
        )

    users = np.arange(a.data.n_users)
    return a.to_frame(block_topn(score, a.data.user_items, users, K))


def published(train_file: Path, work: Path) -> tuple[pl.DataFrame, float]:
    """Run the nightly job on a fresh root holding ``train_file`` in ``raw/``; its lists."""
    root = work / "root"
    (root / "raw").mkdir(parents=True)
    (root / "raw" / train_file.name).write_bytes(train_file.read_bytes())
    home = work / "dagster_home"
    home.mkdir()
    env = {**os.environ, "RECSYS_DATA_DIR": str(root), "DAGSTER_HOME": str(home)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", "run"], cwd=ROOT, env=env, check=True)
    seconds = time.perf_counter() - t0
    return pl.read_parquet(root / "published" / "recommendations.parquet"), seconds


def row(name: str, recs: pl.DataFrame, test: pl.DataFrame, seconds: str, note: str = "") -> dict:
    scores = ranking_metrics(recs, test, K, THRESHOLD)
    return {
        "lists": name,
        f"NDCG@{K}": round(scores["ndcg"], 4),
        f"P@{K}": round(scores["precision"], 4),
        "seconds": seconds,
        "chosen": note,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="a ratings file (any format ingest reads)")
    parser.add_argument("--library-only", action="store_true", help="skip the pipeline run")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="heldout-") as tmp:
        train_file, test_file = split_lines(args.data, Path(tmp))
        train, test = ingest([train_file]).ratings, ingest([test_file]).ratings
        print(f"{args.data}: train {train.height:,} rows, test {test.height:,} rows")
        t0 = time.perf_counter()
        pop = Popularity().fit(train)
        rows.append(row("popularity", pop.recommend(K), test, f"{time.perf_counter() - t0:.2f}"))
        models = {}
        for cls in (EASE, IALS):
            model, params, select_s, fit_s = tuned(cls, train)
            models[cls.__name__] = model
            t0 = time.perf_counter()
            recs = model.recommend(K)
            top_s = time.perf_counter() - t0
            timing = f"select {select_s:.1f} + fit {fit_s:.2f} + top {top_s:.2f}"
            rows.append(row(cls.__name__, recs, test, timing, str(params)))
        t0 = time.perf_counter()
        recs = blend(models["EASE"], models["IALS"])
        top_s = f"top {time.perf_counter() - t0:.2f}"
        rows.append(row("EASE+IALS z-blend", recs, test, top_s, "50/50 (fixed)"))
        if not args.library_only:
            recs, seconds = published(train_file, Path(tmp))
            rows.append(row("published", recs, test, f"run {seconds:.0f}"))
    with pl.Config(
        tbl_rows=-1, fmt_str_lengths=90, tbl_width_chars=200, tbl_hide_dataframe_shape=True
    ):
        print(pl.DataFrame(rows))
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
