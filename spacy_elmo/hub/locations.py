"""Where a biLM file lives: a local path, an ``http(s)://`` URL or ``hf://OWNER/REPO[@REV]/PATH``.

Strings are parsed before anything turns them into a ``Path``: ``Path("https://x/y")`` would
silently collapse the ``//`` and report a missing local file.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union
from urllib.parse import urlsplit

from ..errors import ElmoDownloadError, Errors

PathLike = Union[str, Path]
_HF_REPO = re.compile(r"^[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*$")


@dataclass(frozen=True)
class Location:
    """A parsed location. ``kind``: ``"path"``, ``"url"`` or ``"hf"``.

    For ``hf``: ``repo_id`` (``OWNER/REPO``), ``revision`` (None: the default branch) and
    ``path`` inside the repository ("" for the repository root).
    """

    kind: str
    raw: str
    repo_id: str = ""
    revision: Optional[str] = None
    path: str = ""

    @property
    def is_remote(self) -> bool:
        return self.kind != "path"


def parse_location(value: PathLike) -> Location:
    """Parse a path, URL or ``hf://`` location; E403 for other schemes and malformed ones."""
    if isinstance(value, Path):
        return Location(kind="path", raw=str(value))
    if not isinstance(value, str) or not value.strip():
        raise ElmoDownloadError(
            Errors.E403.format(value=value, why="expected a non-empty string or path")
        )
    text = value.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("http", "https"):
        if not urlsplit(text).netloc:
            raise ElmoDownloadError(Errors.E403.format(value=value, why="the URL has no host"))
        return Location(kind="url", raw=text)
    if scheme == "hf":
        return _parse_hf(text)
    if scheme:
        raise ElmoDownloadError(
            Errors.E403.format(value=value, why=f"the scheme '{scheme}://' is not supported")
        )
    return Location(kind="path", raw=text)


def _parse_hf(text: str) -> Location:
    rest = text[len("hf://") :].strip("/")
    parts = rest.split("/", 2)
    if len(parts) < 2:
        raise ElmoDownloadError(
            Errors.E403.format(value=text, why="expected hf://OWNER/REPO[@REVISION]/PATH")
        )
    owner, repo = parts[0], parts[1]
    revision: Optional[str] = None
    if "@" in repo:
        repo, revision = repo.split("@", 1)
        if not revision:
            raise ElmoDownloadError(Errors.E403.format(value=text, why="empty @REVISION"))
    repo_id = f"{owner}/{repo}"
    if not _HF_REPO.match(repo_id):
        raise ElmoDownloadError(
            Errors.E403.format(value=text, why=f"{repo_id!r} is not a Hub repository id")
        )
    path = parts[2] if len(parts) == 3 else ""
    _no_climbing(text, "revision", revision or "")
    _no_climbing(text, "path", path)
    return Location(kind="hf", raw=text, repo_id=repo_id, revision=revision, path=path)


def _no_climbing(text: str, what: str, value: str) -> None:
    """E403 for a ``..`` or ``.`` component or a backslash: a Hub path or revision names
    something inside the repository, and huggingface_hub builds cache paths from them."""
    parts = value.replace("\\", "/").split("/")
    if "\\" in value or any(p in ("..", ".") for p in parts):
        raise ElmoDownloadError(
            Errors.E403.format(
                value=text, why=f"the {what} {value!r} steps outside the repository ('..')"
            )
        )


def is_remote(value: Optional[PathLike]) -> bool:
    """Whether ``value`` is an http(s) or hf:// location (never raises)."""
    if not isinstance(value, str):
        return False
    return value.strip().lower().startswith(("http://", "https://", "hf://"))


__all__ = ["Location", "PathLike", "is_remote", "parse_location"]
