"""Scorer: normalise each component's scores per user and blend them.

For user u, component c gives scores ``s_c(u, i)`` (NaN = cannot score). Over u's unseen items
that c scores, they are standardised, ``z_c(u, i) = (s_c(u, i) - mean_u) / std_u`` (0 when the
std is 0), then blended as a weighted mean over the components that score the item:

    blend(u, i) = sum_c w_c z_c(u, i) / sum_c w_c [z_c(u, i) is not NaN]

so an item only one component can score keeps that component's score (the next source fills
it), and an item no component scores stays NaN for the fallback.
"""

from __future__ import annotations

import warnings

import numpy as np


def zscore_rows(scores: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Per-row standardisation over finite, unseen entries; seen or unscorable -> NaN."""
    z = np.where(seen | ~np.isfinite(scores), np.nan, scores)
    if z.size == 0:
        return z
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with nothing scored stay NaN
        mean = np.nanmean(z, axis=1, keepdims=True)
        std = np.nanstd(z, axis=1, keepdims=True)
        return (z - mean) / np.where(std > 0, std, 1.0)


def blend(z: list[np.ndarray], weights: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean over available components: (blended scores, components that scored)."""
    num = np.zeros_like(z[0])
    den = np.zeros_like(z[0])
    count = np.zeros(z[0].shape, dtype=np.int8)
    for zc, w in zip(z, weights, strict=True):
        ok = np.isfinite(zc)
        if w > 0:
            num += np.where(ok, w * zc, 0.0)
            den += np.where(ok, w, 0.0)
            count += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan), count
