"""The candidate selector: a user's candidates are the training items they have not rated.

This is the one place that reads "what has a user seen" (the rows of the users x items CSR of
training ratings, ``user_items``); top-N, the blend, the hybrid's ranker, tuning and the rating
blend all take their mask from here.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def seen_entries(user_items: sp.csr_matrix, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, items)`` of the items each user of the block ``users`` rated (row = position
    in ``users``)."""
    block = user_items[users]
    rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
    return rows, block.indices


def seen_mask(user_items: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
    """Dense (b x n_items) mask of the items each user in ``users`` has rated; ``~mask`` is the
    block's candidates."""
    mask = np.zeros((len(users), user_items.shape[1]), dtype=bool)
    mask[seen_entries(user_items, users)] = True
    return mask


def mask_seen(scores: np.ndarray, user_items: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
    """Set the scores (b x n_items) of the items each user in ``users`` rated to -inf, in place
    (no dense mask: only the rated entries are written)."""
    scores[seen_entries(user_items, users)] = -np.inf
    return scores
