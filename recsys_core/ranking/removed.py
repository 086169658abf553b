"""What business rules take away: per user and per rule kind, the candidates they remove.

A user's *candidates* are the training items they have not rated
(:mod:`recsys_core.ranking.candidates`). A rule removes candidate ``(u, i)`` when it forbids
``i`` to ``u`` and ``u`` has not rated ``i`` (a rated item was never a candidate, so a rule about
it removes nothing). Per user, ``removed(u) = |{i : excluded(u, i) and not rated(u, i)}|`` over
the union of all rules; the lists then hold ``min(n, n_items - rated(u) - removed(u))`` rows,
which the publish checks expect. Per rule kind the same count is taken with that kind alone, so
the kinds' counts may add up to more than the union (a pair both excluded for everyone and for
one user is counted in both).

Counted a block of users at a time with :meth:`Rules.exclusions` (one ``b x n_items`` bool block
in memory), so the cost follows users x items once per kind present. Also here: the rules
applied to a fitted hybrid (:func:`ruled`) and what the pipeline's checks and run record read
from a run's rules snapshot (:func:`rule_problems`, :func:`excluded_item_ids`,
:func:`rules_record`); each costs nothing when the snapshot is empty.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TypeVar

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_core.data.ids import IdIndex, RatingData
from recsys_core.models.base import Recommender
from recsys_core.ranking.candidates import seen_entries
from recsys_core.ranking.rules import Rules, excluded_problems, rules_from_frame
from recsys_core.ranking.topn import auto_block_size, user_blocks

__all__ = [
    "KINDS",
    "excluded_item_ids",
    "removed_frame",
    "removed_per_user",
    "rule_problems",
    "rule_summary",
    "ruled",
    "rules_for_ratings",
    "rules_record",
]

M = TypeVar("M", bound=Recommender)

KINDS = {
    "exclude_items": ("exclude_items.csv",),
    "exclude_pairs": ("exclude_pairs.csv",),
    "segments": ("allowed_items.csv", "user_segments.csv"),
}
"""Each rule kind and the files that make it."""


def removed_per_user(rules: Rules, user_items: sp.csr_matrix) -> np.ndarray:
    """Per user index, the candidates the rules remove (see the module docstring).

    ``user_items`` is the users x items CSR of the ratings the lists are built from, indexed
    like ``rules`` (same user and item indexes)."""
    n_users, n_items = user_items.shape
    out = np.zeros(n_users, dtype=np.int64)
    if rules.is_empty:
        return out
    for block in user_blocks(np.arange(n_users), auto_block_size(n_items)):
        mask = rules.exclusions(block)
        if mask is None:
            continue
        mask[seen_entries(user_items, block)] = False
        out[block] = mask.sum(axis=1)
    return out


def _only(rules: Rules, kind: str) -> Rules:
    """``rules`` restricted to one kind."""
    none = Rules.none(rules.users, rules.items)
    keep = {
        "exclude_items": {"excluded_items": rules.excluded_items},
        "exclude_pairs": {"excluded_pairs": rules.excluded_pairs},
        "segments": {
            "user_segment": rules.user_segment,
            "allowed": rules.allowed,
            "segments": rules.segments,
        },
    }[kind]
    return replace(none, report=rules.report, **keep)


def rule_summary(rules: Rules, user_items: sp.csr_matrix) -> dict:
    """:meth:`Rules.summary` plus what each kind present removed (``candidates`` and
    ``users`` with at least one removed) and the same for all rules together (``total``)."""
    summary = rules.summary()
    removed = {}
    for kind, files in KINDS.items():
        if any(f in rules.report for f in files):
            per_user = removed_per_user(_only(rules, kind), user_items)
            removed[kind] = {"candidates": int(per_user.sum()), "users": int((per_user > 0).sum())}
    total = removed_per_user(rules, user_items)
    summary["removed"] = removed
    summary["total"] = {"candidates": int(total.sum()), "users": int((total > 0).sum())}
    return summary


def rules_for_ratings(snapshot: pl.DataFrame, ratings: pl.DataFrame) -> tuple[Rules, RatingData]:
    """The rules of a snapshot indexed against ``ratings`` (``user_id, item_id, rating``), and
    the ratings in index space (the same indexes a model fitted on them has)."""
    data = RatingData.from_frame(ratings.select("user_id", "item_id", "rating"))
    return rules_from_frame(snapshot, data.users, data.items), data


def removed_frame(rules: Rules, data: RatingData) -> pl.DataFrame:
    """``user_id, removed``: per user of ``data``, the candidates the rules remove."""
    return pl.DataFrame(
        {
            "user_id": data.users.ids,
            "removed": pl.Series(removed_per_user(rules, data.user_items), dtype=pl.Int64),
        }
    )


def rules_record(snapshot: pl.DataFrame, ratings: pl.DataFrame) -> dict:
    """What a run's rules (a snapshot) removed from the candidates of ``ratings``' users, for
    the run record: :func:`rule_summary`, or ``{}`` when there are no rules."""
    if snapshot.height == 0:
        return {}
    rules, data = rules_for_ratings(snapshot, ratings)
    return rule_summary(rules, data.user_items)


def ruled(model: M, snapshot: pl.DataFrame) -> M:
    """A shallow copy of a fitted hybrid whose candidates exclude the snapshot's rules (its
    ``exclude`` hook, :data:`recsys_core.ranking.hybrid.Exclude`); the model given is unchanged
    and nothing is refitted."""
    rules = rules_from_frame(snapshot, model.data.users, model.data.items)
    out = copy.copy(model)
    out.exclude = None if rules.is_empty else rules.exclusions
    return out


def rule_problems(
    snapshot: pl.DataFrame, recs: pl.DataFrame, ratings: pl.DataFrame
) -> tuple[pl.DataFrame | None, dict[str, str]]:
    """For the checks of published lists ``recs`` built from ``ratings`` under a snapshot's
    rules: the candidates each user lost (:func:`removed_frame`) and the rows that break a rule
    (:func:`~recsys_core.ranking.rules.excluded_problems`); ``(None, {})`` without rules, at no
    cost."""
    if snapshot.height == 0:
        return None, {}
    rules, data = rules_for_ratings(snapshot, ratings)
    return removed_frame(rules, data), excluded_problems(recs, rules)


def excluded_item_ids(snapshot: pl.DataFrame, ratings: pl.DataFrame) -> pl.Series | None:
    """The known items a snapshot excludes for everyone (typed like ``ratings``' ids), or None
    without an ``exclude_items.csv``."""
    if not (snapshot.get_column("file") == "exclude_items.csv").any():
        return None
    users, items = (IdIndex.from_series(ratings.get_column(c)) for c in ("user_id", "item_id"))
    return rules_from_frame(snapshot, users, items).excluded_item_ids
