"""The blend and cold-start hyperparameters of the hybrid (the ``hybrid`` settings section).

Kept apart from :mod:`recsys_core.ranking.hybrid` so that the settings can compose them without
importing the hybrid (which imports the per-night selection, which imports the settings).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from recsys_core.params import WHOLE, Params

__all__ = ["BlendParams"]


class BlendParams(Params):
    """The blend and cold-start part of :class:`recsys_core.ranking.hybrid.HybridParams` (the
    ``hybrid`` settings section: the components come from the ``models`` section)."""

    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    """Component name -> blend weight ``w_c`` of its z-scored score (finite, >= 0);
    components missing here weigh 1, an equal blend, until tuning says otherwise. Weight 0
    leaves a component out."""
    cold_user_ratings: int = Field(5, ge=0)
    """Users with fewer training ratings get the fallback list: their few ratings make poor
    neighbourhoods and factors (5, and tuned when ``tune``)."""
    cold_item_ratings: int = Field(5, ge=0)
    """Items with fewer training ratings are cold: blended scores rarely rank them, so
    ``cold_item_slots`` reserves room for them."""
    cold_item_slots: int = Field(1, ge=0)
    """Slots at the end of each list reserved for the best cold items (1: new items get seen
    at little cost; tuned when ``tune``)."""
    tune: bool = True
    """Choose each component's key hyperparameters, the weights (which components to keep),
    ``cold_user_ratings`` and ``cold_item_slots`` on a validation split of the training data by
    NDCG@k (:func:`recsys_core.ranking.hybrid.choose_settings`)."""
    grids: Annotated[dict[str, dict[str, Any]], WHOLE] = Field(default_factory=dict)
    """Component name -> the grid :func:`~recsys_core.evaluation.select.select` searches each
    night (``{}``: fit as configured; a layer replaces it whole); a component not named here
    uses its class's :data:`~recsys_core.evaluation.select.DEFAULT_GRIDS` entry, or none. A
    narrower grid is a shorter night."""
    budget_seconds: float = Field(600.0, gt=0)
    """Time for the hyperparameter selection of all components together (split evenly over
    the components still to select; each always runs at least its warm start). The blend
    search after it is not budgeted (a few dozen rankings of ``tune_users`` users). Measured
    for EASE + iALS with the default grids, on 2 busy cores (load 4-7): ML-100k 11 s,
    synthetic 1M ratings (6,040 x 3,706) 122 s; 600 s leaves about 5x room at 1M ratings
    (raise it for 10M+ ratings, where each EASE fit alone takes minutes)."""
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    """Share of the training ratings held out to tune on (the usual 80/20)."""
    random_state: int = Field(0, ge=0)
    """Seed of that validation split."""
    tune_users: int = Field(1000, ge=1)
    """At most this many validation users are scored while tuning the blend (bounds memory and
    time)."""
