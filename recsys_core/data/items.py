"""Item metadata (optional): titles and genres, for reports, explanations and similar-items pages.

Formats, detected per file:

- GroupLens ``u.item``: ``id|title|release date|video release date|IMDb URL|f_1|...|f_19``,
  latin-1, no header; genre ``g`` is listed when its flag is ``1``. Genre names come from a
  ``u.genre`` file next to it (``name|index`` lines) when present, else ML-100k's 19 names.
- Delimited text with a header: an id column (``movieId``, ``item_id``, ``itemId``, ``id``...),
  ``title`` and optionally ``genres`` (``|``-separated; ``(no genres listed)`` means none), e.g.
  MovieLens' ``movies.csv`` (``movieId,title,genres``) or ``id,title,release_year,genres``.
  UTF-8, else read as latin-1.

Output: ``item_id, title, genres`` (``list[str]``), one row per id (the first wins). Ids are typed
like ratings' ids (Int64 when every id is a plain integer, else String). Metadata is never
required: :func:`find_items_file` returns None when a folder has none, and nothing in training
reads it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import polars as pl

from recsys_core.errors import DataError

__all__ = ["ITEM_FILES", "ML100K_GENRES", "find_items_file", "read_items"]

ITEM_FILES = ("u.item", "movies.csv", "items.csv")
"""File names :func:`find_items_file` looks for, in this order."""

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
"""The genre flags of ML-100k's ``u.item``, in column order (its ``u.genre``)."""

ID_NAMES = ("itemid", "movieid", "id", "item", "movie", "productid")
NO_GENRES = "(no genres listed)"
INT_ID = r"^(0|[1-9][0-9]{0,17})$"


def find_items_file(folder: str | os.PathLike) -> Path | None:
    """The first of :data:`ITEM_FILES` in ``folder`` (a local path or a ``UPath``), or None."""
    for name in ITEM_FILES:
        path = _as_path(folder) / name
        if path.is_file():
            return path
    return None


def read_items(path: str | os.PathLike) -> pl.DataFrame:
    """``item_id, title, genres`` from a ``u.item`` or a header CSV (see the module docstring);
    ``path`` may be a ``UPath`` (an object-store data root)."""
    path = _as_path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the items file ({exc})") from None
    frame = _read_u_item(path, raw) if path.name.endswith(".item") else _read_csv(path, raw)
    return _typed(frame.unique("item_id", keep="first", maintain_order=True))


def _as_path(path):
    """A ``UPath`` (anything with ``read_bytes``) as given, else a local ``Path``."""
    return path if hasattr(path, "read_bytes") else Path(path)


def _read_u_item(path: Path, raw: bytes) -> pl.DataFrame:
    genres = _genre_names(path.with_name("u.genre"))
    rows = []
    for n, line in enumerate(raw.decode("latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 5 + len(genres):
            raise DataError(
                f"{path}:{n}: {len(fields)} fields, expected id|title|dates|url + "
                f"{len(genres)} genre flags"
            )
        flags = fields[5 : 5 + len(genres)]
        listed = [g for g, f in zip(genres, flags, strict=True) if f.strip() == "1"]
        rows.append((fields[0].strip(), fields[1], listed))
    return pl.DataFrame(
        rows,
        schema={"item_id": pl.String, "title": pl.String, "genres": pl.List(pl.String)},
        orient="row",
    )


def _genre_names(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return ML100K_GENRES
    pairs = [ln.rsplit("|", 1) for ln in path.read_text("latin-1").splitlines() if "|" in ln]
    return tuple(name for name, _ in sorted(pairs, key=lambda p: int(p[1])))


def _read_csv(path: Path, raw: bytes) -> pl.DataFrame:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{path}: cannot read the items file ({exc})") from None
    names = {c.strip().lower().replace("_", ""): c for c in frame.columns}
    id_col = next((names[n] for n in ID_NAMES if n in names), None)
    if id_col is None or "title" not in names:
        raise DataError(f"{path}: needs an item id column and a title column; has {frame.columns}")
    genres = pl.col(names["genres"]) if "genres" in names else pl.lit(None, pl.String)
    return frame.select(
        pl.col(id_col).str.strip_chars().alias("item_id"),
        pl.col(names["title"]).alias("title"),
        genres.fill_null("")
        .str.split("|")
        .list.eval(pl.element().filter((pl.element() != "") & (pl.element() != NO_GENRES)))
        .alias("genres"),
    )


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    ids = frame.get_column("item_id")
    if ids.null_count() or (ids == "").any():
        raise DataError("items file: an item id is empty")
    if ids.len() and ids.str.contains(INT_ID).all():
        return frame.with_columns(pl.col("item_id").cast(pl.Int64))
    return frame
