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
    """Time for the hyperparameter selection of all components together (an even share each,
    the components selected at the same time; each always runs at least its warm start). The
    blend search after it is not budgeted (a few dozen rankings of ``tune_users`` users). A
    safety net rather than the usual limit: the climb stops by itself when a neighbour is
    worse. Measured for EASE + iALS with the default grids (first night, no warm start),
    2 cores: ML-100k ~2 s, synthetic 1M ratings (6,040 x 3,706) 10-13 s at load 2-3
    (``docs/benchmarks.md``); at 25M ratings iALS's first candidate alone takes ~45 s, so
    ``benchmarks/25m.yaml`` sets 90."""
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    """Share of the training ratings held out to tune on (the usual 80/20)."""
    random_state: int = Field(0, ge=0)
    """Seed of that validation split (further splits: ``random_state + 1``, ...)."""
    validation_splits: int = Field(1, ge=1)
    """Validation splits the blend search judges each setting on (the selection uses the
    first): each further one fits every component again, at its selected parameters, on its
    own training part (:func:`recsys_core.ranking.tuning.tune`'s ``more``)."""
    tune_users: int = Field(1000, ge=1)
    """At most this many validation users (a seeded sample) score every candidate of the
    selection and every setting of the blend search (bounds memory and time: one block product
    per candidate whatever the data's size)."""
