import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_elmo.data.convert import convert_file, iob1_to_iob2, read_conll

DATA = Path(__file__).parent


def test_iob1_to_iob2():
    assert iob1_to_iob2(["I-PER", "I-PER", "O", "I-LOC", "I-ORG", "B-ORG", "I-ORG"]) == [
        "B-PER",
        "I-PER",
        "O",
        "B-LOC",
        "B-ORG",
        "B-ORG",
        "I-ORG",
    ]
    iob2 = ["B-PER", "I-PER", "O", "B-LOC"]
    assert iob1_to_iob2(iob2) == iob2


def test_conll_sample(tmp_path):
    sentences = list(read_conll(DATA / "wikigold_sample.conll"))
    assert len(sentences) == 58  # 60 blocks, two of them -DOCSTART-
    words, tags = sentences[0]
    assert words[:3] == ["010", "is", "the"] and tags[0] == "B-MISC"
    out = tmp_path / "wg.spacy"
    assert convert_file(DATA / "wikigold_sample.conll", out, file_type="conll", n_sents=4) == 15
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    ents = [(e.text, e.label_) for e in docs[0].ents]
    assert ents[:3] == [("010", "MISC"), ("Japanese", "MISC"), ("The Mad Capsule Markets", "ORG")]
    assert sum(1 for t in docs[0] if t.is_sent_start) == 4


def test_conll2003_style_and_wnut(tmp_path):
    conll = tmp_path / "c.txt"
    conll.write_text(
        # CoNLL-2003's four columns, self-written lines (the corpus itself must not ship)
        "-DOCSTART- -X- -X- O\n\nACME NNP B-NP B-ORG\nbuys VBZ B-VP O\nDanish JJ B-NP B-MISC\n\n"
        "Maria NNP B-NP B-PER\nOlsen NNP I-NP I-PER\n"
    )
    wnut = tmp_path / "w.txt"
    wnut.write_text("@paulwalk\tO\nthe\tO\nEmpire\tB-location\nState\tI-location\n\n")
    vocab = spacy.blank("en").vocab
    convert_file(conll, tmp_path / "c.spacy", file_type="conll")
    docs = list(DocBin().from_disk(tmp_path / "c.spacy").get_docs(vocab))
    assert [[(e.text, e.label_) for e in d.ents] for d in docs] == [
        [("ACME", "ORG"), ("Danish", "MISC")],
        [("Maria Olsen", "PER")],
    ]
    convert_file(wnut, tmp_path / "w.spacy", file_type="conll")
    (doc,) = DocBin().from_disk(tmp_path / "w.spacy").get_docs(vocab)
    assert [(e.text, e.label_) for e in doc.ents] == [("Empire State", "location")]


def test_tsv(tmp_path):
    out = tmp_path / "t.spacy"
    assert convert_file(DATA / "textcat_sample.tsv", out, file_type="tsv") == 25
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    assert docs[0].cats == {"0": 0.0, "1": 0.0, "2": 0.0, "3": 0.0, "4": 1.0}
    assert docs[0][0].text == "A"
    bad = tmp_path / "bad.tsv"
    bad.write_text("no tab here\n")
    with pytest.raises(ValueError, match="E203"):
        convert_file(bad, out, file_type="tsv")
    with pytest.raises(ValueError, match="E204"):
        convert_file(bad, out, file_type="xml")


def test_cli(tmp_path):
    out = tmp_path / "cli.spacy"
    cmd = [
        sys.executable,
        "-m",
        "spacy_elmo",
        "convert",
        str(DATA / "textcat_sample.tsv"),
        str(out),
        "-t",
        "tsv",
        "--limit",
        "10",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(DocBin().from_disk(out)) == 10


def test_format_is_detected(tmp_path):
    from spacy_elmo.data.convert import detect_format

    assert detect_format(DATA / "textcat_sample.tsv") == "tsv"
    assert detect_format(DATA / "wikigold_sample.conll") == "conll"
    wnut = tmp_path / "w.conll"  # token TAB tag: tabs, but a CoNLL file
    wnut.write_text("-DOCSTART-\tO\n\n@paulwalk\tO\nthe\tO\nEmpire\tB-location\n")
    assert detect_format(wnut) == "conll"
    out = tmp_path / "auto.spacy"
    assert convert_file(DATA / "textcat_sample.tsv", out, file_type="auto") == 25
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    assert docs[0].cats["4"] == 1.0
    prose = tmp_path / "prose.txt"
    prose.write_text("Just a sentence of prose.\nAnd another one.\n")
    with pytest.raises(ValueError, match="E604"):
        convert_file(prose, out, file_type="auto")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="E604"):
        detect_format(empty)


def test_wrong_format_is_a_coded_error(tmp_path):
    out = tmp_path / "x.spacy"
    with pytest.raises(ValueError, match=r"E603.*looks like a tsv file.*Pass -t tsv"):
        convert_file(DATA / "textcat_sample.tsv", out, file_type="conll")
    with pytest.raises(ValueError, match=r"E603.*looks like a conll file.*Pass -t conll"):
        convert_file(DATA / "wikigold_sample.conll", out, file_type="tsv")
    wnut = tmp_path / "w.conll"  # every line is 'x TAB y': only the tags give it away
    wnut.write_text("@paulwalk\tO\nthe\tO\n\nEmpire\tB-location\n")
    with pytest.raises(ValueError, match="E603"):
        convert_file(wnut, out, file_type="tsv")
    bad_tag = tmp_path / "bad.conll"
    bad_tag.write_text("Paris B-LOC\nis O\n\nRome LOCATION\n")
    with pytest.raises(ValueError, match=r"E203.*line 4.*'LOCATION' is not an IOB tag"):
        convert_file(bad_tag, out, file_type="conll")
    assert not out.exists()


def test_cli_tsv_without_file_type(tmp_path):
    """The CLI tells the format apart; read as the wrong one it says so, without a traceback."""
    out = tmp_path / "t.spacy"
    base = [sys.executable, "-m", "spacy_elmo", "convert", str(DATA / "textcat_sample.tsv")]
    result = subprocess.run(base + [str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(DocBin().from_disk(out)) == 25
    cmd = base + [str(tmp_path / "c.spacy"), "-t", "conll"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "E603" in result.stderr and "-t tsv" in result.stderr
    assert "Traceback" not in result.stderr and "E177" not in result.stderr
