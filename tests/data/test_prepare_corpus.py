"""tools/prepare_lm_corpus.py on small archives laid out like the downloads (self-written
text: the real corpora must not ship)."""

import importlib.util
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "tools" / "prepare_lm_corpus.py"


@pytest.fixture(scope="module")
def prep():
    spec = importlib.util.spec_from_file_location("prepare_lm_corpus", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _assets(tmp: Path) -> Path:
    assets = tmp / "assets"
    assets.mkdir()
    root = "1-billion-word-language-modeling-benchmark-r13output/heldout-monolingual.tokenized.shuffled"
    with tarfile.open(
        assets / "1-billion-word-language-modeling-benchmark-r13output.tar.gz", "w:gz"
    ) as t:
        for shard in (9, 10, 11, 12, 13):
            _add(
                t,
                f"{root}/news.en.heldout-{shard:05d}-of-00050",
                f"shard {shard} a .\nshard {shard} b .\n".encode(),
            )
    with zipfile.ZipFile(assets / "wikitext-2-v1.zip", "w") as z:
        for split in ("train", "valid", "test"):
            z.writestr(
                f"wikitext-2/wiki.{split}.tokens", f" \n = {split} = \n \n words of {split} .\n"
            )
    sgm = (
        '<REUTERS ID="1">\n<TEXT>\n<TITLE>COCOA &lt;REVIEW&gt;</TITLE>\n<BODY>Showers continued\n'
        "throughout the week.\n    The dry period\nmeans little.\n Reuter\n\x03</BODY></TEXT>\n</REUTERS>\n"
        '<REUTERS ID="2">\n<TEXT>\n<TITLE>NO BODY</TITLE>\n</TEXT>\n</REUTERS>\n'
    )
    with tarfile.open(assets / "reuters21578.tar.gz", "w:gz") as t:
        _add(t, "reut2-000.sgm", sgm.encode("latin-1"))
        _add(t, "README.txt", b"not an article")
    with zipfile.ZipFile(assets / "bbc-fulltext.zip", "w") as z:
        z.writestr("bbc/tech/002.txt", "Second title\n\nPara one.\n\nPara two.\n")
        z.writestr("bbc/business/001.txt", "First title\n\nOnly paragraph.\n")
        z.writestr("bbc/README.TXT", "about the data")
    (assets / "gutenberg.valid.txt").write_text("A book.\nIts second line.\n", encoding="utf8")
    return assets


def test_prepare_writes_the_config_files(tmp_path, prep):
    assets = _assets(tmp_path)
    out = tmp_path / "lm-corpus"
    written = prep.prepare(assets, out)
    read = lambda name: (out / name).read_text(encoding="utf8").splitlines()
    assert read("news1b.heldout-10-11.tok.txt") == [
        "shard 10 a .",
        "shard 10 b .",
        "shard 11 a .",
        "shard 11 b .",
    ]
    assert read("news1b.heldout-12-13.tok.txt")[0] == "shard 12 a ."
    assert read("wikitext2.test.tok.txt") == [" ", " = test = ", " ", " words of test ."]
    assert read("reuters21578.txt") == [
        "COCOA <REVIEW>",
        "Showers continued throughout the week.",
        "The dry period means little.",
        "NO BODY",
    ]
    assert read("bbc-news.txt") == [
        "First title",
        "Only paragraph.",
        "Second title",
        "Para one.",
        "Para two.",
    ]
    assert read("gutenberg.valid.txt") == ["A book.", "Its second line."]
    assert written["reuters21578.txt"] == 4
    assert not (out / "abc-news.txt").exists()
    assert not list(out.glob("*.tmp"))
    # A re-run leaves finished files alone.
    (out / "bbc-news.txt").write_text("kept\n")
    assert "bbc-news.txt" not in prep.prepare(assets, out)
    assert read("bbc-news.txt") == ["kept"]


def test_cli_lists_what_is_missing(tmp_path):
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "abc-news.txt").write_text("One.\n")
    cmd = [sys.executable, str(SCRIPT), str(assets), str(tmp_path / "out")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "abc-news.txt (1 lines)" in result.stdout
    assert "missing" in result.stderr and "news1b.heldout-12-13.tok.txt" in result.stderr
