#!/usr/bin/env python
"""Turn the downloaded pretraining corpora (project.yml ``assets``) into the text files that
``configs/pretrain_default.json`` names, one paragraph or sentence per line.

    python tools/prepare_lm_corpus.py ASSET_DIR CORPUS_DIR

What it makes from what (each only when its source is in ASSET_DIR; the rest are listed):

- ``news1b.heldout-10-11.tok.txt`` / ``news1b.heldout-12-13.tok.txt``: held-out shards 10+11 and
  12+13 of the One Billion Word Benchmark (tokenized), copied line for line from
  ``1-billion-word-language-modeling-benchmark-r13output.tar.gz``.
- ``wikitext2.valid.tok.txt`` / ``wikitext2.test.tok.txt``: WikiText-2's ``wiki.valid.tokens`` and
  ``wiki.test.tokens`` from ``wikitext-2-v1.zip``, unchanged.
- ``reuters21578.txt``: every article of Reuters-21578 (``reuters21578.tar.gz``): its title,
  then one line per paragraph of its body.
- ``bbc-news.txt``: every article of the BBC News data set (``bbc-fulltext.zip``): title, then
  one line per paragraph.
- ``gutenberg.train.00.txt``, ``gutenberg.valid.txt``, ``wmt-newstest-en.txt``,
  ``abc-news.txt``: plain text placed in ASSET_DIR by hand (project.yml says where from) is
  copied as it is.

Only the standard library is used. Each output is written to a temporary file and renamed, so
an interrupted run leaves no half-written file, and a re-run redoes only what is missing.
"""

import re
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List

NEWS1B_ARCHIVE = "1-billion-word-language-modeling-benchmark-r13output.tar.gz"
NEWS1B_SHARD = "heldout-monolingual.tokenized.shuffled/news.en.heldout-{:05d}-of-00050"
WIKITEXT2_ARCHIVE = "wikitext-2-v1.zip"
REUTERS_ARCHIVE = "reuters21578.tar.gz"
BBC_ARCHIVE = "bbc-fulltext.zip"
# Corpora without a stable public archive: copied from ASSET_DIR when placed there.
COPIED = ("gutenberg.train.00.txt", "gutenberg.valid.txt", "wmt-newstest-en.txt", "abc-news.txt")


def news1b_lines(asset_dir: Path, shards: Iterable[int]) -> Iterator[str]:
    with tarfile.open(asset_dir / NEWS1B_ARCHIVE) as tar:
        names = {Path(m.name).as_posix().split("/", 1)[-1]: m for m in tar.getmembers()}
        for shard in shards:
            member = tar.extractfile(names[NEWS1B_SHARD.format(shard)])
            assert member is not None  # a regular file in the archive
            yield from member.read().decode("utf8").splitlines()


def wikitext2_lines(asset_dir: Path, split: str) -> Iterator[str]:
    with zipfile.ZipFile(asset_dir / WIKITEXT2_ARCHIVE) as archive:
        yield from archive.read(f"wikitext-2/wiki.{split}.tokens").decode("utf8").splitlines()


def reuters_lines(asset_dir: Path) -> Iterator[str]:
    """Title and body paragraphs of every article; the SGML files are Latin-1. A body
    paragraph starts with an indented line; the trailing "Reuter" signature is dropped."""
    with tarfile.open(asset_dir / REUTERS_ARCHIVE) as tar:
        members = sorted(
            (m for m in tar.getmembers() if re.search(r"reut2-\d+\.sgm$", m.name)),
            key=lambda m: m.name,
        )
        for member in members:
            data = tar.extractfile(member)
            assert data is not None
            text = data.read().decode("latin-1")
            for article in re.findall(r"<REUTERS.*?</REUTERS>", text, flags=re.S):
                yield from _reuters_article(article)


def _reuters_article(article: str) -> Iterator[str]:
    title = re.search(r"<TITLE>(.*?)</TITLE>", article, flags=re.S)
    if title:
        yield _unescape(" ".join(title.group(1).split()))
    body = re.search(r"<BODY>(.*?)</BODY>", article, flags=re.S)
    if not body:
        return
    paragraphs: List[List[str]] = []
    for line in body.group(1).replace("\x03", "").splitlines():
        if not line.strip():
            continue
        if line.startswith((" ", "\t")) or not paragraphs:
            paragraphs.append([])
        paragraphs[-1].append(line.strip())
    for words in paragraphs:
        paragraph = _unescape(" ".join(" ".join(words).split()))
        if paragraph and paragraph.lower() not in ("reuter", "reuters"):
            yield paragraph


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def bbc_lines(asset_dir: Path) -> Iterator[str]:
    """Every article (``bbc/<topic>/<n>.txt``: title, blank line, paragraphs), sorted by path."""
    with zipfile.ZipFile(asset_dir / BBC_ARCHIVE) as archive:
        names = sorted(n for n in archive.namelist() if re.search(r"/\d+\.txt$", n))
        for name in names:
            text = archive.read(name).decode("latin-1")
            yield from (line.strip() for line in text.splitlines() if line.strip())


def copied_lines(asset_dir: Path, name: str) -> Iterator[str]:
    with (asset_dir / name).open(encoding="utf8") as f:
        yield from (line.rstrip("\n") for line in f)


def _sources(asset_dir: Path) -> Dict[str, Callable[[], Iterator[str]]]:
    """Output file -> its lines, for every output whose source is in ``asset_dir``."""
    outputs: Dict[str, Callable[[], Iterator[str]]] = {}
    if (asset_dir / NEWS1B_ARCHIVE).is_file():
        outputs["news1b.heldout-10-11.tok.txt"] = lambda: news1b_lines(asset_dir, (10, 11))
        outputs["news1b.heldout-12-13.tok.txt"] = lambda: news1b_lines(asset_dir, (12, 13))
    if (asset_dir / WIKITEXT2_ARCHIVE).is_file():
        outputs["wikitext2.valid.tok.txt"] = lambda: wikitext2_lines(asset_dir, "valid")
        outputs["wikitext2.test.tok.txt"] = lambda: wikitext2_lines(asset_dir, "test")
    if (asset_dir / REUTERS_ARCHIVE).is_file():
        outputs["reuters21578.txt"] = lambda: reuters_lines(asset_dir)
    if (asset_dir / BBC_ARCHIVE).is_file():
        outputs["bbc-news.txt"] = lambda: bbc_lines(asset_dir)
    for name in COPIED:
        if (asset_dir / name).is_file():
            outputs[name] = lambda name=name: copied_lines(asset_dir, name)  # type: ignore[misc]
    return outputs


ALL_OUTPUTS = (
    "news1b.heldout-10-11.tok.txt",
    "news1b.heldout-12-13.tok.txt",
    "wikitext2.valid.tok.txt",
    "wikitext2.test.tok.txt",
    "reuters21578.txt",
    "bbc-news.txt",
) + COPIED


def prepare(asset_dir: Path, corpus_dir: Path) -> Dict[str, int]:
    """Write every output whose source is present and that is not there yet; returns the
    line count of each output written."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    written: Dict[str, int] = {}
    for name, lines in _sources(asset_dir).items():
        target = corpus_dir / name
        if target.exists():
            continue
        tmp = target.with_name(target.name + ".tmp")
        n = 0
        with tmp.open("w", encoding="utf8") as out:
            for line in lines():
                out.write(line + "\n")
                n += 1
        tmp.replace(target)
        written[name] = n
    return written


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    asset_dir, corpus_dir = Path(argv[0]), Path(argv[1])
    for name, n in prepare(asset_dir, corpus_dir).items():
        print(f"wrote {corpus_dir / name} ({n} lines)")
    missing = [name for name in ALL_OUTPUTS if not (corpus_dir / name).exists()]
    if missing:
        print(
            f"missing in {corpus_dir} (see project.yml's assets for where to get them): "
            + ", ".join(missing),
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
