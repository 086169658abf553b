"""Cross-validated defaults of the nightly hybrid, on training data only.

    python -m benchmarks.defaults_cv [--folds 3] [--datasets ml-100k,synth-dense,synth-sparse]

Chooses iALS's ``n_factors`` (fixed, or climbed nightly), ``n_epochs`` and ``alpha``, EASE's
``low_weight``, the blend search's order (cold-start settings before or after the weights,
:func:`recsys_core.ranking.tuning.tune`'s ``cold_first``), whether the selection refines ``reg``
between rungs, how many validation splits judge the blend and whether EASE's ``reg`` is scaled
for the refits, by the published lists' NDCG@10 on inner folds (the candidates:
:mod:`benchmarks.cv_candidates`). ``--implicit``: the same on implicit feedback (every rating
set to 1, every held-out interaction relevant, the settings of
:func:`~recsys_core.settings.for_feedback`). Data (never a test split):

- ``ml-100k``: the TRAIN part of ``benchmarks/heldout.py``'s protocol split (its
  :func:`~benchmarks.heldout.split_lines`; the test rows are written to a temporary directory
  by that function and never read here);
- ``synth-dense``: ML-1M's shape scaled down (3,000 users x 1,800 items x 250k ratings);
- ``synth-sparse``: ml-latest-small's shape (610 x 9,724 x 100k). Both from
  :func:`~recsys_core.data.synthetic.generate_ratings` with 16 latent factors and
  ``taste_selection=4`` (people mostly rate what suits them: EASE/iALS ~1.7x popularity's
  NDCG@10; with 8 factors 128-factor models could not matter).

Fold ``s``: the data's rows in order, ``perm = default_rng(s).permutation(n)``, the rows at
``perm[: n // 5]`` held out (the protocol's split, another seed); the night runs on the rest
(``R``) exactly as ``hybrid_tuning``, ``hybrid_train_model`` and ``hybrid_model`` do: the
pipeline's split of ``R`` (``split.*``), :func:`~recsys_core.evaluation.select.select` per
component and :func:`~recsys_core.ranking.tuning.tune` on its validation split (the steps of
:func:`~recsys_core.ranking.choice.choose_settings`, checked to choose the same on the first
fold), the kept components fitted on the training split, then on ``R`` (iALS warm-started),
popularity as the fallback, :meth:`Hybrid.assemble`, top-10 for every user. Scored on the
held-out rows: relevant = rating >= ``evaluation.threshold`` (4),
:func:`~recsys_core.evaluation.metrics.ranking_metrics`.
Work that does not depend on a candidate (EASE's selection and fits, the fallback) is done once
per fold; ``s`` is each candidate's own night cost (iALS selection + fits + blend search).

The default is the candidate with the highest mean over data sets of ``NDCG / best NDCG`` on
that data set (fold means): robust across data rather than best on one. Candidates within
:data:`TIE` of the highest count as tied (fold-to-fold spread is ~10x that); the first of them in
:data:`CANDIDATES` wins: fixed factors before climbed ones (cheaper), the cold-start settings
before the weights (the order already in use).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.cv_candidates import CANDIDATES, DEFAULTS, Candidate
from benchmarks.heldout import split_lines
from recsys_core.data.ids import RatingData
from recsys_core.data.split import random_split
from recsys_core.data.synthetic import generate_ratings
from recsys_core.data.validate import ingest
from recsys_core.evaluation.metrics import ranking_metrics
from recsys_core.evaluation.select import DEFAULT_GRIDS, select
from recsys_core.evaluation.validation import ValidationSet
from recsys_core.models.registry import build, registered
from recsys_core.params import as_dict
from recsys_core.ranking.choice import (
    HybridParams,
    choose_settings,
    component_spec,
    kept,
    refit_on_split,
)
from recsys_core.ranking.hybrid import Hybrid
from recsys_core.ranking.tuning import tune, validation_split
from recsys_core.settings import Settings, for_feedback, hybrid_params, validate

ML100K = Path("/work/shared/data/ml-100k/u.data")
K = 10
SYNTH = {"n_factors": 16, "taste_selection": 4.0, "seed": 0}
SHAPES = {"synth-dense": (3_000, 1_800, 250_000), "synth-sparse": (610, 9_724, 100_000)}
FOLD_SEEDS = tuple(range(1, 11))
TIE = 0.001


def row_split(frame: pl.DataFrame, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The protocol's split with seed ``seed``: rows in order, ``perm[: n // 5]`` held out."""
    n = frame.height
    held = np.zeros(n, dtype=bool)
    held[np.random.default_rng(seed).permutation(n)[: n // 5]] = True
    mask = pl.Series(held)
    return frame.filter(~mask), frame.filter(mask)


def load(name: str, implicit: bool = False) -> pl.DataFrame:
    """A data set's training ratings (ML-100k: the protocol's train part only); ``implicit``:
    every rating 1 (each pair one interaction)."""
    if name == "ml-100k":
        with tempfile.TemporaryDirectory(prefix="defaults-cv-") as tmp:
            train_file, _ = split_lines(ML100K, Path(tmp))  # the test file is never read
            frame = ingest([train_file]).ratings
    else:
        frame = generate_ratings(*SHAPES[name], **SYNTH)
    rating = pl.lit(1.0) if implicit else pl.col("rating").cast(pl.Float64)
    return frame.with_columns(rating.alias("rating"))


def night_settings(implicit: bool) -> Settings:
    """The defaults, or the settings a run on implicit feedback uses (``for_feedback``)."""
    if not implicit:
        return Settings()
    values = Settings().to_dict()
    values["ingest"]["feedback"] = "implicit"
    return for_feedback(validate(values, "--implicit"))


class Fold:
    """One inner fold: ``R`` and its held-out rows, the night's splits of ``R``, and the work
    every candidate shares (selections and fits by their inputs)."""

    def __init__(
        self, ratings: pl.DataFrame, seed: int, settings: Settings, threshold: float
    ) -> None:
        self.threshold = threshold
        self.ratings, self.held = row_split(ratings, seed)
        s = settings.split
        self.train = random_split(self.ratings, s.test_fraction, s.random_state).train
        p = HybridParams(**hybrid_params(settings))
        inner = validation_split(self.train, p.validation_fraction, p.random_state)
        self.valid = ValidationSet.build(
            inner.train, inner.test, threshold=threshold, max_users=p.tune_users,
            random_state=p.random_state,
        )  # fmt: skip
        self.data = {"train": RatingData.from_frame(self.train),
                     "all": RatingData.from_frame(self.ratings)}  # fmt: skip
        self.frames = {"train": self.train, "all": self.ratings}
        self.cache: dict[tuple, tuple[Any, float]] = {}

    def once(self, key: tuple, work: Callable[[], Any]) -> tuple[Any, float]:
        """``work()`` and its seconds, computed once per ``key``."""
        if key not in self.cache:
            t0 = time.perf_counter()
            self.cache[key] = (work(), time.perf_counter() - t0)
        return self.cache[key]

    def selected(self, p: HybridParams, name: str, keys: tuple[str, ...]) -> tuple[Any, float]:
        """The fitted best candidate of ``name``'s selection (as ``choose_settings`` runs it)."""
        spec = p.components[name]
        model = registered(spec["model"])
        grid = p.grids.get(name, DEFAULT_GRIDS.get(model.__name__, {}))
        base = spec.get("params", {})
        share = p.budget_seconds / len(p.components)

        def run() -> Any:
            return select(model, base, grid, self.valid, k=K, budget_seconds=share,
                          refine_keys=keys).model  # fmt: skip

        return self.once(("select", name, _key(base), _key(grid), keys), run)

    def fitted(
        self,
        p: HybridParams,
        chosen: dict,
        name: str,
        part: str,
        warm: bool,
        keys: tuple[str, ...],
    ) -> tuple[Any, float]:
        """``fit_kept``'s fit of ``name`` on ``part``, warm-started as the pipeline does:
        ``all`` from ``train``, ``train`` from the selection's fit (``tuned_hybrid``; not when
        ``warm`` is False)."""
        spec = component_spec(p, chosen, name)

        def fit() -> Any:
            model = build(spec)
            data, frame = self.data[part], self.frames[part]
            if hasattr(model, "fit_from") and (warm or part == "all"):
                earlier = (self.fitted(p, chosen, name, "train", warm, keys) if part == "all"
                           else self.selected(p, name, keys))[0]  # fmt: skip
                return model.fit_from(data, frame, earlier)
            return model.fit_on(data, frame)

        return self.once(("fit", name, _key(spec), part, warm, keys), fit)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def night(fold: Fold, cand: Candidate, settings: Settings) -> tuple[dict, pl.DataFrame, float]:
    """The chosen setting, the published top-``K`` lists, and the candidate's own seconds."""
    spec = cand.spec(settings)
    p = HybridParams(**spec)
    own = 0.0
    components = {}
    for name in sorted(p.components):
        components[name], seconds = fold.selected(p, name, cand.refine_keys(name))
        own += seconds if name == "ials" else 0.0
    v = fold.valid
    fallback, _ = fold.once(("fallback",), lambda: build(p.fallback).fit_on(v.data, v.train))
    first = {"cold_user_ratings": p.cold_user_ratings, "cold_item_slots": p.cold_item_slots}
    more = []
    for seed in range(p.random_state + 1, p.random_state + p.validation_splits):
        key = ("more", seed, _key({n: as_dict(m.params) for n, m in components.items()}))
        made, seconds = fold.once(
            key, lambda s=seed: refit_on_split(p, components, fold.train, s, fold.threshold)
        )
        more.append(made)
        own += seconds
    t0 = time.perf_counter()
    best, _ = tune(components, fallback, fold.valid, first, k=K, more=more,
                   cold_item_ratings=p.cold_item_ratings, cold_first=cand.cold_first)  # fmt: skip
    own += time.perf_counter() - t0
    best["components"] = {name: as_dict(components[name].params) for name in kept(best)}
    chosen = {"components": best.pop("components"), **best}
    refit = copy.deepcopy(chosen)
    if "ease" in refit["components"]:
        refit["components"]["ease"]["reg"] *= cand.ease_final
    fitted = {}
    for name in kept(chosen):
        keys, warm = cand.refine_keys(name), cand.train_warm
        fitted[name], seconds = fold.fitted(p, refit, name, "all", warm, keys)
        if name == "ials":
            own += seconds + fold.fitted(p, refit, name, "train", warm, keys)[1]
    data, frame = fold.data["all"], fold.ratings
    pop, _ = fold.once(("popularity",), lambda: build(p.fallback).fit_on(data, frame))
    hybrid = Hybrid.assemble(fitted, pop, refit, **spec)
    return chosen, hybrid.recommend(K), own


def check(fold: Fold, cand: Candidate, settings: Settings, chosen: dict) -> None:
    """The steps here choose what :func:`choose_settings` chooses on the same training split."""
    want, _ = choose_settings(HybridParams(**cand.spec(settings)), fold.train, k=K,
                              threshold=fold.threshold)  # fmt: skip
    if _key(want) != _key(chosen):
        raise AssertionError(f"choose_settings chose {want}, the benchmark {chosen}")


def summary(chosen: dict) -> str:
    w = chosen["weights"]
    ials = chosen["components"].get("ials", {})
    text = " ".join(f"{n}={v:g}" for n, v in w.items())
    if ials:
        text += f" f{ials['n_factors']} reg{ials['reg']:g}"
    if ease := chosen["components"].get("ease", {}):
        text += f" ease-reg{ease['reg']:g}"
    return text + f" cu{chosen['cold_user_ratings']} cs{chosen['cold_item_slots']}"


def report(rows: list[dict]) -> Candidate:
    """Print the tables; the chosen candidate."""
    frame = pl.DataFrame(rows)
    per = frame.group_by("data", "candidate", maintain_order=True).agg(
        pl.col("ndcg").mean().alias("ndcg_mean"), pl.col("ndcg").min().alias("ndcg_min"),
        pl.col("p10").mean().alias("p10_mean"), pl.col("p10").min().alias("p10_min"),
        pl.col("s").mean().alias("s_mean"),
    )  # fmt: skip
    per = per.with_columns(
        (pl.col("ndcg_mean") / pl.col("ndcg_mean").max().over("data")).alias("rel")
    )
    with pl.Config(tbl_rows=-1, tbl_width_chars=200, float_precision=4, fmt_str_lengths=80):
        print(per)
        overall = per.group_by("candidate", maintain_order=True).agg(
            pl.col("rel").mean().alias("rel_mean"), pl.col("rel").min().alias("rel_min"),
            pl.col("s_mean").mean().alias("s_mean"),
        )  # fmt: skip
        print(overall.sort("rel_mean", descending=True, maintain_order=True))
    tied = set(overall.filter(pl.col("rel_mean") >= pl.col("rel_mean").max() - TIE)["candidate"])
    return next(c for c in CANDIDATES if c.name in tied)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, default=3, help=f"at most {len(FOLD_SEEDS)}")
    parser.add_argument("--datasets", default="ml-100k,synth-dense,synth-sparse")
    parser.add_argument("--out", type=Path, help="write every fold's row here (JSON lines)")
    parser.add_argument("--rows", type=Path, help="only print the tables of an --out file")
    parser.add_argument("--candidates", help="comma-separated names (default: the whole grid)")
    parser.add_argument("--implicit", action="store_true", help="as implicit feedback")
    args = parser.parse_args(argv)
    wanted = args.candidates.split(",") if args.candidates else None
    by_name = {c.name: c for c in CANDIDATES}
    candidates = CANDIDATES if wanted is None else [by_name[name] for name in wanted]
    settings = night_settings(args.implicit)
    threshold = settings.evaluation.threshold
    rows: list[dict] = []
    if args.rows:
        rows = [json.loads(line) for line in args.rows.read_text().splitlines()]
    for name in [] if args.rows else args.datasets.split(","):
        ratings = load(name, args.implicit)
        print(f"{name}: {ratings.height:,} training ratings", file=sys.stderr)
        for seed in FOLD_SEEDS[: args.folds]:
            t0 = time.perf_counter()
            fold = Fold(ratings, seed, settings, threshold)
            for cand in candidates:
                chosen, recs, own = night(fold, cand, settings)
                if cand.name == DEFAULTS and seed == FOLD_SEEDS[0] and name == "ml-100k":
                    check(fold, cand, settings, chosen)
                scores = ranking_metrics(recs, fold.held, K, threshold)
                row = {"data": name, "fold": seed, "candidate": cand.name,
                       "ndcg": scores["ndcg"], "p10": scores["precision"], "s": own,
                       "chosen": summary(chosen)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                if args.out:
                    with args.out.open("a") as out:
                        out.write(json.dumps(row) + "\n")
            shared = sum(s for key, (_, s) in fold.cache.items() if "ease" in key)
            print(f"{name} fold {seed}: {time.perf_counter() - t0:.0f} s "
                  f"(EASE selection + fit, shared: {shared:.1f} s)", file=sys.stderr)  # fmt: skip
    chosen = report(rows)
    print(f"chosen: {chosen.name}")
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
