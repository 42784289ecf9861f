"""A training-speed path through :class:`~spacy_elmo.pytorch.char_cnn.CharCNN`'s parameters.

Same function as ``CharCNN.forward`` (tested to 1e-6), with its convolution GEMM
(:func:`~spacy_elmo.pytorch.char_cnn.conv_windows`) and its activation, highway and
projection (``CharCNN.project_pooled``), and two changes that matter for backprop:

* Character slots past the longest word of the batch are cut off, keeping enough trailing
  padding slots for one all-padding window per filter width. All-padding windows give the
  same value wherever they sit, so the max-pool is unchanged, and the convolutions run on
  ~25 instead of 50 slots.
* Max-pooling with ``max(dim)`` backpropagates through its argmax indices (a scatter);
  ``amax`` backpropagates by comparing every window with the maximum (the largest single
  cost of a training step in the profile).
"""

import torch
from torch import Tensor

from ..pytorch.char_cnn import CharCNN, conv_windows
from ..pytorch.char_ids import MAX_CHAR_ID

_PAD = MAX_CHAR_ID  # the shifted char-padding id


def char_features(cnn: CharCNN, char_ids: Tensor) -> Tensor:
    """Token vectors of real tokens, as ``cnn(char_ids)``.

    :param cnn: The biLM's char CNN.
    :param char_ids: *Shape:* ``(N, 50)``, int64, no all-zero (padding) tokens.
    :returns: *Shape:* ``(N, P)``.
    """
    N, C = char_ids.shape
    if N == 0:
        return cnn.proj_weight.new_zeros((0, cnn.output_dim))
    w_max = max(w for w, _ in cnn.config.filters)
    # First padding slot of the longest token; keep w_max padding slots after it.
    n_used = int((char_ids != _PAD).sum(dim=1).max())
    C_kept = min(C, n_used + w_max)
    x = torch.nn.functional.embedding(char_ids[:, :C_kept], cnn.char_embed)  # (N, C', e)
    # max(dim) where CharCNN has amax: the same values, a cheaper backward (see above).
    pooled = [conv_windows(x, conv).max(dim=1).values for conv in cnn.conv_layers]  # (N, n) each
    return cnn.project_pooled(torch.cat(pooled, dim=1))  # (N, P)
