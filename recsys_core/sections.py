"""The run's settings sections that are not a model's hyperparameters: reading the raw files,
the evaluation split and metrics, the published lists, the publish gate, the schedule and the
executor. :mod:`recsys_core.settings` composes them with the model sections into ``Settings``.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from recsys_core.data.readers import parse_line_format
from recsys_core.params import BadKey, ListAsTuple, Params

__all__ = [
    "AutomationSettings",
    "DaskSettings",
    "EvaluationSettings",
    "ExecutionSettings",
    "IngestSettings",
    "PublishSettings",
    "SimilarSettings",
    "SplitSettings",
    "TopNSettings",
    "check_cron",
]


class IngestSettings(Params):
    """Reading raw files (Surprise's reader vocabulary), the kind of feedback they hold and the
    bad-row tolerance."""

    feedback: Literal["explicit", "implicit"] = "explicit"
    """``explicit``: ratings (a rating column, within ``rating_scale``). ``implicit``:
    interactions such as clicks, plays or purchases (``user, item[, timestamp][, count]``, no
    rating column); each (user, item) pair's interactions become one training signal
    (``signal``), every held-out interaction is relevant in evaluation, and the rating
    predictors are skipped. A property of the data root, never guessed per night: a rating file
    that lost its rating column fails naming the file instead of turning the night implicit."""
    signal: Literal["binary", "log_count"] = "binary"
    """``implicit``: how a pair's interactions become its signal: ``binary`` 1 per pair;
    ``log_count`` ``1 + confidence_alpha * log(1 + count / confidence_eps)`` (Hu, Koren &
    Volinsky 2008's confidence; counts of a pair are summed), which EASE and iALS then weigh."""
    confidence_alpha: float = Field(1.0, gt=0)
    """``log_count``: how much repeated interactions count."""
    confidence_eps: float = Field(1.0, gt=0)
    """``log_count``: the count at which the logarithm starts to bend."""
    line_format: str | None = None
    """Field names in file order, space-separated, from ``user item rating timestamp`` (other
    names are ignored columns; ``implicit``: ``user item timestamp count``, no rating); None:
    from the header, else by the number of columns."""
    sep: str | None = Field(None, min_length=1)
    """Field separator (any non-empty string, e.g. ``::``); None sniffs the first data line."""
    rating_scale: Annotated[tuple[float, float], ListAsTuple] = (1.0, 5.0)
    """``[lowest, highest]`` valid rating, both inclusive (MovieLens' 1-5 stars)."""
    skip_lines: int = Field(0, ge=0)
    """Lines to skip at the top of each text file (before any header)."""
    max_bad_fraction: float = Field(0.05, ge=0, le=1)
    """Fail the run when more than this share of rows is bad (quarantined rows above 5% point
    at a wrong format rather than at a few broken lines)."""

    @model_validator(mode="after")
    def _parses(self) -> IngestSettings:
        if self.line_format is not None:
            try:
                parse_line_format(self.line_format, self.feedback)
            except ValueError as exc:  # a ConfigError naming what is missing
                raise BadKey("line_format", self.line_format, str(exc)) from None
        return self

    @field_validator("rating_scale")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            raise ValueError("expected [lowest, highest] with lowest < highest")
        return value


class SimilarSettings(Params):
    """The similar-items table published beside the lists."""

    n: int = Field(10, ge=1)
    """Similar items per item."""
    min_ratings: int = Field(5, ge=0)
    """Items with fewer training ratings get the popularity-within-co-raters fallback (a learned
    neighbourhood of a barely rated item is noise)."""


class SplitSettings(Params):
    """The evaluation hold-out: seeded random split of the ratings."""

    test_fraction: float = Field(0.2, gt=0, lt=1)
    """Share of the ratings held out for evaluation (the usual 80/20)."""
    random_state: int = Field(42, ge=0)
    """Seed of the split (fixed: runs compare on the same hold-out)."""


class EvaluationSettings(Params):
    """Ranking metrics at ``k``; relevant = test rating >= ``threshold``."""

    k: int = Field(10, ge=1)
    """Length of the lists the metrics judge (NDCG@k, precision@k...), as many as published."""
    threshold: float = 4.0
    """A test rating at or above this is relevant (4 of 5 stars: liked)."""
    max_users: int | None = Field(20_000, ge=1)
    """The ranking metrics judge a seeded sample of at most this many users with a relevant test
    item (None: all of them), the same users for every model (the gate compares like with like);
    RMSE/MAE use every test pair. Ranking every unseen item for every test user is the work that
    grows fastest (users x items: 430 times more at 25M ratings than at 1M); 20,000 users give
    NDCG@k to about +-0.002. The metrics table's ``users`` says how many were judged."""
    rating_sample: int | None = Field(100_000, ge=1)
    """The rating models (``biased_mf``, ``rating_blend``: RMSE/MAE beside the lists) are fitted
    and scored on a seeded sample of users holding at most this many training ratings (None:
    every user), so their evaluation stays bounded at any data size
    (:mod:`recsys_core.evaluation.sample`; the metrics table's ``train_ratings`` and ``users``
    say how many). 100,000: ML-100k whole; on a 1M-rating set the blend's fit falls from ~25 s
    to ~5 s under load (``docs/benchmarks.md``, "The night against implicit")."""


class TopNSettings(Params):
    """The published lists."""

    n: int = Field(10, ge=1)
    """Items per user."""
    block_size: int | None = Field(None, ge=1)
    """Users ranked at once (None: sized to hold about 4M scores); only speed and memory
    change."""
    threads: int | None = Field(None, ge=1)
    """Threads ranking blocks of users at once (None: one per CPU); only speed changes (each
    block's lists depend on its users alone). Two threads ranked the 25M night's users in
    ~0.6x the time of one (``docs/benchmarks.md``, "The night against implicit")."""


MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
CRON_FIELDS = (
    ("minute", 0, 59, []),
    ("hour", 0, 23, []),
    ("day of month", 1, 31, []),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, WEEKDAYS),
)
CRON_ITEM = re.compile(r"^(?:(\*)|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/(\d+))?$")


def check_cron(expression: str) -> None:
    """Raise ``ValueError`` unless ``expression`` is a valid 5-field cron expression: minute
    0-59, hour 0-23, day 1-31, month 1-12 or jan-dec, weekday 0-7 or sun-sat; each field a
    comma list of ``*``, ``a``, ``a-b``, ``*/n`` or ``a-b/n``."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    for text, (name, lo, hi, names) in zip(fields, CRON_FIELDS, strict=True):
        for item in text.lower().split(","):
            match = CRON_ITEM.match(item)
            if not match:
                raise ValueError(f"{name} {item!r} is not *, a, a-b, */n or a-b/n")
            star, first, last, step = match.groups()
            if step is not None and (int(step) < 1 or (not star and last is None)):
                raise ValueError(f"{name} {item!r}: a step needs * or a range, and n >= 1")
            if star:
                continue
            values = [_cron_value(v, name, lo, hi, names) for v in (first, last) if v]
            if len(values) == 2 and values[0] > values[1]:
                raise ValueError(f"{name} range {item!r} runs backwards")


def _cron_value(text: str, name: str, lo: int, hi: int, names: list[str]) -> int:
    value = names.index(text) + (1 if name == "month" else 0) if text in names else None
    if value is None and text.isdigit():
        value = int(text)
    if value is None or not lo <= value <= hi:
        allowed = f"{lo}-{hi}" + (f" or {names[0]}-{names[-1]}" if names else "")
        raise ValueError(f"{name} {text!r} is outside {allowed}")
    return value


class AutomationSettings(Params):
    """When runs start: the nightly schedule and the new-raw-file sensor (read at load time)."""

    cron: str = "0 2 * * *"
    """The nightly schedule (5-field cron); 02:00, when nobody is using the lists."""
    timezone: str = "UTC"
    """IANA time zone the schedule runs in (e.g. ``Europe/Paris``)."""
    sensor_interval_seconds: int = Field(60, ge=1)
    """How often the sensor looks for new raw files."""
    settle_seconds: float = Field(30.0, ge=0)
    """A new file must be unchanged this long before a run starts (so half-copied files are
    not read)."""

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        check_cron(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone such as 'UTC' or 'Europe/Paris'") from None
        return value


SCHEDULER_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|ws|wss)://)?[\w.\-\[\]:]+:\d{1,5}$")
"""A Dask scheduler address: ``[protocol://]host:port`` (``tcp://10.0.0.5:8786``)."""


class DaskSettings(Params):
    """``execution.executor: dask``: the Dask cluster the steps run on (dagster-dask)."""

    scheduler: str | None = None
    """Address of a running Dask scheduler (``tcp://host:8786``): every step runs on one of its
    workers, on as many machines as the cluster has. The workers need this code and the same
    settings file and ``RECSYS_DATA_DIR``, an object-store URI (``s3://...``): they share no
    disk. None: a local cluster of worker processes on this machine, started for the run."""
    n_workers: int = Field(0, ge=0)
    """Local cluster: worker processes (0: one per CPU). Each worker runs one step at a time
    (dagster-dask gives local workers one thread each: Dagster steps are not thread-safe)."""
    memory_limit_gib: float | None = Field(None, gt=0)
    """Local cluster: memory per worker, in GiB, beyond which Dask restarts the worker (and the
    step fails). None: Dask's default, the machine's memory divided among the workers."""

    @field_validator("scheduler")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is not None and not SCHEDULER_ADDRESS.match(value):
            raise ValueError("expected a scheduler address such as 'tcp://10.0.0.5:8786'")
        return value


class ExecutionSettings(Params):
    """How a run's steps execute (read when the code location loads, like ``automation``)."""

    executor: Literal["in_process", "multiprocess", "dask", "k8s"] = "in_process"
    """``in_process`` runs every step in the run's process (least overhead: the right choice on
    one small machine); ``multiprocess`` runs independent steps (the models, the per-model
    evaluations, the top-N buckets) in parallel child processes; ``dask`` runs each step on a
    Dask worker, of a local cluster or of a running scheduler (``dask``; needs the dagster-dask
    package); ``k8s`` runs each step as a Kubernetes job (needs the dagster-k8s package, a
    cluster and an object-store data root)."""
    max_concurrent: int = Field(0, ge=0)
    """``multiprocess``: at most this many steps at once (0: one per CPU)."""
    dask: DaskSettings = Field(default_factory=DaskSettings)
    """``dask``: the cluster (a scheduler's address, or a local cluster's size)."""
    buckets: int = Field(1, ge=1, le=256)
    """The users are split by a stable hash of their id into this many buckets, each ranked in
    its own step; the combined table is the same for any number of buckets."""


class PublishSettings(Params):
    """The quality gate before the live table changes, and how much history is kept."""

    keep_runs: int = Field(30, ge=1)
    """Published runs kept under ``published/history/`` (the oldest beyond it are pruned;
    never the live run): what a rollback can go back to."""
    max_drop: float = Field(0.2, ge=0, lt=1)
    """Blocking drift checks against the live run: users, published rows and input ratings may
    fall at most this share below the live run's (an emptied or truncated input stops here)."""
    allow_changes: list[Literal["id_types", "users_drop", "rows_drop", "ratings_drop"]] = Field(
        default_factory=list
    )
    """Drift checks this run may break on purpose (an intended change, recorded in the run's
    settings), e.g. ``[id_types]`` the night ids become strings."""

    min_ndcg: float = Field(0.05, ge=0, le=1)
    """The hybrid's NDCG@k on the test split must be at least this (far below any working
    model, far above a broken one)."""
    max_ndcg_drop: float = Field(0.05, ge=0, le=1)
    """... and at most this much below the live run's (a regression guard)."""
    min_lift: float = Field(1.5, ge=0)
    """... and at least this many times popularity's NDCG@k on the same test split: an
    absolute floor means little on a dataset never seen, beating the baseline does (ML-100k:
    the hybrid 0.386 is 2.1x popularity's 0.181). 0 switches this check off (smoke runs on
    random data); otherwise at least 1."""

    @field_validator("min_lift")
    @classmethod
    def _off_or_a_lift(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError("0 (off) or at least 1: a lift below 1 lets popularity win")
        return value
