"""``spacy-elmo.ElmoTok2Vec.v1``: the paper's recipe for using ELMo in a task model.

Peters et al. (2018), sec. 3.3: concatenate the task's mix of the frozen biLM layers with
context-independent token features, then run the task encoder. Here the features are spaCy's
``MultiHashEmbed`` and the encoder any spaCy encoder (e.g. ``spacy.MaxoutWindowEncoder.v2``).
"""

from typing import List

from spacy.tokens import Doc
from thinc.api import Maxout, Model, chain, concatenate, with_array
from thinc.types import Floats2d


def build_elmo_tok2vec_v1(
    *,
    elmo: Model[List[Doc], List[Floats2d]],
    embed: Model[List[Doc], List[Floats2d]],
    encode: Model[List[Floats2d], List[Floats2d]],
    width: int,
    maxout_pieces: int = 3,
) -> Model[List[Doc], List[Floats2d]]:
    """``concatenate(elmo, embed) >> Maxout(width) >> encode``.

    elmo (Model): Usually ``spacy-elmo.ElmoListener.v1`` (with this component's own mix).
    embed (Model): Context-independent features, e.g. ``spacy.MultiHashEmbed.v2``.
    encode (Model): Context encoder of input and output width ``width``, e.g.
        ``spacy.MaxoutWindowEncoder.v2`` (depth 2-4).
    width (int): Width after the projection; must equal the encoder's width. 96-300.
    maxout_pieces (int): Pieces of the projection's maxout unit. 2-3 recommended.
    RETURNS (Model[List[Doc], List[Floats2d]]): *Shape:* ``(n_tokens, width)`` per doc.
    """
    project: Model[List[Floats2d], List[Floats2d]] = with_array(
        Maxout(nO=width, nP=maxout_pieces, normalize=True)
    )
    model: Model[List[Doc], List[Floats2d]] = chain(concatenate(elmo, embed), project, encode)
    model.set_dim("nO", width)
    model.set_ref("elmo", elmo)
    model.set_ref("embed", embed)
    model.set_ref("encode", encode)
    return model
