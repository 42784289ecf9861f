"""A fixed, deterministic set of English-like benchmark sentences.

No corpus is shipped: sentences are drawn (seeded) from a small hand-written word list with a
Zipf-shaped frequency, a long tail of pronounceable made-up words (so the number of distinct
word types, which drives the char-CNN cost, grows like it does in real text), capitalised
names, numbers and punctuation. Lengths follow a gamma distribution with mean ~25 tokens,
clipped to 1..80, close to newswire.
"""

import random
from typing import List

# Roughly in frequency order (rank 1 first).
_COMMON = """
the , . of and to a in that is was he for it with as his on be at by i this had not are
but from or have an they which one you were her all she there would their we him been has
when who will more no if out so said what up its about into than them can only other new
some could time these two may then do first any my now such like our over man me even most
made after also did many before must through back years where much your way well down should
because each just those people mr how too little state good very make world still own see
men work long get here between both life being under never day same another know while last
might us great old year off come since against go came right used take three states himself
few house use during without again place american around however home small found mrs
thought went say part once general high upon school every don't does got united left number
course war until always away something fact though water less public put think almost hand
enough far took head yet government system better set told nothing night end why called
didn't eyes find going look asked later knew point next program city business give group
toward young days let room president side social given present several order national
possible rather second face per among form important often things looked early white case
john become large big need four within felt along children saw best church ever least power
development light thing seemed family interest want members mind country area others done
turned although open god service problem certain kind different thus began door help means
sense whole matter perhaps itself york times law human line above name example action
company hands local show whether five history gave today either act feet across taken past
quite anything seen having death experience body word half really week field car words
already themselves information tell together college shall money period held keep sure
probably free seems political real cannot behind miss question air office making brought
whose special major heard problems ago became federal study available known result street
economic boy reason change position board individual job society areas west close turn love
community true court force full seem am wife age future voice center woman control common
policy necessary following front sometimes six girl clear further land run students provide
feel party able mother music education university child effect level stood military town
short morning total outside rate figure class art century washington north usually leave
therefore evidence percent black strong believe value care sort private ( ) " ; : ' ? - %
""".split()

_NAMES = """
Anna Boris Chen Dalia Emil Farah Gustav Hana Ivo Jonas Kamal Lena Marek Nadia Oskar Priya
Quentin Rosa Samir Tomas Ulla Viktor Wen Yusuf Zofia London Paris Berlin Lagos Lima Oslo
Kyoto Texas Ohio Europe Africa Monday Friday January October Reuters Congress Senate
""".split()

_ONSETS = [
    "b",
    "br",
    "c",
    "ch",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "pl",
    "pr",
    "r",
    "s",
    "sh",
    "sl",
    "st",
    "t",
    "tr",
    "v",
    "w",
    "z",
    "",
]
_VOWELS = ["a", "e", "i", "o", "u", "ea", "ou", "ai", "io", "y"]
_CODAS = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng", "rt", "x"]
_SUFFIXES = ["", "", "", "s", "ed", "ing", "er", "ly", "ion", "ment", "ness", "able", "ity"]

#: Defaults of :func:`make_sentences`.
DEFAULT_N_SENTENCES = 640
DEFAULT_SEED = 1234
MEAN_LENGTH = 25.0
MIN_LENGTH = 1
MAX_LENGTH = 80


def _zipf_rank(rng: random.Random, n: int, s: float = 1.07) -> int:
    """A rank in ``[0, n)`` with probability proportional to ``1 / (rank + 2) ** s``."""
    # Inverse-CDF of the continuous approximation; cheap and deterministic.
    lo, hi = 2.0 ** (1 - s), (n + 2.0) ** (1 - s)
    x = (lo + rng.random() * (hi - lo)) ** (1.0 / (1 - s))
    return min(n - 1, max(0, int(x) - 2))


def _tail_word(rank: int) -> str:
    """The made-up word of a given tail rank: the same rank always gives the same word."""
    rng = random.Random(rank * 7919 + 17)
    n_syllables = 1 + (rng.random() < 0.6) + (rng.random() < 0.2)
    stem = "".join(
        rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(n_syllables)
    )
    return stem + rng.choice(_SUFFIXES)


def _length(rng: random.Random) -> int:
    # Gamma(k=4, theta=6.25): mean 25, sd 12.5; clipped to [1, 80].
    return int(min(MAX_LENGTH, max(MIN_LENGTH, round(rng.gammavariate(4.0, MEAN_LENGTH / 4.0)))))


def _token(rng: random.Random) -> str:
    u = rng.random()
    if u < 0.80:
        return _COMMON[_zipf_rank(rng, len(_COMMON))]
    if u < 0.95:
        return _tail_word(_zipf_rank(rng, 50_000, s=1.01))
    if u < 0.985:
        return _NAMES[rng.randrange(len(_NAMES))]
    if rng.random() < 0.5:
        return str(rng.randrange(1, 2030))
    return f"{rng.randrange(1, 1000)}.{rng.randrange(10)}"


def make_sentences(n: int = DEFAULT_N_SENTENCES, seed: int = DEFAULT_SEED) -> List[List[str]]:
    """``n`` tokenized sentences, always the same for the same ``n`` and ``seed``.

    :returns: One token list per sentence, mean length ~25, lengths 1..80.
    """
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        length = _length(rng)
        tokens = [_token(rng) for _ in range(length)]
        if length > 1:
            tokens[-1] = rng.choice([".", ".", ".", ".", "?", "!", '"'])
        first = tokens[0]
        if first.isalpha() and first.islower():
            tokens[0] = first.capitalize()
        sentences.append(tokens)
    return sentences


def sentence_stats(sentences: List[List[str]]) -> dict:
    """Counts that describe a sentence set (reported with every benchmark)."""
    lengths = [len(s) for s in sentences]
    n_tokens = sum(lengths)
    return {
        "n_sentences": len(sentences),
        "n_tokens": n_tokens,
        "n_types": len({t for s in sentences for t in s}),
        "mean_length": n_tokens / max(1, len(sentences)),
        "min_length": min(lengths, default=0),
        "max_length": max(lengths, default=0),
    }
