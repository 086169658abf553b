"""One sentence per metric, for readers who do not know them (formulas live in
:mod:`recsys_core.evaluation.metrics` and :mod:`recsys_core.evaluation.beyond`)."""

from __future__ import annotations

GLOSSARY = {
    "precision": "Share of the k recommended items that the user rated highly in the test "
    "split (liked = test rating at or above the threshold).",
    "recall": "Share of the user's liked test items that appear among the k recommendations.",
    "ndcg": "Like recall, but a liked item counts more the nearer it is to the top of the list "
    "(1 = every liked item ranked first, 0 = none found).",
    "map": "Mean average precision: the precision at each rank where a liked item appears, "
    "averaged, so early hits count more.",
    "hit": "Share of users with at least one liked test item among their k recommendations.",
    "coverage": "Share of the catalogue that appears in at least one user's list.",
    "novelty": "How unknown the recommended items are, in bits: -log2 of the share of users who "
    "rated the item (higher = less mainstream).",
    "popularity_bias": "Share of recommended rows taken by the 10% most rated items.",
    "exposure_gini": "How unevenly recommendations spread over the catalogue: 0 = every item "
    "equally often, 1 = one item gets every slot.",
    "cold_item_recall": "Recall counted only on liked test items with few training ratings: "
    "does the model ever surface the long tail?",
    "rmse": "Root mean squared error of predicted against actual test ratings, in stars "
    "(lower is better; models that only rank have none).",
    "mae": "Mean absolute error of predicted against actual test ratings, in stars "
    "(lower is better; models that only rank have none).",
    "users": "Users whose lists were judged (those with a liked test item); the rating models "
    "are judged on a user sample (evaluation.rating_sample).",
    "train_ratings": "Training ratings the model was fitted on: all of the training split, or "
    "for the rating models the ratings of their user sample.",
}
"""Metric name (as in the metrics table) -> one sentence."""
