"""Model archives (the NLPL repository's zip files): fetched like every download, unpacked
safely into the cache, and the model inside found.

Unpacking refuses, before writing anything: absolute paths, ``..`` components, drive letters
and backslashes (E430); symbolic links and anything but plain files and folders (E430); more
than :data:`MAX_UNPACKED_BYTES` in all or :data:`MAX_FILES` members (E431). The sizes in the
zip's directory are not trusted: every member is copied through a counter that stops at its
declared size. The archive unpacks into a temporary folder next to its final place, which is
renamed into place only when complete (under the download's lock), so a reader sees the
whole model or nothing.
"""

import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import List, NamedTuple, Optional

from ..errors import ElmoDownloadError, Errors
from .cache import url_cache_path
from .fetch import FetchPolicy, fetch_url

#: The most an archive may unpack to: the largest published ELMo archives are ~1 GB.
MAX_UNPACKED_BYTES = 16 * 2**30
MAX_FILES = 1_000
UNPACKED = "unpacked"
_CHUNK = 2**20


class ArchiveModel(NamedTuple):
    """The model found in an unpacked archive: the two paths the loaders take (for an
    ELMoForManyLangs model, its config.json and its folder) and its layout."""

    options: Path
    weights: Path
    layout: str  # "bilm-tf" or "manylangs"


def fetch_archive(url: str, *, policy: Optional[FetchPolicy] = None) -> ArchiveModel:
    """The model of the archive at ``url``: fetched (resumable, locked, size-bounded) and
    unpacked once into the cache, then found (E433 if the archive holds none)."""
    folder = unpacked_folder(url)
    if folder.is_dir():
        return find_model(folder, archive=url_cache_path(url))
    path = fetch_url(url, kind="archive", policy=policy)
    from filelock import FileLock

    with FileLock(str(folder) + ".lock"):
        if not folder.is_dir():  # another process may have unpacked it meanwhile
            try:
                unpack(path, folder)
            except ElmoDownloadError as e:
                if str(e).startswith("[E432]"):
                    path.unlink(missing_ok=True)  # a damaged download: fetch it again next time
                raise
    return find_model(folder, archive=path)


def unpacked_folder(url: str) -> Path:
    """Where the archive of ``url`` is unpacked (next to the downloaded file)."""
    return url_cache_path(url).parent / UNPACKED


def cached_archive(url: str) -> Optional[ArchiveModel]:
    """The unpacked model of ``url`` if it is in the cache, else None (no network)."""
    folder = unpacked_folder(url)
    if not folder.is_dir():
        return None
    try:
        return find_model(folder, archive=url_cache_path(url))
    except ElmoDownloadError:
        return None


def unpack(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` into the new folder ``dest`` safely (see the module docstring)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = _checked_members(zf, archive)
            tmp = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=dest.parent))
            try:
                for info in members:
                    _extract(zf, info, tmp)
                os.replace(tmp, dest)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as e:
        raise ElmoDownloadError(Errors.E432.format(path=archive, error=e)) from None


def _checked_members(zf: zipfile.ZipFile, archive: Path) -> List[zipfile.ZipInfo]:
    infos = zf.infolist()
    total = sum(max(info.file_size, 0) for info in infos)
    if len(infos) > MAX_FILES or total > MAX_UNPACKED_BYTES:
        raise ElmoDownloadError(
            Errors.E431.format(
                path=archive,
                size=total,
                count=len(infos),
                limit=MAX_UNPACKED_BYTES,
                max_files=MAX_FILES,
            )
        )
    for info in infos:
        reason = _unsafe(info)
        if reason:
            raise ElmoDownloadError(
                Errors.E430.format(path=archive, member=info.filename, reason=reason)
            )
    return infos


def _unsafe(info: zipfile.ZipInfo) -> str:
    """Why a member cannot be unpacked safely ("" when it can)."""
    name = info.filename
    mode = info.external_attr >> 16
    if "\\" in name or ":" in name or "\x00" in name:
        return "a backslash, colon or NUL in its name"
    path = PurePosixPath(name)
    if path.is_absolute():
        return "an absolute path"
    if any(part == ".." for part in path.parts):
        return "a '..' component"
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "a link or special file"
    return ""


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path) -> None:
    target = root.joinpath(*PurePosixPath(info.filename).parts)
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    left = info.file_size
    with zf.open(info) as src, open(target, "xb") as out:
        while True:
            chunk = src.read(min(_CHUNK, left + 1))
            if not chunk:
                break
            left -= len(chunk)
            if left < 0:  # more data than the directory declares: refuse, do not trust it
                raise ElmoDownloadError(
                    Errors.E431.format(
                        path=zf.filename,
                        size=info.file_size - left,
                        count=len(zf.infolist()),
                        limit=MAX_UNPACKED_BYTES,
                        max_files=MAX_FILES,
                    )
                )
            out.write(chunk)


def find_model(folder: Path, *, archive: Path) -> ArchiveModel:
    """The model in an unpacked archive: at its top or one folder down (archives often wrap
    their files in one folder). bilm-tf / simple_elmo: ``options.json`` with ``model.hdf5``
    (else the only ``.hdf5``); ELMoForManyLangs: ``config.json`` with ``encoder.pkl``."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        found = _model_in(candidate)
        if found is not None:
            return found
    listing = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))[:20]
    raise ElmoDownloadError(Errors.E433.format(path=archive, found=", ".join(listing) or "nothing"))


def _model_in(folder: Path) -> Optional[ArchiveModel]:
    if (folder / "config.json").is_file() and (folder / "encoder.pkl").is_file():
        return ArchiveModel(folder / "config.json", folder, "manylangs")
    options = folder / "options.json"
    if not options.is_file():
        return None
    weights = folder / "model.hdf5"
    if not weights.is_file():
        found = sorted(folder.glob("*.hdf5"))
        if len(found) != 1:
            return None
        weights = found[0]
    return ArchiveModel(options, weights, "bilm-tf")


__all__ = [
    "ArchiveModel",
    "MAX_FILES",
    "MAX_UNPACKED_BYTES",
    "cached_archive",
    "fetch_archive",
    "find_model",
    "unpack",
    "unpacked_folder",
]
