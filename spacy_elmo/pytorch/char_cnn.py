"""Character CNN: context-independent token vectors from characters (docs/format.md §6)."""

from typing import List, Optional, cast

import torch
from torch import Tensor, nn

from ..errors import ElmoInputError, Errors
from .config import CharCNNConfig
from .highway import Highway

# Filter outputs held at once before pooling: 2^22 floats (16 MiB). At full size (44 windows
# of 1024 filters) that is 93 words per GEMM, plenty of rows for full speed, where a batch's
# ~500 new words at once made ~140 MB of short-lived buffers that the allocator then kept.
_CONV_BLOCK_ELEMENTS = 1 << 22


def conv_windows(x: Tensor, conv: nn.Conv1d) -> Tensor:
    """A VALID convolution as one GEMM over all windows (faster than ``Conv1d`` on CPU for
    these narrow inputs): windows ``(N * (C - w + 1), w * e) @ (w * e, n)``.

    :param x: Character embeddings. *Shape:* ``(N, C, e)``.
    :param conv: The filter bank: ``weight`` *Shape:* ``(n, e, w)``, ``bias`` *Shape:* ``(n,)``.
    :returns: The filter outputs of every window, before pooling.
        *Shape:* ``(N, C - w + 1, n)``.
    """
    if conv.bias is None:
        raise ElmoInputError(
            Errors.E110.format(name="conv", value=conv, expected="a Conv1d with bias=True")
        )
    N, C, e = x.shape
    n, _, w = conv.weight.shape
    windows = x.unfold(1, w, 1).transpose(2, 3).reshape(N * (C - w + 1), w * e)
    kernel = conv.weight.permute(2, 1, 0).reshape(w * e, n)
    return torch.addmm(conv.bias, windows, kernel).view(N, C - w + 1, n)


class CharCNN(nn.Module):
    """Character embeddings -> convolutions -> max-pool -> activation -> highway -> projection.

    Runs on real tokens only: the caller never passes padding positions, so no work is spent
    on them (AllenNLP runs its CNN over every padded position).
    """

    def __init__(
        self, *, config: CharCNNConfig, output_dim: int, device: Optional[torch.device] = None
    ):
        """
        :param config: The char-CNN architecture.
        :param output_dim: Output width ``P`` (the LSTM projection size).
        :param device: Device to create the parameters on.
        """
        super().__init__()
        self.config = config
        e = config.embedding_dim
        # Row 0 is the padding id and stays zero; the file stores rows 1..261.
        self.char_embed = nn.Parameter(torch.empty(config.n_characters, e, device=device))
        self.convs = nn.ModuleList([nn.Conv1d(e, n, w, device=device) for w, n in config.filters])
        F = config.n_filters
        self.highway = Highway(width=F, n_layers=config.n_highway, device=device)
        # [in, out] as in the file.
        self.proj_weight = nn.Parameter(torch.empty(F, output_dim, device=device))
        self.proj_bias = nn.Parameter(torch.zeros(output_dim, device=device))
        self._activation = torch.tanh if config.activation == "tanh" else torch.relu
        self.reset_parameters()

    @property
    def output_dim(self) -> int:
        return self.proj_weight.shape[1]

    @property
    def conv_layers(self) -> List[nn.Conv1d]:
        """``convs`` with their type: one ``Conv1d`` (with a bias) per filter width, in the
        order of ``config.filters``. ``ModuleList`` iterates as plain ``Module``s."""
        return [cast(nn.Conv1d, conv) for conv in self.convs]

    def reset_parameters(self) -> None:
        with torch.no_grad():
            nn.init.uniform_(self.char_embed, -1.0, 1.0)
            self.char_embed[0].zero_()
            for conv in self.conv_layers:
                nn.init.uniform_(conv.weight, -0.05, 0.05)
                if conv.bias is not None:  # always: built with bias=True
                    conv.bias.zero_()
            nn.init.normal_(self.proj_weight, std=(1.0 / self.proj_weight.shape[0]) ** 0.5)
            self.proj_bias.zero_()

    def forward(self, char_ids: Tensor) -> Tensor:
        """
        :param char_ids: Character ids of real tokens. *Shape:* ``(N, 50)``, int64.
        :returns: Token vectors. *Shape:* ``(N, P)``.
        """
        if char_ids.shape[0] == 0:
            return self.proj_weight.new_zeros((0, self.output_dim))
        C = char_ids.shape[1]
        widest = max(n * (C - w + 1) for w, n in self.config.filters)
        block = max(1, _CONV_BLOCK_ELEMENTS // widest)
        pooled = torch.cat([self._pool(ids) for ids in char_ids.split(block)])  # (N, F)
        return self.project_pooled(pooled)

    def _pool(self, char_ids: Tensor) -> Tensor:
        """Max-pooled filter outputs of every filter width. *(n, 50) -> (n, F)*"""
        x = nn.functional.embedding(char_ids, self.char_embed)  # (n, 50, e)
        # Max over every window, including those over end-of-word and char-pad slots.
        pooled = [conv_windows(x, conv).amax(dim=1) for conv in self.conv_layers]  # (n, f) each
        return torch.cat(pooled, dim=1)

    def make_lean(self, dtype: torch.dtype) -> None:
        """Keep the highway weights only in ``dtype`` (see :meth:`Highway.make_lean`): they
        are 93 % of the char CNN at full size. The convolutions and the projection stay
        float32 (small, and the projection feeds every layer directly)."""
        self.highway.make_lean(dtype)

    def project_pooled(self, pooled: Tensor) -> Tensor:
        """Activation, highway layers and projection of the max-pooled filter outputs.

        :param pooled: *Shape:* ``(N, F)``.
        :returns: Token vectors. *Shape:* ``(N, P)``.
        """
        h = self.highway(self._activation(pooled))  # (N, F)
        return torch.addmm(self.proj_bias, h, self.proj_weight)  # (N, P)
