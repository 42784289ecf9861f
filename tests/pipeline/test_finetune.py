"""Training the biLM inside spaCy (``trainable_layers``): real updates of the tiny biLM
through real NER components and listeners, real files and a real ``spacy train`` run."""

from pathlib import Path

import numpy as np
import pytest
import spacy
import torch
from spacy.cli.train import train
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.util import fix_random_seed

from spacy_elmo.data.convert import convert_file
from spacy_elmo.errors import ElmoInputError
from spacy_elmo.models.layers import get_bilm
from spacy_elmo.settings import BiLMSettings

from ..spacy_fixtures import DATA

CONFIGS = Path(__file__).parents[2] / "configs"

TRAIN = [
    ("Alice went to Paris last week .", [(0, 5, "PER"), (14, 19, "LOC")]),
    ("Bob works for Acme in Berlin .", [(0, 3, "PER"), (14, 18, "ORG"), (22, 28, "LOC")]),
    ("The weather in Rome is nice .", [(15, 19, "LOC")]),
]
TEXTS = ["Carol flew to Madrid .", "Nothing happened here at all ."]

NER_MODEL = {
    "@architectures": "spacy.TransitionBasedParser.v2",
    "state_type": "ner",
    "extra_state_tokens": False,
    "hidden_width": 16,
    "maxout_pieces": 2,
    "use_upper": True,
    "nO": None,
    "tok2vec": {
        "@architectures": "spacy-elmo.ElmoTok2Vec.v1",
        "width": 16,
        "maxout_pieces": 2,
        "elmo": {
            "@architectures": "spacy-elmo.ElmoListener.v1",
            "upstream": "elmo",
            "mix": {"@architectures": "spacy-elmo.ScalarMix.v1", "n_layers": 3},
        },
        "embed": {
            "@architectures": "spacy.MultiHashEmbed.v2",
            "width": 16,
            "attrs": ["NORM", "SHAPE"],
            "rows": [500, 50],
            "include_static_vectors": False,
        },
        "encode": {
            "@architectures": "spacy.MaxoutWindowEncoder.v2",
            "width": 16,
            "depth": 1,
            "window_size": 1,
            "maxout_pieces": 2,
        },
    },
}


TAGGER_MODEL = {
    "@architectures": "spacy.Tagger.v2",
    "nO": None,
    "normalize": False,
    "tok2vec": NER_MODEL["tok2vec"],
}


def _nlp(tiny_paths, *, ners=("ner",), **bilm):
    nlp = spacy.blank("en")
    model = {"options_file": tiny_paths[0], "weight_file": tiny_paths[1], **bilm}
    nlp.add_pipe("elmo", config={"model": model})
    for name in ners:
        nlp.add_pipe("ner", name=name, config={"model": NER_MODEL})
    return nlp


def _examples(nlp):
    return [Example.from_dict(nlp.make_doc(t), {"entities": ents}) for t, ents in TRAIN]


def _trained(tiny_paths, steps=3, L2=0.01, **bilm):
    """A pipeline initialised, then updated ``steps`` times with Adam (lr 0.01).

    The parser's output layer starts at zero, so the first update sends no gradient to its
    inputs: the biLM's first real step is the second update."""
    fix_random_seed(0)  # the same initial task models for every run
    nlp = _nlp(tiny_paths, **bilm)
    examples = _examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.01
    optimizer.L2 = L2
    before = _params(nlp)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    return nlp, before


def _params(nlp):
    bilm = get_bilm(nlp.get_pipe("elmo").model).embedder.bilm
    return {name: p.detach().clone() for name, p in bilm.named_parameters()}


def _changed(nlp, before):
    after = _params(nlp)
    return {name for name, p in before.items() if not torch.equal(p, after[name])}


def _layers(nlp, texts=TEXTS):
    """Every biLM layer of every text. *Shape:* ``(L + 1, n_tokens, 2P)`` per text."""
    elmo = nlp.get_pipe("elmo")
    return [elmo.embedder.embed_sentence([t.text for t in nlp.make_doc(x)]) for x in texts]


# --- which layers change --------------------------------------------------------------------
def test_top_trains_only_the_top_lstm_layer(tiny_paths):
    nlp, before = _trained(tiny_paths, trainable_layers="top", learning_rate_scale=1.0)
    changed = _changed(nlp, before)
    top = {f"lstm.{k}.1" for k in ("input_weight", "recurrent_weight", "bias", "proj_weight")}
    assert changed == top, changed  # layer 0 and the char CNN stay exactly as loaded
    # layers that change with every update are never cached
    assert len(get_bilm(nlp.get_pipe("elmo").model).cache) == 0


def test_all_trains_the_char_cnn_and_every_lstm_layer(tiny_paths):
    nlp, before = _trained(tiny_paths, trainable_layers="all", learning_rate_scale=1.0)
    changed = _changed(nlp, before)
    # every parameter but the padding row of the character table (row 0: no gradient)
    unchanged = set(before) - changed
    assert unchanged <= {"char_cnn.char_embed"}, unchanged
    assert any(n.startswith("char_cnn.") for n in changed)
    assert {f"lstm.input_weight.{l}" for l in (0, 1)} <= changed
    embed = _params(nlp)["char_cnn.char_embed"]
    assert not torch.equal(embed[1:], before["char_cnn.char_embed"][1:])


def test_an_integer_trains_that_many_top_layers(tiny_paths):
    nlp, before = _trained(tiny_paths, steps=1, trainable_layers=2, learning_rate_scale=1.0)
    changed = _changed(nlp, before)
    assert {f"lstm.proj_weight.{l}" for l in (0, 1)} <= changed
    assert not any(n.startswith("char_cnn.") for n in changed)


def test_none_is_frozen_and_shared(tiny_paths, keep_tiny_loaded):
    nlp, before = _trained(tiny_paths, trainable_layers="none")
    assert _changed(nlp, before) == set()
    # the frozen biLM is still the one every pipeline of the process shares
    shared = keep_tiny_loaded.get_pipe("elmo").embedder
    assert nlp.get_pipe("elmo").embedder is shared


def test_trained_bilm_is_the_pipelines_own(tiny_paths, keep_tiny_loaded):
    frozen = keep_tiny_loaded.get_pipe("elmo").embedder
    reference = frozen.embed_sentence(TEXTS[0].split())
    nlp, _ = _trained(tiny_paths, trainable_layers="top", learning_rate_scale=1.0)
    assert nlp.get_pipe("elmo").embedder is not frozen
    # the shared biLM's vectors are untouched by the other pipeline's training
    assert np.array_equal(frozen.embed_sentence(TEXTS[0].split()), reference)
    trained = nlp.get_pipe("elmo").embedder.embed_sentence(TEXTS[0].split())
    # char CNN and layer 1: frozen (equal up to the char CNN's batching, ~1e-7)
    np.testing.assert_allclose(trained[:2], reference[:2], rtol=0, atol=1e-5)
    assert np.abs(trained[2] - reference[2]).max() > 1e-4  # the top layer moved


def test_learning_rate_scale_sets_the_step(tiny_paths):
    # Two updates without weight decay: the first changes nothing (no gradient yet), the
    # second is Adam's first step, the same direction for both, scaled by lr * scale.
    runs = {
        scale: _trained(
            tiny_paths, steps=2, L2=0.0, trainable_layers="top", learning_rate_scale=scale
        )
        for scale in (0.1, 1.0)
    }
    name = "lstm.proj_weight.1"
    steps = {scale: _params(nlp)[name] - before[name] for scale, (nlp, before) in runs.items()}
    assert steps[1.0].abs().max() > 1e-3
    torch.testing.assert_close(steps[1.0], 10 * steps[0.1], rtol=1e-2, atol=1e-6)


# --- two listeners ----------------------------------------------------------------------------
def _grads(nlp, examples, exclude=()):
    """The biLM's gradients after one update with ``exclude`` left out (none applied)."""
    bilm = get_bilm(nlp.get_pipe("elmo").model).embedder.bilm
    for p in bilm.parameters():
        p.grad = None
    nlp.update(examples, sgd=False, drop=0.0, exclude=list(exclude))
    nlp.get_pipe("elmo")._flush_gradients()
    return {n: p.grad.clone() for n, p in bilm.named_parameters() if p.grad is not None}


def test_gradients_of_two_listeners_both_reach_the_bilm(tiny_paths):
    # Two taggers (their updates are deterministic, unlike the parser's oracle) listening
    # to one elmo component.
    nlp = _nlp(tiny_paths, ners=(), trainable_layers="top")
    for name in ("tagger", "tagger2"):
        nlp.add_pipe("tagger", name=name, config={"model": TAGGER_MODEL})
    examples = [
        Example.from_dict(nlp.make_doc(text), {"tags": ["X" if i % 2 else "Y" for i in range(n)]})
        for text, n in ((t, len(t.split())) for t, _ in TRAIN)
    ]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(2):  # the output layers start at zero: no gradient before
        nlp.update(examples, sgd=optimizer, drop=0.0)
    both = _grads(nlp, examples)
    only_one = _grads(nlp, examples, exclude=["tagger2"])
    only_two = _grads(nlp, examples, exclude=["tagger"])
    assert set(both) == set(only_one) == set(only_two) and both
    for name, grad in both.items():
        assert only_one[name].abs().max() > 0 and only_two[name].abs().max() > 0
        # one backward pass of the summed gradients = the sum of each listener's
        torch.testing.assert_close(grad, only_one[name] + only_two[name], rtol=1e-4, atol=1e-7)


# --- saved and loaded ---------------------------------------------------------------------------
def test_saved_pipeline_gives_the_fine_tuned_vectors(tiny_paths, tmp_path):
    nlp, _ = _trained(tiny_paths, trainable_layers="top", learning_rate_scale=1.0)
    tuned = _layers(nlp)
    original = _layers(_nlp(tiny_paths, ners=()))
    nlp.to_disk(tmp_path / "p")
    saved = (tmp_path / "p" / "elmo" / "model" / "weights.hdf5").read_bytes()
    assert saved != Path(tiny_paths[1]).read_bytes()
    options = (tmp_path / "p" / "elmo" / "model" / "options.json").read_bytes()
    assert options == Path(tiny_paths[0]).read_bytes()
    from_bytes = spacy.blank("en").from_config(nlp.config).from_bytes(nlp.to_bytes())
    for loaded in (spacy.load(tmp_path / "p"), from_bytes):
        for got, want, orig in zip(_layers(loaded), tuned, original):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
            assert np.abs(got[2] - orig[2]).max() > 1e-4  # not the original vectors


def test_a_moved_pipeline_keeps_the_fine_tuned_weights(tiny_paths):
    """``device = "auto"`` follows the framework's ops: moving the model reloads the biLM,
    from the fine-tuned weights when it was trained (thinc's MPSOps is a real move on any
    machine: without Apple's GPU the biLM lands on the CPU again)."""
    from thinc.backends.mps_ops import MPSOps

    nlp, _ = _trained(tiny_paths, trainable_layers="top", learning_rate_scale=1.0)
    tuned = _layers(nlp)
    owner = get_bilm(nlp.get_pipe("elmo").model)
    loaded = owner.embedder
    owner.to_device(MPSOps())
    assert owner.embedder is not loaded  # loaded again, for the new device
    for got, want in zip(_layers(nlp), tuned):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def _files(tiny_paths):
    return {"options_file": tiny_paths[0], "weight_file": tiny_paths[1]}


def test_frozen_training_saves_the_original_files(tiny_paths, tmp_path):
    for setting in ("none", "top"):  # "top" never updated: nothing changed, a copy too
        nlp = _nlp(tiny_paths, trainable_layers=setting)
        examples = _examples(nlp)
        nlp.initialize(lambda: examples)
        if setting == "none":
            for _ in range(2):
                nlp.update(examples, drop=0.0)
        nlp.to_disk(tmp_path / setting)
        folder = tmp_path / setting / "elmo" / "model"
        assert (folder / "weights.hdf5").read_bytes() == Path(tiny_paths[1]).read_bytes()
        assert (folder / "options.json").read_bytes() == Path(tiny_paths[0]).read_bytes()
        files = nlp.get_pipe("elmo").to_bytes()
        assert Path(tiny_paths[1]).read_bytes() in files


def test_spacy_train_unfreezes_the_top_layer(tiny_paths, tmp_path):
    data = tmp_path / "ner.spacy"
    convert_file(DATA / "wikigold_sample.conll", data, file_type="conll", limit=20)
    overrides = {
        "paths.train": str(data),
        "paths.dev": str(data),
        "training.max_epochs": 2,
        "training.eval_frequency": 10_000,
        "training.batcher.size.start": 300,
        "components.elmo.model.options_file": tiny_paths[0],
        "components.elmo.model.weight_file": tiny_paths[1],
        "components.elmo.model.trainable_layers": "top",
        "components.elmo.model.learning_rate_scale": 1.0,
    }
    train(CONFIGS / "ner_elmo.cfg", tmp_path / "out", use_gpu=-1, overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.config["components"]["elmo"]["model"]["trainable_layers"] == "top"
    original = spacy.blank("en").add_pipe("elmo", config={"model": _files(tiny_paths)})
    loaded = nlp.get_pipe("elmo").embedder.bilm.state_dict()
    changed = {
        k for k, v in original.embedder.bilm.state_dict().items() if not torch.equal(v, loaded[k])
    }
    assert changed and all(k.startswith("lstm.") and k.endswith(".1") for k in changed), changed
    docs = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    assert nlp.evaluate([Example(nlp.make_doc(d.text), d) for d in docs])["ents_f"] >= 0.0


# --- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings, code",
    [
        ({"trainable_layers": "some"}, "E218"),
        ({"trainable_layers": -1}, "E218"),
        ({"trainable_layers": "top", "state": "stateful"}, "E225"),
        ({"trainable_layers": "all", "precision": "bfloat16"}, "E226"),
        ({"trainable_layers": 1, "precision": "int8"}, "E226"),
        ({"learning_rate_scale": -0.1}, "E110"),
        ({"dropout": 1.0}, "E110"),
    ],
)
def test_bad_settings_are_coded_errors(tiny_paths, settings, code):
    with pytest.raises((ElmoInputError, ValueError), match=code):
        _nlp(tiny_paths, ners=(), **settings)


@pytest.mark.parametrize("value", [1.5, True, None, "Top"])
def test_trainable_layers_of_another_type(value):
    with pytest.raises(ElmoInputError, match="E218"):
        BiLMSettings(trainable_layers=value)


def test_more_layers_than_the_bilm_has(tiny_paths):
    nlp = _nlp(tiny_paths, ners=(), trainable_layers=3)
    with pytest.raises(ElmoInputError, match="E219"):
        nlp.initialize()


def test_replaced_listener_trains_its_own_bilm(tiny_paths):
    # nlp.replace_listeners: the ner gets its own copy of the biLM (an ElmoLayers inside its
    # model); updating the ner trains that copy, through thinc's own backprop and
    # finish_update, and leaves the elmo component's biLM as it was.
    fix_random_seed(0)
    nlp = _nlp(tiny_paths, trainable_layers="top", learning_rate_scale=1.0)
    examples = _examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    nlp.replace_listeners("elmo", "ner", ["model.tok2vec"])
    own = [node for node in nlp.get_pipe("ner").model.walk() if node.name == "elmo-layers"]
    assert len(own) == 1
    before_own = {
        n: p.detach().clone() for n, p in get_bilm(own[0]).embedder.bilm.named_parameters()
    }
    before_elmo = _params(nlp)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer, drop=0.0, exclude=["elmo"])
    after_own = dict(get_bilm(own[0]).embedder.bilm.named_parameters())
    changed = {n for n, p in before_own.items() if not torch.equal(p, after_own[n])}
    assert changed == {
        f"lstm.{k}.1" for k in ("input_weight", "recurrent_weight", "bias", "proj_weight")
    }
    assert _changed(nlp, before_elmo) == set()


def test_dropout_applies_in_training_only(tiny_paths):
    nlp = _nlp(tiny_paths, ners=(), trainable_layers="top", dropout=0.5)
    nlp.initialize()
    model = nlp.get_pipe("elmo").model
    docs = [nlp.make_doc(t) for t in TEXTS]
    train, _ = model.begin_update(docs)
    predicted = model.predict(docs)
    zeros = sum(int((t == 0).sum() - (p == 0).sum()) for t, p in zip(train, predicted))
    assert zeros > 0.3 * sum(p.size for p in predicted)  # about half dropped in training
    assert np.array_equal(model.predict(docs)[0], predicted[0])  # none at inference
