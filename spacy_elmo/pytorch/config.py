"""Typed, keyword-only configuration of an ELMo biLM (Peters et al., 2018).

Reading and writing ``options.json`` lives in :mod:`spacy_elmo.weights.options`; these
dataclasses know nothing about files.
"""

from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Optional, Tuple

from ..errors import ElmoFormatError, Errors
from ..validation import invalid, is_int, is_number

#: The 7 character filters of every published English model, ``(width, count)``.
PUBLISHED_FILTERS: Tuple[Tuple[int, int], ...] = (
    (1, 32),
    (2, 32),
    (3, 64),
    (4, 128),
    (5, 256),
    (6, 512),
    (7, 1024),
)

#: Number of character ids at inference: 256 bytes + 5 special + padding 0.
N_CHARACTERS = 262
#: Character slots per token (hard-coded in every published model).
MAX_CHARS = 50


@dataclass(frozen=True, kw_only=True)
class CharCNNConfig:
    """Character CNN that builds context-independent token vectors.

    :param embedding_dim: Character embedding width ``e``.
    :param filters: ``(width, count)`` of each convolution, in file order.
    :param n_highway: Number of highway layers after the convolutions.
    :param activation: ``"relu"`` or ``"tanh"``, applied to the max-pooled features.
    :param n_characters: Size of the character vocabulary: 262 at inference.
    :param max_characters_per_token: Character slots per token: 50.
    """

    embedding_dim: int = 16
    filters: Tuple[Tuple[int, int], ...] = PUBLISHED_FILTERS
    n_highway: int = 2
    activation: str = "relu"
    n_characters: int = N_CHARACTERS
    max_characters_per_token: int = MAX_CHARS

    @property
    def n_filters(self) -> int:
        """Total number of filters ``F`` (the width of the highway layers)."""
        return sum(n for _, n in self.filters)


@dataclass(frozen=True, kw_only=True)
class LSTMConfig:
    """Stacked LSTMs with projection, one stack per direction.

    :param dim: Memory-cell size ``D``.
    :param projection_dim: Hidden size after projection ``P``; also the char-CNN output width.
    :param n_layers: Number of stacked layers ``L``.
    :param cell_clip: Clip ``|c|`` to this value; ``None`` for no clipping.
    :param proj_clip: Clip ``|h|`` to this value after projection; ``None`` for no clipping.
    :param use_skip_connections: Residual connection around every layer but the first.
    """

    dim: int = 4096
    projection_dim: int = 512
    n_layers: int = 2
    cell_clip: Optional[float] = 3.0
    proj_clip: Optional[float] = 3.0
    use_skip_connections: bool = True


@dataclass(frozen=True, kw_only=True)
class VocabularyConfig:
    """Token input from dictionaries instead of UTF-8 bytes (ELMoForManyLangs models).

    Character ids come from the model's character dictionary (``n_characters - 1`` entries,
    shifted by one so 0 stays the padding id), and an optional word embedding of ``word_dim``
    from its word dictionary (``n_words`` entries) is projected and added to the char-CNN
    output (one projection of ``[word; chars]``, split in two).

    :param n_words: Entries of the word dictionary (0: no word embedding).
    :param word_dim: Width of the word embedding (0: none).
    """

    n_words: int = 0
    word_dim: int = 0

    @property
    def has_words(self) -> bool:
        return self.word_dim > 0


@dataclass(frozen=True, kw_only=True)
class ELMoConfig:
    """Architecture of an ELMo biLM.

    :param char_cnn: The character CNN.
    :param lstm: The bidirectional LSTM stacks.
    :param vocabulary: ``None`` (bilm-tf: UTF-8 byte ids, 262 of them), or the dictionaries
        of an ELMoForManyLangs model (:class:`VocabularyConfig`).
    """

    char_cnn: CharCNNConfig = field(default_factory=CharCNNConfig)
    lstm: LSTMConfig = field(default_factory=LSTMConfig)
    vocabulary: Optional[VocabularyConfig] = None

    def __post_init__(self) -> None:
        self.validate()

    @property
    def output_dim(self) -> int:
        """Width of every output layer: ``2P``."""
        return 2 * self.lstm.projection_dim

    @property
    def n_output_layers(self) -> int:
        """Number of output layers: ``L + 1`` (layer 0 is the char-CNN output)."""
        return self.lstm.n_layers + 1

    def n_parameters(self) -> int:
        """Number of parameters of the biLM (no softmax), as laid out in the hdf5 file."""
        c, l = self.char_cnn, self.lstm
        e, F, P, D = c.embedding_dim, c.n_filters, l.projection_dim, l.dim
        conv = sum(w * e * n + n for w, n in c.filters)
        highway = c.n_highway * (2 * F * F + 2 * F)
        lstm = 2 * l.n_layers * (2 * P * 4 * D + 4 * D + D * P)
        v = self.vocabulary
        words = 0 if v is None else v.n_words * v.word_dim + v.word_dim * P
        return conv + (c.n_characters - 1) * e + highway + F * P + P + lstm + words

    def flops_per_token(self) -> int:
        """Forward FLOPs per token position (2 per multiply-add), docs/format.md §14."""
        c, l = self.char_cnn, self.lstm
        e, F, P, D = c.embedding_dim, c.n_filters, l.projection_dim, l.dim
        T = c.max_characters_per_token
        conv = 2 * e * sum((T - w + 1) * w * n for w, n in c.filters)
        highway = c.n_highway * 2 * F * 2 * F
        proj = 2 * F * P
        lstm = 2 * l.n_layers * (2 * P * 4 * D * 2 + 2 * D * P)
        return conv + highway + proj + lstm

    def validate(self) -> None:
        """Raise :class:`ElmoFormatError` with a coded message for impossible values."""
        c, l = self.char_cnn, self.lstm

        def bad(key: str, value: object, expected: str) -> None:
            invalid(key, value, expected, error=ElmoFormatError)

        for key, value in (
            ("lstm.dim", l.dim),
            ("lstm.projection_dim", l.projection_dim),
            ("lstm.n_layers", l.n_layers),
            ("char_cnn.embedding.dim", c.embedding_dim),
        ):
            if not is_int(value, low=1):
                bad(key, value, "a positive integer")
        if not is_int(c.n_highway, low=0):
            bad("char_cnn.n_highway", c.n_highway, "a non-negative integer")
        for key, clip in (("lstm.cell_clip", l.cell_clip), ("lstm.proj_clip", l.proj_clip)):
            if clip is not None and not is_number(clip, low=0.0, low_open=True):
                bad(key, clip, "a positive number, or null for no clipping")
        if not isinstance(l.use_skip_connections, bool):
            bad("lstm.use_skip_connections", l.use_skip_connections, "true or false")
        if c.activation not in ("relu", "tanh"):
            bad("char_cnn.activation", c.activation, "'relu' or 'tanh'")
        if self.vocabulary is not None:
            self._validate_vocabulary(bad)
        elif c.n_characters != N_CHARACTERS:
            bad(
                "char_cnn.n_characters",
                c.n_characters,
                f"{N_CHARACTERS} at inference (261 is the bilm-tf training value: set it to "
                f"{N_CHARACTERS} in options.json)",
            )
        if self.vocabulary is None and c.max_characters_per_token != MAX_CHARS:
            bad(
                "char_cnn.max_characters_per_token",
                c.max_characters_per_token,
                f"{MAX_CHARS} (every published model and the character-id mapping use 50)",
            )
        if not c.filters:
            bad("char_cnn.filters", c.filters, "a non-empty list of [width, count] pairs")
        for pair in c.filters:
            if (
                len(pair) != 2
                or not all(is_int(v, low=1) for v in pair)
                or pair[0] > c.max_characters_per_token
            ):
                bad(
                    "char_cnn.filters",
                    list(map(list, c.filters)),
                    "[width, count] pairs of positive integers with width <= "
                    f"{c.max_characters_per_token}",
                )

    def _validate_vocabulary(self, bad: Callable[[str, object, str], None]) -> None:
        """Dictionary input: any number of characters (two at least: the begin/end-of-word
        symbols), token slots for a word of one character and its two markers."""
        c, v = self.char_cnn, self.vocabulary
        assert v is not None
        if not is_int(c.n_characters, low=3):
            bad("char_cnn.n_characters", c.n_characters, "an integer >= 3 (dictionary + 1)")
        if not is_int(c.max_characters_per_token, low=3):
            bad("char_cnn.max_characters_per_token", c.max_characters_per_token, "an int >= 3")
        for key, value in (("vocabulary.n_words", v.n_words), ("word_dim", v.word_dim)):
            if not is_int(value, low=0):
                bad(key, value, "a non-negative integer")
        if (v.word_dim > 0) != (v.n_words > 0):
            bad("vocabulary.n_words", v.n_words, "> 0 exactly when word_dim > 0")


def _preset(D: int, P: int, n_highway: int) -> ELMoConfig:
    return ELMoConfig(
        char_cnn=CharCNNConfig(n_highway=n_highway),
        lstm=LSTMConfig(dim=D, projection_dim=P),
    )


#: The published English architectures (docs/format.md §2).
PRESETS: Dict[str, ELMoConfig] = {
    "small": _preset(1024, 128, 1),
    "medium": _preset(2048, 256, 1),
    "original": _preset(4096, 512, 2),
    "5.5B": _preset(4096, 512, 2),
}


def preset(name: str) -> ELMoConfig:
    """The architecture of a published model: ``small``, ``medium``, ``original``, ``5.5B``."""
    if name not in PRESETS:
        raise ElmoFormatError(Errors.E008.format(name=name, names=", ".join(PRESETS)))
    return PRESETS[name]


__all__ = [
    "CharCNNConfig",
    "LSTMConfig",
    "ELMoConfig",
    "VocabularyConfig",
    "PRESETS",
    "preset",
    "replace",
    "PUBLISHED_FILTERS",
]
