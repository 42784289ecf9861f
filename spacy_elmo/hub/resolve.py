"""``resolve_bilm``: a model name, paths, URLs or ``hf://`` locations -> two local files.

This is the one entry point every loader calls (``ElmoEmbedder``, ``spacy-elmo.BiLMFiles.v1``,
the CLI), so names, URLs, the cache and offline mode behave the same everywhere.
"""

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional

from ..errors import ElmoDownloadError, ElmoFormatError, Errors, Warnings
from ..runtime_settings import check_model_source
from ..util import default_model_paths
from .archive import cached_archive, fetch_archive
from .cache import cache_dir, hf_cache_dir, offline_flag, url_cache_path
from .catalogue import DEFAULT_NAME, ModelEntry, Source, get_entry
from .fetch import FetchPolicy, fetch_url
from .hf import fetch_hf
from .locations import PathLike, is_remote, parse_location

if TYPE_CHECKING:
    from ..pytorch.config import ELMoConfig

#: Failures after which the next source (a mirror) is worth a try.
_MIRROR_WORTHY = tuple(
    f"[E{n}]" for n in (404, 405, 406, 407, 408, 409, 413, 416, 418, 419, 420, 421, 422, 423, 424)
)


class BiLMFiles(NamedTuple):
    """The two files of a biLM, both local."""

    options: Path
    weights: Path


def resolve_bilm(
    *,
    name: Optional[str] = None,
    options_file: Optional[PathLike] = None,
    weight_file: Optional[PathLike] = None,
    policy: Optional[FetchPolicy] = None,
) -> BiLMFiles:
    """Local files of a biLM.

    * nothing, or ``name="default"``: the embedded default model;
    * ``name``: a catalogue model (``python -m spacy_elmo models``), fetched once into the
      cache, mirrors tried in order;
    * ``options_file`` and ``weight_file``: each a local path, an ``http(s)://`` URL or
      ``hf://OWNER/REPO[@REVISION]/PATH``; remote files are fetched into the cache.

    A name together with files, or only one of the two files, raises E402; an unknown name
    E401. Local paths are returned as given (the loader reports a missing file).
    """
    check_model_source(name=name, options_file=options_file, weight_file=weight_file)
    given = options_file or weight_file
    if name is None and not given or name is not None and name.strip() == DEFAULT_NAME:
        return BiLMFiles(*default_model_paths())
    if name is not None:
        return fetch_model(get_entry(name), policy=policy)
    assert options_file is not None and weight_file is not None
    return _resolve_pair(options_file, weight_file, policy=policy)


def _resolve_pair(
    options_file: PathLike,
    weight_file: PathLike,
    *,
    policy: Optional[FetchPolicy],
    options_sha256: Optional[str] = None,
    weights_sha256: Optional[str] = None,
) -> BiLMFiles:
    """Options first: remote weights are then checked against them (shapes) and bounded by
    the size they imply."""
    options = resolve_file(options_file, kind="options", sha256=options_sha256, policy=policy)
    config = _config_of(options) if is_remote(weight_file) else None
    weights = resolve_file(
        weight_file, kind="weights", sha256=weights_sha256, policy=policy, config=config
    )
    return BiLMFiles(options, weights)


def _config_of(options: Path) -> "ELMoConfig":
    """The architecture of an options file (a coded ElmoFormatError when it is unusable)."""
    from ..weights.options import load_options

    return load_options(options)


def resolve_file(
    value: PathLike,
    *,
    kind: str = "any",
    sha256: Optional[str] = None,
    policy: Optional[FetchPolicy] = None,
    config: Optional["ELMoConfig"] = None,
) -> Path:
    """One file: a path as given, a URL or ``hf://`` location fetched into the cache.
    ``config``: the options that remote weights must match."""
    loc = parse_location(value)
    if loc.kind == "path":
        return Path(loc.raw).expanduser()
    if loc.kind == "url":
        return fetch_url(loc.raw, kind=kind, sha256=sha256, policy=policy, config=config)
    return fetch_hf(loc, kind=kind, sha256=sha256, config=config, policy=policy)


def fetch_model(entry: ModelEntry, *, policy: Optional[FetchPolicy] = None) -> BiLMFiles:
    """The files of a catalogue model: the first source that works (offline: that is cached)."""
    flag = offline_flag()
    if flag:
        for source in entry.sources:
            if cached_source(source) is None:
                continue
            try:  # checks the cached files (a bad one is removed with W012)
                return _fetch_source(entry, source, policy)
            except ElmoDownloadError:
                continue
        raise ElmoDownloadError(
            Errors.E412.format(
                flag=flag,
                what=f"the model '{entry.name}'",
                cache=cache_dir(),
                command=f"python -m spacy_elmo download {entry.name}",
            )
        )
    failures: List[ElmoDownloadError] = []
    for i, source in enumerate(entry.sources):
        try:
            files = _fetch_source(entry, source, policy)
        except ElmoDownloadError as e:
            if not str(e).startswith(_MIRROR_WORTHY):
                raise  # e.g. an unwritable cache: no mirror can help
            failures.append(e)
            if i + 1 < len(entry.sources):
                mirror = entry.sources[i + 1].where
                warnings.warn(
                    Warnings.W011.format(
                        name=entry.name, source=source.where, error=_code(e), mirror=mirror
                    )
                )
            continue
        if entry.options is not None and not source.archive:
            _compare_options(entry, files.options, source.options)
        return files
    raise _all_failed(entry, failures)


def _code(e: ElmoDownloadError) -> str:
    """``[E406]`` of a coded message: enough for the warning, the final error has the rest."""
    return str(e).split(" ", 1)[0]


def _all_failed(entry: ModelEntry, failures: List[ElmoDownloadError]) -> ElmoDownloadError:
    """One error naming every place tried and what each answered."""
    if len(failures) == 1:
        return failures[0]
    listed = "; ".join(f"({i}) {e}" for i, e in enumerate(failures, 1))
    return ElmoDownloadError(Errors.E425.format(name=entry.name, n=len(failures), failures=listed))


def _fetch_source(entry: ModelEntry, source: Source, policy: Optional[FetchPolicy]) -> BiLMFiles:
    if source.archive:  # a zip holding the model (NLPL repository): unpacked in the cache
        found = fetch_archive(source.archive, policy=policy)
        return BiLMFiles(found.options, found.weights)
    return _resolve_pair(
        source.options,
        source.weights,
        policy=policy,
        options_sha256=entry.options_sha256,
        weights_sha256=entry.weights_sha256,
    )


def _compare_options(entry: ModelEntry, path: Path, where: str) -> None:
    """W010 when the fetched options.json describes another architecture than recorded."""
    from ..weights.options import config_from_dict

    if entry.options is None:  # the public listing states no architecture to compare with
        return
    fetched: Dict[str, Any]
    try:
        fetched = json.loads(path.read_text(encoding="utf8"))
        same = config_from_dict(fetched) == config_from_dict(entry.options)
    except (ValueError, ElmoFormatError) as e:
        fetched, same = {"error": str(e)}, False
    if not same:
        diff = f"fetched lstm={fetched.get('lstm')}, recorded lstm={entry.options['lstm']}"
        warnings.warn(Warnings.W010.format(name=entry.name, where=where, diff=diff))


def cached_file(value: str) -> Optional[Path]:
    """The cached copy of a URL or ``hf://`` file, or None; never touches the network."""
    loc = parse_location(value)
    if loc.kind == "path":
        path = Path(loc.raw).expanduser()
        return path if path.is_file() else None
    if loc.kind == "url":
        path = url_cache_path(loc.raw)
        return path if path.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(
        loc.repo_id, loc.path, cache_dir=str(hf_cache_dir()), revision=loc.revision
    )
    return Path(found) if isinstance(found, str) else None


def cached_source(source: Source) -> Optional[BiLMFiles]:
    """Both files of a source when both are cached, else None."""
    if source.archive:
        found = cached_archive(source.archive)
        return None if found is None else BiLMFiles(found.options, found.weights)
    options, weights = cached_file(source.options), cached_file(source.weights)
    if options is None or weights is None:
        return None
    return BiLMFiles(options, weights)


def looks_like_name(value: object) -> bool:
    """Whether a single string argument is meant as a model name rather than a file:
    no URL, no folder separator, no options/weights suffix, and no such file here."""
    if not isinstance(value, str) or is_remote(value) or not value.strip():
        return False
    if "/" in value or "\\" in value or value.lower().endswith((".json", ".hdf5", ".h5")):
        return False
    return not Path(value).exists()


__all__ = [
    "BiLMFiles",
    "cached_file",
    "cached_source",
    "fetch_model",
    "looks_like_name",
    "resolve_bilm",
    "resolve_file",
]
