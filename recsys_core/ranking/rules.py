"""Business rules: items a user must never be shown, as a mask the ranker treats like seen items.

Rule files live in the data root's ``rules/`` folder; each is optional (CSV with a header):

- ``exclude_items.csv``: ``item_id`` -- never recommended to anyone;
- ``exclude_pairs.csv``: ``user_id,item_id`` -- never recommended to that user;
- ``allowed_items.csv``: ``segment,item_id`` with ``user_segments.csv``: ``user_id,segment`` --
  a user in a segment is only shown that segment's allowed items. A segment that has users but
  no row in ``allowed_items.csv`` restricts nothing (reported); a segment whose allowed ids are
  all unknown allows nothing (fail closed: its users get no list rather than a forbidden one).

Ids are typed like the ratings' ids (an :class:`~recsys_core.data.ids.IdIndex`): with integer
ids, ``007`` is not item 7 but an unknown id. Unknown ids are *reported* (count and examples per
file in :meth:`Rules.summary`), never fatal: a rule about an item that left the catalogue is not
an error. A file that cannot be read, lacks a column or has an empty id is a :class:`DataError`
naming the file.

Use: :meth:`Rules.exclusions` gives a ``b x n_items`` bool mask for a block of user indices
(None when no rule applies to the block); the ranker sets those scores to -inf, exactly as it
does for seen items, so the top-N takes the next best item and lists keep ``n`` rows while
enough allowed candidates exist. :func:`excluded_problems` proves a published table broke none.

Reading and indexing are two steps, so that a run reads the folder once and every step uses the
same rules: :func:`read_rule_files` gives a *snapshot* (one long String frame, ``file, user_id,
item_id, segment``, checked), :func:`rules_from_frame` indexes it against a run's ids;
:func:`load_rules` does both.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_core.data.ids import IdIndex
from recsys_core.errors import DataError

__all__ = [
    "RULE_FILES",
    "SNAPSHOT_SCHEMA",
    "Rules",
    "excluded_problems",
    "load_rules",
    "read_rule_files",
    "rules_from_frame",
]

RULE_FILES = {
    "exclude_items.csv": ("item_id",),
    "exclude_pairs.csv": ("user_id", "item_id"),
    "allowed_items.csv": ("segment", "item_id"),
    "user_segments.csv": ("user_id", "segment"),
}
"""Each rule file and its required columns."""

SNAPSHOT_SCHEMA = {"file": pl.String, "user_id": pl.String, "item_id": pl.String,
                   "segment": pl.String}  # fmt: skip
"""The snapshot of a rules folder: one row per rule row, null where its file has no such
column."""

INT_ID = r"^(0|[1-9][0-9]{0,17})$"
"""A plain integer id, as :mod:`recsys_core.data.validate` types ratings' ids."""

N_EXAMPLES = 5


@dataclass(frozen=True)
class Rules:
    """Loaded rules in index space (see the module docstring); build with :func:`load_rules`."""

    users: IdIndex
    """The user ids the indices refer to."""
    items: IdIndex
    """The item ids the indices refer to."""
    excluded_items: np.ndarray
    """Bool, per item: excluded for everyone."""
    excluded_pairs: sp.csr_matrix
    """Users x items, bool: per-user exclusions."""
    user_segment: np.ndarray
    """Per user, the row of ``allowed`` restricting them, or -1 (unrestricted)."""
    allowed: np.ndarray
    """Segments x items, bool: the items each restricting segment allows."""
    segments: tuple[str, ...] = ()
    """Names of the rows of ``allowed``."""
    report: dict[str, dict] = field(default_factory=dict)
    """Per file read: rows, rows with unknown ids and examples."""

    @classmethod
    def none(cls, users: IdIndex, items: IdIndex) -> Rules:
        """No rule at all (no rule files)."""
        n_users, n_items = len(users), len(items)
        return cls(
            users,
            items,
            np.zeros(n_items, dtype=bool),
            sp.csr_matrix((n_users, n_items), dtype=bool),
            np.full(n_users, -1, dtype=np.int64),
            np.zeros((0, n_items), dtype=bool),
        )

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def is_empty(self) -> bool:
        return (
            not self.excluded_items.any()
            and self.excluded_pairs.nnz == 0
            and not (self.user_segment >= 0).any()
        )

    @property
    def excluded_item_ids(self) -> pl.Series:
        """The raw ids of the items excluded for everyone (``exclude_items.csv``, known ids)."""
        return self.items.raw(np.flatnonzero(self.excluded_items))

    def exclusions(self, users: np.ndarray) -> np.ndarray | None:
        """``b x n_items`` bool mask of the items the users (indices) must not be shown, or None
        when no rule applies to any of them."""
        users = np.asarray(users, dtype=np.int64)
        pairs = self.excluded_pairs[users]
        seg = self.user_segment[users]
        restricted = seg >= 0
        if not self.excluded_items.any() and pairs.nnz == 0 and not restricted.any():
            return None
        mask = np.broadcast_to(self.excluded_items, (len(users), self.n_items)).copy()
        mask[np.repeat(np.arange(len(users)), np.diff(pairs.indptr)), pairs.indices] = True
        mask[restricted] |= ~self.allowed[seg[restricted]]
        return mask

    def summary(self) -> dict:
        """What the rules remove, and what in the files was not understood."""
        per_seg = self.allowed.sum(axis=1)
        assigned = self.user_segment[self.user_segment >= 0]
        users_per_seg = np.bincount(assigned, minlength=len(per_seg))
        return {
            "excluded_items": int(self.excluded_items.sum()),
            "excluded_pairs": int(self.excluded_pairs.nnz),
            "restricted_users": int((self.user_segment >= 0).sum()),
            "segments": {
                s: {"allowed_items": int(a), "users": int(u)}
                for s, a, u in zip(self.segments, per_seg, users_per_seg, strict=True)
            },
            "files": self.report,
        }


def load_rules(folder: str | os.PathLike, users: IdIndex, items: IdIndex) -> Rules:
    """Read the rule files present in ``folder`` (a missing folder: no rules).

    ``users`` and ``items`` are the id indexes the mask is built against (the training data's,
    ``model.data.users`` / ``.items``). ``folder`` may be a local path or a ``UPath``.
    """
    return rules_from_frame(read_rule_files(folder), users, items)


def read_rule_files(folder: str | os.PathLike) -> pl.DataFrame:
    """The rule files present in ``folder`` as one snapshot frame (:data:`SNAPSHOT_SCHEMA`);
    empty when there are none. A file that cannot be read, lacks a column or has an empty id is
    a :class:`DataError` naming it."""
    path = _as_path(folder)
    parts = []
    for name, columns in RULE_FILES.items():
        frame = _read(path / name, columns)
        if frame is not None:
            parts.append(frame.with_columns(pl.lit(name).alias("file")))
    empty = pl.DataFrame(schema=SNAPSHOT_SCHEMA)
    return pl.concat([empty, *parts], how="diagonal").select(list(SNAPSHOT_SCHEMA))


def rules_from_frame(snapshot: pl.DataFrame, users: IdIndex, items: IdIndex) -> Rules:
    """:class:`Rules` of a snapshot (:func:`read_rule_files`) against these id indexes."""
    frames: dict[str, pl.DataFrame | None] = {
        name: (
            snapshot.filter(pl.col("file") == name).select(columns)
            if (snapshot.get_column("file") == name).any()
            else None
        )
        for name, columns in RULE_FILES.items()
    }
    report: dict[str, dict] = {}
    rules = Rules.none(users, items)
    excluded = rules.excluded_items.copy()
    if frames["exclude_items.csv"] is not None:
        i = _indices(frames["exclude_items.csv"], {"item_id": items}, report, "exclude_items.csv")
        excluded[i["item_id"]] = True
    pairs = rules.excluded_pairs
    if frames["exclude_pairs.csv"] is not None:
        ix = _indices(
            frames["exclude_pairs.csv"],
            {"user_id": users, "item_id": items},
            report,
            "exclude_pairs.csv",
        )
        ones = np.ones(len(ix["user_id"]), dtype=bool)
        pairs = sp.csr_matrix((ones, (ix["user_id"], ix["item_id"])), shape=pairs.shape)
        pairs.sum_duplicates()
    user_segment, allowed, segments = _segments(frames, users, items, report)
    return Rules(users, items, excluded, pairs, user_segment, allowed, segments, report)


def _segments(frames, users, items, report):
    n_users, n_items = len(users), len(items)
    user_segment = np.full(n_users, -1, dtype=np.int64)
    allowed_f, seg_f = frames["allowed_items.csv"], frames["user_segments.csv"]
    if allowed_f is None or seg_f is None:
        if (allowed_f is None) != (seg_f is None):
            present = "allowed_items.csv" if seg_f is None else "user_segments.csv"
            report[present] = {"ignored": "needs both allowed_items.csv and user_segments.csv"}
        return user_segment, np.zeros((0, n_items), dtype=bool), ()
    segments = tuple(sorted(allowed_f.get_column("segment").unique().to_list()))
    seg_index = IdIndex(pl.Series("id", segments, dtype=pl.String))
    a = _indices(allowed_f, {"item_id": items}, report, "allowed_items.csv")
    rows = seg_index.index_of(a["frame"].get_column("segment"))
    allowed = np.zeros((len(segments), n_items), dtype=bool)
    allowed[rows, a["item_id"]] = True
    s = _indices(seg_f, {"user_id": users}, report, "user_segments.csv")
    seg_of = seg_index.index_of(s["frame"].get_column("segment"))
    if len(np.unique(s["user_id"])) != len(s["user_id"]):
        raise DataError("user_segments.csv: a user is in more than one segment")
    without = s["frame"].filter(pl.Series(seg_of < 0)).get_column("segment").unique().to_list()
    if without:
        report["user_segments.csv"]["segments_without_allowed_items"] = sorted(without)[:5]
    known = seg_of >= 0
    user_segment[s["user_id"][known]] = seg_of[known]
    return user_segment, allowed, segments


def _as_path(folder):
    """A ``UPath`` (anything with ``read_bytes``) as given, else a local ``Path``."""
    return folder if hasattr(folder, "read_bytes") else Path(folder)


def _read(path, columns: tuple[str, ...]) -> pl.DataFrame | None:
    """The file's required columns as strings, or None when it does not exist."""
    if not path.exists():
        return None
    try:
        frame = pl.read_csv(io.BytesIO(path.read_bytes()), infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the rule file ({exc})") from None
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: lacks column(s) {missing}; has {frame.columns}")
    frame = frame.select(pl.col(c).str.strip_chars() for c in columns)
    empty = frame.filter(pl.any_horizontal(pl.all().is_null() | (pl.all() == "")))
    if empty.height:
        raise DataError(f"{path}: {empty.height} row(s) with an empty value, e.g. {empty.row(0)}")
    return frame


def _indices(frame: pl.DataFrame, index: dict[str, IdIndex], report: dict, name: str) -> dict:
    """Indices of the frame's id columns, rows with any unknown id dropped and reported."""
    idx = {col: _index_of(frame.get_column(col), ix) for col, ix in index.items()}
    ok = np.logical_and.reduce([i >= 0 for i in idx.values()])
    bad = frame.filter(pl.Series(~ok))
    report[name] = {
        "rows": frame.height,
        "unknown_id_rows": bad.height,
        "examples": [dict(zip(bad.columns, r, strict=True)) for r in bad.head(N_EXAMPLES).rows()],
    }
    return {col: i[ok] for col, i in idx.items()} | {"frame": frame.filter(pl.Series(ok))}


def _index_of(raw: pl.Series, index: IdIndex) -> np.ndarray:
    """Indices of string ids ``raw`` in ``index``; with integer ids only plain integers match."""
    if index.dtype == pl.String:
        return index.index_of(raw)
    plain = raw.str.contains(INT_ID)
    out = index.index_of(raw.cast(pl.Int64, strict=False))
    return np.where(plain.to_numpy(), out, -1)


def excluded_problems(recs: pl.DataFrame, rules: Rules) -> dict[str, str]:
    """Rows of ``recs`` (``user_id, item_id``) that the rules exclude (empty dict: none).

    Checked a block of users at a time against :meth:`Rules.exclusions`; a recommended id
    unknown to the rules' id indexes cannot be matched by a rule and is not flagged here.
    """
    u = rules.users.index_of(recs.get_column("user_id"))
    i = rules.items.index_of(recs.get_column("item_id"))
    known = (u >= 0) & (i >= 0)
    u, i, rows = u[known], i[known], np.flatnonzero(known)
    uniq, pos = np.unique(u, return_inverse=True)
    hit = np.zeros(len(u), dtype=bool)
    block = 1024
    for lo in range(0, len(uniq), block):
        mask = rules.exclusions(uniq[lo : lo + block])
        if mask is None:
            continue
        sel = (pos >= lo) & (pos < lo + block)
        hit[sel] = mask[pos[sel] - lo, i[sel]]
    if not hit.any():
        return {}
    ex = recs[rows[hit][:N_EXAMPLES]].select("user_id", "item_id").rows()
    return {"excluded": f"{int(hit.sum())} published row(s) break a business rule, e.g. {ex}"}
