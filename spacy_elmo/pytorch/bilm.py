"""The ELMo biLM: char CNN + sentence boundaries + forward/backward LSTM stacks.

docs/format.md §5 (boundaries) and §9 (directions, layers, outputs).
"""

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from ..errors import ElmoInputError, Errors
from .char_cnn import CharCNN
from .char_ids import BOS_IDS, EOS_IDS, MAX_CHAR_ID, batch_to_ids, tokens_to_ids
from .char_vocab import TokenVocabulary, WordEmbedding
from .config import ELMoConfig
from .lstm import ElmoLstm, LSTMState


@dataclass
class BiLMOutput:
    """Output of :class:`ELMoBiLM`.

    layers: Layer 0 (``[token_emb; token_emb]``) and every LSTM layer ``[forward; backward]``,
        zero at padding. *Shape:* ``(L + 1, batch_size, T, 2P)``.
    mask: True at real tokens. *Shape:* ``(batch_size, T)``.
    final_state: The LSTM state after each row (rows in input order); the backward
        direction's state is the one after ``<S>``.
    """

    layers: Tensor
    mask: Tensor
    final_state: LSTMState


def reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse every row of ``x`` in time within its own length; padding stays in place.
    The reversal is its own inverse.

    :param x: *Shape:* ``(..., batch_size, T, F)``.
    :param lengths: *Shape:* ``(batch_size,)``.
    """
    B, T = x.shape[-3], x.shape[-2]
    t = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    n = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    index = torch.where(t < n, n - 1 - t, t).unsqueeze(2)  # (B, T, 1)
    return x.gather(-2, index.expand(*x.shape[:-3], B, T, x.shape[-1]))


class ELMoBiLM(nn.Module):
    """The pre-trained bidirectional language model of ELMo (Peters et al., 2018), without
    its softmax. Pure torch; loading and saving the original files lives in
    :mod:`spacy_elmo.weights`.
    """

    boundary_ids: Tensor  # a buffer: the <S> and </S> ids, (2, id_width)

    def __init__(
        self,
        config: ELMoConfig,
        *,
        device: Optional[torch.device] = None,
        lstm_weights: bool = True,
    ):
        """
        :param config: The architecture.
        :param device: Device to create the parameters on.
        :param lstm_weights: False: the LSTM's weight matrices are never allocated (see
            :meth:`without_lstm_weights`).
        """
        super().__init__()
        config.validate()
        self.config = config
        self.char_cnn = CharCNN(
            config=config.char_cnn, output_dim=config.lstm.projection_dim, device=device
        )
        self.lstm = ElmoLstm(config=config.lstm, device=device, weights=lstm_weights)
        # Dictionary input (ELMoForManyLangs): set by set_vocabulary; None reads UTF-8 bytes.
        self.vocabulary: Optional[TokenVocabulary] = None
        v = config.vocabulary
        self.word_embedding: Optional[WordEmbedding] = None
        if v is not None and v.has_words:
            self.word_embedding = WordEmbedding(
                n_words=v.n_words,
                dim=v.word_dim,
                output_dim=config.lstm.projection_dim,
                device=device,
            )
        self.register_buffer(
            "boundary_ids", torch.tensor([BOS_IDS, EOS_IDS], device=device), persistent=False
        )

    def set_vocabulary(self, vocabulary: TokenVocabulary) -> None:
        """Read tokens through ``vocabulary`` (the model's dictionaries) from now on."""
        if vocabulary.width != self.id_width or self.config.vocabulary is None:
            raise ElmoInputError(Errors.E022.format(width=vocabulary.width, expected=self.id_width))
        self.vocabulary = vocabulary
        self.boundary_ids = vocabulary.boundary_ids().to(self.boundary_ids.device)

    @property
    def id_width(self) -> int:
        """Ids per token: the character slots, plus one word id with a word embedding."""
        extra = 1 if self.word_embedding is not None else 0
        return self.config.char_cnn.max_characters_per_token + extra

    def tokens_to_ids(self, tokens: Sequence[str]) -> Tensor:
        """Ids of words for :meth:`encode_ids`: UTF-8 bytes, or the model's dictionaries.
        *Shape:* ``(N, id_width)``."""
        if self.vocabulary is None:
            return tokens_to_ids(tokens)
        return self.vocabulary.tokens_to_ids(tokens)

    def batch_to_ids(self, sentences: Sequence[Sequence[str]]) -> Tensor:
        """Ids of sentences for :meth:`forward`. *Shape:* ``(B, T, id_width)``."""
        if self.vocabulary is None:
            return batch_to_ids(sentences)
        return self.vocabulary.batch_to_ids(sentences)

    def embed_words(self, words: Sequence[str]) -> Tensor:
        """Context-independent vectors of words. *Shape:* ``(N, P)``, on the biLM's device."""
        ids = self.tokens_to_ids(list(words)).to(self.char_cnn.proj_weight.device)
        return self.encode_ids(ids)

    def encode_ids(self, ids: Tensor) -> Tensor:
        """Token vectors of real tokens' ids. *Shape:* ``(N, id_width)`` -> ``(N, P)``."""
        n_chars = self.config.char_cnn.max_characters_per_token
        out = self.char_cnn(ids[:, :n_chars])
        if self.word_embedding is not None:
            out = out + self.word_embedding(ids[:, n_chars])
        return out

    @classmethod
    def without_lstm_weights(cls, config: ELMoConfig, *, device: torch.device) -> "ELMoBiLM":
        """A biLM to load into whose LSTM weight matrices are never allocated (empty
        placeholders until a loader makes the LSTM lean: :meth:`ElmoLstm.set_lean`);
        everything else is allocated on ``device``. Not built on the meta device: its first
        arithmetic imports torch's meta kernels (dynamo, sympy: 74 MB of RSS for good)."""
        return cls(config, device=device, lstm_weights=False)

    def make_lean(self, dtype: torch.dtype) -> None:
        """Hold the LSTM and highway weights only in ``dtype`` (bfloat16 or int8), for
        inference at that precision only (:meth:`ElmoLstm.make_lean`,
        :meth:`~spacy_elmo.pytorch.highway.Highway.make_lean`)."""
        self.lstm.make_lean(dtype)
        self.char_cnn.make_lean(dtype)

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    @property
    def n_output_layers(self) -> int:
        return self.config.n_output_layers

    def zero_state(self, batch_size: int) -> LSTMState:
        return self.lstm.zero_state(batch_size)

    def embed_tokens(self, char_ids: Tensor) -> Tensor:
        """Context-independent token vectors from the char CNN, run on real tokens only.

        :param char_ids: *Shape:* ``(batch_size, T, 50)``.
        :returns: Zero at padding. *Shape:* ``(batch_size, T, P)``.
        """
        self._check_char_ids(char_ids)
        mask = (char_ids > 0).any(dim=2)
        B, T, _ = char_ids.shape
        out = self.char_cnn.proj_weight.new_zeros(B, T, self.config.lstm.projection_dim)
        out[mask] = self.encode_ids(char_ids[mask])
        return out

    def forward(
        self,
        char_ids: Tensor,
        state: Optional[LSTMState] = None,
        *,
        keep_boundaries: bool = False,
        matmul_dtype: Optional[torch.dtype] = None,
    ) -> BiLMOutput:
        """Run the biLM on character ids.

        :param char_ids: Character ids from ``batch_to_ids``, right-padded with all-zero
            tokens. *Shape:* ``(batch_size, T, 50)``.
        :param state: Initial LSTM state of every row (``None`` for zeros).
        :param keep_boundaries: Keep the ``<S>``/``</S>`` positions in the output.
        :param matmul_dtype: dtype of the LSTMs' matrix products without autograd (``None``:
            exact; see :meth:`ElmoLstm.forward`).
        """
        token_emb = self.embed_tokens(char_ids)
        lengths = (char_ids > 0).any(dim=2).sum(dim=1)
        return self.contextualize(
            token_emb, lengths, state, keep_boundaries=keep_boundaries, matmul_dtype=matmul_dtype
        )

    def contextualize(
        self,
        token_emb: Tensor,
        lengths: Tensor,
        state: Optional[LSTMState] = None,
        *,
        keep_boundaries: bool = False,
        matmul_dtype: Optional[torch.dtype] = None,
    ) -> BiLMOutput:
        """Run the LSTMs over token vectors from the char CNN.

        :param token_emb: Token vectors; positions past a row's length are ignored.
            *Shape:* ``(batch_size, T, P)``.
        :param lengths: Number of tokens per row. *Shape:* ``(batch_size,)``.
        :param state: Initial state of every row (``None`` for zeros).
        :param keep_boundaries: Keep the ``<S>``/``</S>`` positions in the output.
        :param matmul_dtype: dtype of the LSTMs' matrix products (see :meth:`forward`).
        """
        B, T, P = token_emb.shape
        device = token_emb.device
        lengths = lengths.to(device=device, dtype=torch.long)
        n = lengths + 2  # with <S> and </S>
        T2 = T + 2
        positions = torch.arange(T2, device=device).unsqueeze(0)  # (1, T2)
        mask2 = positions < n.unsqueeze(1)  # (B, T2)
        bos, eos = self.encode_ids(self.boundary_ids)  # (P,), (P,)
        x = token_emb.new_zeros(B, T2, P)
        if T:
            word_mask = (positions[:, 1 : T + 1] <= lengths.unsqueeze(1)).unsqueeze(2)
            x[:, 1 : T + 1] = token_emb * word_mask
        x[:, 0] = bos
        x[torch.arange(B, device=device), n - 1] = eos

        # Sort rows by length, descending, so the LSTM can shrink its active rows.
        order = torch.argsort(n, descending=True, stable=True)
        unorder = torch.empty_like(order)
        unorder[order] = torch.arange(B, device=device)
        x_s, n_s = x[order], n[order]
        inputs = torch.stack([x_s, reverse_within_length(x_s, n_s)])  # (2, B, T2, P)
        if state is not None:
            state = state.index_rows(order)
        out, final = self.lstm(inputs, n_s, state, matmul_dtype=matmul_dtype)  # (L, 2, B, T2, P)
        del inputs, x_s
        final = final.index_rows(unorder)
        # Every layer written straight into one tensor, rows back in input order and, unless
        # kept, without the boundary positions: at full size each intermediate (cat, unsort,
        # cat, slice) would be another ~25 MB per batch of 32.
        keep = slice(0, T2) if keep_boundaries else slice(1, T + 1)  # word t at position t + 1
        layers = x.new_empty(out.shape[0] + 1, B, keep.stop - keep.start, 2 * P)
        layers[0].view(B, -1, 2, P).copy_(x[:, keep].unsqueeze(2))  # [x; x], no temporary
        layers[1:, order, :, :P] = out[:, 0, :, keep]
        layers[1:, order, :, P:] = reverse_within_length(out[:, 1], n_s)[:, :, keep]
        del out
        mask = mask2 if keep_boundaries else positions[:, :T] < lengths.unsqueeze(1)
        layers.mul_(mask.unsqueeze(0).unsqueeze(3))  # zeros at padding (and </S> if removed)
        return BiLMOutput(layers, mask, final)

    def _check_char_ids(self, char_ids: Tensor) -> None:
        n_chars = self.id_width
        if char_ids.dim() != 3 or char_ids.shape[2] != n_chars:
            raise ElmoInputError(Errors.E101.format(n_chars=n_chars, shape=tuple(char_ids.shape)))
        chars = char_ids[..., : self.config.char_cnn.max_characters_per_token]
        max_id = MAX_CHAR_ID if self.vocabulary is None else self.config.char_cnn.n_characters - 1
        if chars.numel() and (int(chars.min()) < 0 or int(chars.max()) > max_id):
            bad = int(chars.min()) if int(chars.min()) < 0 else int(chars.max())
            raise ElmoInputError(Errors.E102.format(value=bad, max_id=max_id))
        if self.word_embedding is not None and char_ids.numel():
            words, n_words = char_ids[..., -1], self.word_embedding.embed.shape[0] - 1
            if int(words.min()) < 0 or int(words.max()) > n_words:
                raise ElmoInputError(Errors.E102.format(value=int(words.max()), max_id=n_words))
