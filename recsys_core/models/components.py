"""Saving and restoring the fitted components of a composite model (hybrid, rating blend).

The components' learned arrays go into the composite's ``.npz`` under ``<name>__<key>``; on load
each component is rebuilt from its spec and shares the composite's training data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recsys_core.data.ids import RatingData
from recsys_core.models.base import Recommender
from recsys_core.models.registry import build


def components_state(models: Mapping[str, Recommender]) -> dict[str, np.ndarray]:
    """The learned arrays of several models in one mapping, keys prefixed ``<name>__``."""
    return {f"{name}__{k}": v for name, m in models.items() for k, v in m._state().items()}


def restore_components(
    specs: Mapping[str, Mapping[str, Any]], arrays: Mapping[str, np.ndarray], data: RatingData
) -> dict[str, Recommender]:
    """Models rebuilt from their specs and the arrays :func:`components_state` wrote, all
    sharing the training ``data``."""
    models = {}
    for name, spec in specs.items():
        model = build(spec)
        model._data = data
        prefix = f"{name}__"
        model._set_state({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
        models[name] = model
    return models
