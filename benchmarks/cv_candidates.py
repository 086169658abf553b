"""The candidates :mod:`benchmarks.defaults_cv` cross-validates: one night's defaults each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recsys_core.evaluation.select import DEFAULT_GRIDS
from recsys_core.models.ials import IALSParams
from recsys_core.settings import Settings, hybrid_params

FACTORS = (32, 64, 128)


@dataclass(frozen=True)
class Candidate:
    """iALS's factors (``climb``: climbed nightly over :data:`FACTORS` from ``n_factors``),
    its sweeps, and whether the cold-start settings are tuned before the blend weights."""

    n_factors: int
    n_epochs: int
    climb: bool = False
    cold_first: bool = True
    train_warm: bool = True
    """The evaluated hybrid's iALS starts from the selection's fit (the pipeline's
    ``tuned_hybrid``); False: a full fit from random factors (the pipeline before it)."""
    refine: str = ""
    """The components whose ``reg`` the selection refines between rungs (``select``'s
    ``refine_keys``): "" none, "ease", "all"."""
    splits: int = 1
    """Validation splits the blend search judges each setting on (``validation_splits``)."""
    alpha: float = 10.0
    """iALS's confidence scale; its ``reg`` (start and grid) is scaled by ``alpha / 10`` from
    the defaults (they move together: ``IALS``'s docstring). Before ``alpha``'s default moved
    from 6 to 10, candidates without ``alphaN`` in their name ran at 6 with ``reg`` 15/30/60."""
    ease_low: float = 0.5
    """EASE's ``low_weight`` (the weight of a rating below the relevance threshold)."""
    only: str = ""
    """One component alone (``ease`` or ``ials``): what the night is measured against."""
    ease_final: float = 1.0
    """EASE's chosen ``reg`` times this for the refits on the training split and on all
    ratings, which hold more ratings than the validation split's training part it was chosen
    on (64% of all)."""

    def refine_keys(self, name: str) -> tuple[str, ...]:
        """``select``'s ``refine_keys`` for component ``name``."""
        return ("reg",) if self.refine in ("all", name) else ()

    @property
    def name(self) -> str:
        factors = f"f{self.n_factors}" + ("+climb" if self.climb else "")
        order = "cold-first" if self.cold_first else "weights-1st"
        refine = f" refine-{self.refine}" if self.refine else ""
        extra = ("" if self.train_warm else " train-full") + refine
        extra += f" splits{self.splits}" if self.splits > 1 else ""
        extra += f" alpha{self.alpha:g}" if self.alpha != 10.0 else ""
        extra += f" ease-low{self.ease_low:g}" if self.ease_low != 0.5 else ""
        extra += f" only-{self.only}" if self.only else ""
        extra += f" ease-final{self.ease_final:g}" if self.ease_final != 1.0 else ""
        return f"{factors} e{self.n_epochs} {order}{extra}"

    def spec(self, settings: Settings) -> dict[str, Any]:
        """The hybrid's keyword arguments (``hybrid_params``) with this candidate's iALS."""
        spec = hybrid_params(settings)
        ials = spec["components"]["ials"]["params"]
        ials.update(n_factors=self.n_factors, n_epochs=self.n_epochs)
        spec["validation_splits"] = self.splits
        grid = dict(DEFAULT_GRIDS["IALS"])
        if self.alpha != 10.0:
            scale = self.alpha / IALSParams().alpha
            ials.update(alpha=self.alpha, reg=IALSParams().reg * scale)
            grid["reg"] = [r * scale for r in grid["reg"]]
        if self.ease_low != 0.5:
            spec["components"]["ease"]["params"]["low_weight"] = self.ease_low
        if self.climb:
            grid["n_factors"] = list(FACTORS)
        if grid != DEFAULT_GRIDS["IALS"]:
            spec["grids"] = {"ials": grid}
        if self.only:
            spec["components"] = {self.only: spec["components"][self.only]}
            spec["grids"] = {k: v for k, v in spec.get("grids", {}).items() if k == self.only}
        return spec


CANDIDATES = [
    Candidate(f, e, climb, cold_first)
    for cold_first in (True, False)
    for e in (10, 15)
    for f, climb in ((32, False), (64, False), (128, False), (32, True))
] + [Candidate(32, 15, train_warm=False)]
CANDIDATES += [Candidate(32, 15, refine="ease"), Candidate(32, 15, refine="all")]
CANDIDATES += [Candidate(32, 15, refine=r, alpha=6.0) for r in ("ease", "all")]
CANDIDATES += [Candidate(32, 15, alpha=a) for a in (3.0, 6.0, 16.0, 25.0)]
CANDIDATES += [Candidate(32, 15, ease_low=w) for w in (0.25, 0.75)]
CANDIDATES += [Candidate(32, 15, only=name) for name in ("ease", "ials")]
CANDIDATES += [Candidate(32, 15, ease_final=x) for x in (0.8, 0.64)]
CANDIDATES += [Candidate(32, 15, only="ease", ease_final=x) for x in (0.8, 0.64)]
CANDIDATES += [Candidate(32, 15, refine="ease", splits=n) for n in (2, 3)]
DEFAULTS = "f32 e15 cold-first"
"""The candidate the code's defaults run (``defaults_cv.check`` compares it with
``choose_settings``)."""
