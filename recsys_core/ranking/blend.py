"""The blend scorer: normalise each component's scores per user and blend them.

For user u, component c gives scores ``s_c(u, i)`` (NaN = cannot score). Over u's unseen items
that c scores, they are standardised, ``z_c(u, i) = (s_c(u, i) - mean_u) / std_u`` (0 when the
std is 0), then blended as a weighted mean over the components that score the item:

    blend(u, i) = sum_c w_c z_c(u, i) / sum_c w_c [z_c(u, i) is not NaN]

so an item only one component can score keeps that component's score (the next source fills
it), and an item no component scores stays NaN for the fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np


def zscore_rows(scores: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Per-row standardisation over finite, unseen entries; seen or unscorable -> NaN.

    The same arithmetic as ``(z - nanmean(z)) / nanstd(z)`` (so the same bits), with one new
    array of the block's size and in-place steps instead of NumPy's nan-function copies.
    """
    z, scored = zscore_scored(scores, seen)
    np.copyto(z, np.nan, where=~scored)
    return z


def zscore_scored(scores: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`zscore_rows` as (z-scores with 0 where not scored, mask of the scored entries):
    what :func:`blend_into` takes without another pass to find the NaN."""
    scores = np.asarray(scores)
    bad = np.isfinite(scores)
    np.logical_not(bad, out=bad)
    bad |= seen
    z = np.where(bad, 0.0, scores)
    if z.size:
        count = (bad.shape[1] - bad.view(np.uint8).sum(axis=1, dtype=np.intp))[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):  # rows with nothing scored
            z -= np.sum(z, axis=1, keepdims=True) / count
            np.copyto(z, 0.0, where=bad)
            std = np.sqrt(_row_sum_of_squares(z) / count)
            z /= np.where(std > 0, std, 1.0)
    return z, np.logical_not(bad, out=bad)


def _row_sum_of_squares(z: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """``np.sum(z * z, axis=1, keepdims=True)`` through a small reused buffer (row sums do not
    depend on which rows are summed together)."""
    rows = max(1, chunk // max(z.shape[1], 1))
    out = np.empty((z.shape[0], 1), dtype=z.dtype)
    buf = np.empty((min(rows, z.shape[0]), z.shape[1]), dtype=z.dtype)
    for start in range(0, z.shape[0], rows):
        part = z[start : start + rows]
        sq = np.multiply(part, part, out=buf[: len(part)])
        np.sum(sq, axis=1, keepdims=True, out=out[start : start + rows])
    return out


def blend(z: list[np.ndarray], weights: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean over available components: (blended scores, components that scored)."""
    count = np.zeros(z[0].shape, dtype=np.int8)
    blended = blend_into(z, weights, z[0].shape, lambda _, ok, __: np.add(count, ok, out=count))
    return blended, count


def blend_into(
    z: Iterable[np.ndarray | tuple[np.ndarray, np.ndarray] | None],
    weights: Sequence[float],
    shape: tuple[int, ...],
    on_scored: Callable[[int, np.ndarray, np.ndarray], object] | None = None,
) -> np.ndarray:
    """The blended scores of :func:`blend`, accumulated in place one component at a time.

    Each component is its z-scores (NaN = not scored) or the pair :func:`zscore_scored`
    returns; ``z`` may be a generator (so only one component's z-scores exist at a time);
    components of weight 0 are skipped and may be None. ``on_scored(c, ok, wz)`` gets each
    weighted component's mask of scored entries and its weighted z-scores ``w_c z_c`` (read
    only where ``ok``; both may be reused buffers: copy what must be kept).
    """
    num = den = term = None
    for c, (zc, w) in enumerate(zip(z, weights, strict=True)):
        if not w > 0 or zc is None:
            continue
        zeroed = isinstance(zc, tuple)  # 0 where not scored: add without a mask
        zc, ok = zc if zeroed else (zc, np.isfinite(zc))
        if num is None:
            num = np.zeros(shape, dtype=np.result_type(zc, np.float32))
            den, term = np.zeros_like(num), np.empty_like(num)
        part = zc if w == 1 else np.multiply(zc, w, out=term)  # w * z is z when w is 1
        np.add(num, part, out=num, where=True if zeroed else ok)
        if on_scored is not None:
            on_scored(c, ok, part)
        # den + (w if ok else 0), without a masked loop (twice as slow)
        np.add(den, ok if w == 1 else np.multiply(ok, w, out=term), out=den)
    if num is None:  # no weighted component
        return np.full(shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.divide(num, den, out=num)  # 0 / 0: NaN where no component scored
