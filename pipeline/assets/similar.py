"""Similar items: per item, the N most similar other items, published beside the lists.

The scores come from the strongest item-item model the night has: EASE's learned item-item
weights when the hybrid kept EASE, item-KNN's similarities when that is kept, iALS's item-factor
dot products when iALS is, else an EASE fitted for the table; items with too few ratings get the
popularity-within-co-raters fallback (:mod:`recsys_core.ranking.similar`). Items the business
rules exclude for everyone (``rules/exclude_items.csv``) are never listed as a similar item.
"""

import dagster as dg
import polars as pl

from pipeline.assets.ingest import OWNERS
from pipeline.metadata import output
from pipeline.settings import RecsysSettings
from recsys_core import EASE, Hybrid, Recommender
from recsys_core.evaluation.similar import evaluate_similar_items
from recsys_core.params import as_dict
from recsys_core.ranking.removed import excluded_item_ids
from recsys_core.ranking.rules import rules_from_frame
from recsys_core.ranking.similar import SOURCES, item_model_source, similar_items_problems
from recsys_core.ranking.similar import similar_items as similar_table
from recsys_core.report.sections import LAST_ITEM
from recsys_core.settings import Settings

GROUP = "publish"
COLUMNS = {
    "item_id": "The item the row is about.",
    "rank": "1..N, most similar first.",
    "similar_item_id": "A similar item (never the item itself).",
    "score": "EASE's item-item weight (item-KNN's similarity, iALS's item-factor dot product); "
    "co-rater counts for the fallback.",
    "source": "ease, item_knn, ials, or co_raters (fallback for items with few ratings).",
}


def item_model(hybrid: Hybrid, ratings: pl.DataFrame, settings: Settings) -> Recommender:
    """The hybrid's kept EASE, item-KNN or iALS (in that order, :data:`SOURCES`), else an EASE
    fitted on ``ratings`` for the table."""
    kept = {item_model_source(m): m for m in reversed(hybrid.components_.values())}
    for source in SOURCES:
        if source in kept:
            return kept[source]
    return EASE(**as_dict(settings.models.ease)).fit(ratings)


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"polars", "parquet"},
    code_version="2",
    metadata={"columns": COLUMNS},
    description="Per item, similar.n similar items (item_id, rank, similar_item_id, score, "
    "source), from the night's strongest item-item model, never an item rules/exclude_items.csv "
    "excludes; published as published/similar_items.parquet with the lists, after its blocking "
    "checks.",
)
def similar_items(
    settings: RecsysSettings,
    hybrid_model: Hybrid,
    ratings: pl.DataFrame,
    business_rules: pl.DataFrame,
) -> dg.Output:
    s = settings.effective
    model = item_model(hybrid_model, ratings, s)
    rules = rules_from_frame(business_rules, model.data.users, model.data.items)
    exclude = rules.excluded_items if rules.excluded_items.any() else None
    table = similar_table(model, s.similar.n, s.similar.min_ratings, exclude=exclude)
    return output(table, source=item_model_source(model), items=table["item_id"].n_unique())


@dg.asset_check(
    asset=similar_items,
    blocking=True,
    additional_ins={
        "ratings": dg.AssetIn("ratings"),
        "business_rules": dg.AssetIn("business_rules"),
    },
    description="similar.n rows per item (fewer only in a tiny catalogue), never the item "
    "itself, never an excluded item (rules/exclude_items.csv), only known items, ranks 1..k, "
    "finite scores.",
)
def similar_items_contract(
    settings: RecsysSettings,
    similar_items: pl.DataFrame,
    ratings: pl.DataFrame,
    business_rules: pl.DataFrame,
) -> dg.AssetCheckResult:
    excluded = excluded_item_ids(business_rules, ratings)
    catalogue, n = ratings["item_id"].unique(), settings.effective.similar.n
    problems = similar_items_problems(similar_items, catalogue, n, excluded)
    return dg.AssetCheckResult(
        passed=not problems, metadata={"problems": "; ".join(problems.values()) or "none"}
    )


@dg.asset(
    group_name="evaluation",
    owners=OWNERS,
    kinds={"polars"},
    code_version="1",
    description="The similar items of each test user's last rated training item, as a top-k "
    "list scored on the test split (NDCG@k), beside popularity's list for the same users "
    "(a seeded sample of at most evaluation.max_users test users).",
)
def similar_items_metrics(
    settings: RecsysSettings,
    hybrid_train_model: Hybrid,
    popularity_train_model: Recommender,
    train_ratings: pl.DataFrame,
    test_ratings: pl.DataFrame,
) -> dg.Output:
    s = settings.effective
    model = item_model(hybrid_train_model, train_ratings, s)
    table = similar_table(model, s.similar.n, s.similar.min_ratings)
    ev = s.evaluation
    found = evaluate_similar_items(table, train_ratings, test_ratings, ev.k, ev.threshold,
                                   exclude_seen=True, max_users=ev.max_users,
                                   random_state=s.split.random_state,
                                   popularity=popularity_train_model)  # fmt: skip
    rows = [(name, metric, ev.k, LAST_ITEM, float(value))
            for name, key in (("similar_items", "similar"), ("popularity", "popularity"))
            for metric, value in found[key].items()]  # fmt: skip
    frame = pl.DataFrame(rows, schema=["model", "metric", "k", "segment", "value"], orient="row")
    return output(frame.cast({"k": pl.Int32}), users=found["n_users"])
