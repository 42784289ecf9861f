"""Stacked forward and backward LSTMs with projection and clipping (docs/format.md §8-9).

Both directions run in the same time loop as batched matrix products over a leading
direction axis of size 2. The backward direction is handed its rows already reversed in
time, so every direction runs "forwards" here. The input GEMM of a layer does not depend on
the recurrence and runs for many timesteps at once before their steps.

There are two loops with the same numerics. Under autograd, :func:`lstm_step` builds the
graph out of place. Without autograd (``torch.no_grad``, ``inference_mode`` or frozen
weights), :meth:`ElmoLstm._layer_inference` updates preallocated buffers in place and runs
the input GEMM on real positions only, never on padding. The choice is made per layer: a
frozen layer fed by frozen ones runs the in-place loop even while the layers above it train. Only the inference loop can run its
matrix products in bfloat16 or int8 (``matmul_dtype``, opt-in, not exact; see
:mod:`.products`).

A biLM used only for inference at one reduced precision can drop its float32 weights
(:meth:`ElmoLstm.make_lean`): it then holds each matrix once, in the form its products use,
and anything that needs the float32 weights (training, saving, other precisions) is a coded
error (E120, E121).
"""

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Union, cast

import torch
from torch import Tensor, nn

from ..errors import ElmoInputError, Errors
from ..runtime_settings import PRECISIONS as PRECISION_NAMES
from .config import LSTMConfig
from .packing import layer_products
from .products import LayerProducts, SteppedProducts

# Input pre-activations held at once: 2^22 floats (16 MiB). At D = 4096 that is 64 rows
# per direction, enough for the GEMM to run at full speed.
_XW_BLOCK_ELEMENTS = 1 << 22

# (W_x, W_h, W_p) of one layer: input (2, P, 4D), recurrent (2, P, 4D), projection (2, D, P).
LayerWeights = Tuple[Tensor, Tensor, Tensor]
# User-facing precision names -> dtype of the inference loop's matrix products (int8: the
# weights quantized per output channel, activations per call; see quantize.py).
# The names are runtime_settings.PRECISIONS' (their one owner), in its order.
PRECISIONS = dict(zip(PRECISION_NAMES, (torch.float32, torch.bfloat16, torch.int8), strict=True))
MATMUL_DTYPES = tuple(PRECISIONS.values())
# The float32 weights a lean ElmoLstm no longer holds.
_WEIGHT_LISTS = ("input_weight", "recurrent_weight", "proj_weight")

# layer(l, x, h, c) -> (h_seq, h, c): one layer, both directions; see :func:`stack_layers`.
LayerFn = Callable[[int, Tensor, Tensor, Tensor], Tuple[Tensor, Tensor, Tensor]]


class LSTMState(NamedTuple):
    """Recurrent state of every layer and direction (index 0 forward, 1 backward).

    h: *Shape:* ``(n_layers, 2, batch_size, P)``.
    c: *Shape:* ``(n_layers, 2, batch_size, D)``.
    """

    h: Tensor
    c: Tensor

    @property
    def batch_size(self) -> int:
        return self.h.shape[2]

    def index_rows(self, index: Tensor) -> "LSTMState":
        return LSTMState(self.h.index_select(2, index), self.c.index_select(2, index))

    def detach(self) -> "LSTMState":
        return LSTMState(self.h.detach(), self.c.detach())


def precision_dtype(precision: str) -> torch.dtype:
    """The matmul dtype of a precision name ("float32", "bfloat16", "int8"), validated."""
    if precision not in PRECISIONS:
        raise ElmoInputError(Errors.E114.format(value=precision))
    return PRECISIONS[precision]


def lstm_step(
    xw_t: Tensor,
    h: Tensor,
    c: Tensor,
    W_h: Tensor,
    W_p: Tensor,
    *,
    cell_clip: Optional[float],
    proj_clip: Optional[float],
) -> Tuple[Tensor, Tensor]:
    """One timestep of both directions, out of place (autograd-safe; docs/format.md §8).

    :param xw_t: Input pre-activations, biases included, TF gate order i, j, f, o.
        *Shape:* ``(2, n, 4D)``.
    :param h: Previous projected output. *Shape:* ``(2, n, P)``.
    :param c: Previous cell. *Shape:* ``(2, n, D)``.
    :param W_h: Recurrent weight. *Shape:* ``(2, P, 4D)``.
    :param W_p: Projection. *Shape:* ``(2, D, P)``.
    :param cell_clip: Clip of ``|c|`` before the output tanh (falsy: none).
    :param proj_clip: Clip of ``|h|`` after the projection (falsy: none).
    :returns: The new ``h`` (*Shape:* ``(2, n, P)``) and ``c`` (*Shape:* ``(2, n, D)``), both
        clipped: the carried state is the clipped one.
    """
    z = torch.baddbmm(xw_t, h, W_h)  # (2, n, 4D)
    i, j, f, o = z.chunk(4, dim=2)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(j)
    if cell_clip:
        c = c.clamp(-cell_clip, cell_clip)
    h = torch.bmm(torch.sigmoid(o) * torch.tanh(c), W_p)  # (2, n, P)
    if proj_clip:
        h = h.clamp(-proj_clip, proj_clip)
    return h, c


def stack_layers(
    x: Tensor,
    state: LSTMState,
    layer: LayerFn,
    *,
    use_skip_connections: bool,
    out: Optional[Tensor] = None,
) -> Tuple[Tensor, LSTMState]:
    """Run the layers bottom-up, each on the previous layer's output, with a residual
    connection around every layer but the first (docs/format.md §9).

    :param x: Time-major inputs of layer 0. *Shape:* ``(2, T, B, P)``.
    :param state: Initial state of every layer.
    :param layer: ``layer(l, x, h, c)`` runs layer ``l`` on ``x`` from ``h``
        (*Shape:* ``(2, B, P)``) and ``c`` (*Shape:* ``(2, B, D)``) and returns its outputs
        (*Shape:* ``(2, T, B, P)``) and final ``h`` and ``c``.
    :param use_skip_connections: Add each layer's input to its output (from layer 1).
    :param out: Without autograd, the tensor ``layer`` wrote layer ``l``'s outputs into
        (``out[l]``), residuals then added in place: no stacked copy of every layer.
        *Shape:* ``(n_layers, 2, T, B, P)``.
    :returns: The outputs of every layer, residuals included.
        *Shape:* ``(n_layers, 2, B, T, P)``. And the final state of every layer.
    """
    outputs: List[Tensor] = []
    final_h: List[Tensor] = []
    final_c: List[Tensor] = []
    for l in range(state.h.shape[0]):
        h_seq, h_l, c_l = layer(l, x, state.h[l], state.c[l])
        if l > 0 and use_skip_connections:
            h_seq = h_seq + x if out is None else h_seq.add_(x)
        if out is None:  # else the layer wrote into out[l]
            outputs.append(h_seq)
        final_h.append(h_l)
        final_c.append(c_l)
        x = h_seq
    stacked = torch.stack(outputs) if out is None else out
    return stacked.transpose(2, 3), LSTMState(torch.stack(final_h), torch.stack(final_c))


class ElmoLstm(nn.Module):
    """``n_layers`` LSTM layers with projection per direction (Peters et al., 2018).

    Parameters keep the file's layout and TF gate order (i, j, f, o) so that loading and
    saving are exact copies; the forget-gate bias of +1, which TF adds at run time and never
    stores, is added at run time here too. The only derived copies are the lower-precision
    weights of ``matmul_dtype``, remade whenever a parameter changes (:meth:`products`),
    unless the module is lean (:meth:`make_lean`).
    """

    def __init__(
        self, *, config: LSTMConfig, device: Optional[torch.device] = None, weights: bool = True
    ):
        """
        :param config: The LSTM architecture.
        :param device: Device to create the parameters on.
        :param weights: False for a module to make lean at once (:meth:`set_lean`): its
            weight matrices are empty placeholders, never allocated (biases are).
        """
        super().__init__()
        self.config = config
        L, P, D = config.n_layers, config.projection_dim, config.dim

        def params(*shape: int, matrix: bool = True) -> nn.ParameterList:
            size = shape if weights or not matrix else (2, 0, 0)  # indexable by direction
            return nn.ParameterList(
                [nn.Parameter(torch.empty(*size, device=device)) for _ in range(L)]
            )

        # W_0 rows [0, P) and [P, 2P): (2, P, 4D) per layer, [in, out].
        self.input_weight = params(2, P, 4 * D)
        self.recurrent_weight = params(2, P, 4 * D)
        self.bias = params(2, 4 * D, matrix=False)
        self.proj_weight = params(2, D, P)  # W_P_0, no bias
        self.register_buffer("forget_bias", forget_gate_bias(D, device=device), persistent=False)
        # dtype -> (parameter versions, (W_x, W_h, W_p) per layer): see matmul_weights.
        self._weight_copies: Dict[torch.dtype, Tuple[tuple, List[LayerWeights]]] = {}
        # dtype -> (parameter versions, products per layer): see products.
        self._products: Dict[torch.dtype, Tuple[tuple, List[LayerProducts]]] = {}
        # The precision of a lean module (its only one), else None: see make_lean.
        self.lean_dtype: Optional[torch.dtype] = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        P, D = self.config.projection_dim, self.config.dim
        with torch.no_grad():
            for l in range(self.config.n_layers):
                for w in (self.input_weight[l], self.recurrent_weight[l]):
                    nn.init.uniform_(w, -((1.0 / P) ** 0.5), (1.0 / P) ** 0.5)
                self.bias[l].zero_()
                nn.init.uniform_(self.proj_weight[l], -((1.0 / D) ** 0.5), (1.0 / D) ** 0.5)

    def zero_state(self, batch_size: int) -> LSTMState:
        L, P, D = self.config.n_layers, self.config.projection_dim, self.config.dim
        w = self.bias[0]  # float32 whatever the precision of the products; kept when lean
        return LSTMState(w.new_zeros(L, 2, batch_size, P), w.new_zeros(L, 2, batch_size, D))

    def matmul_weights(self, dtype: torch.dtype) -> List[LayerWeights]:
        """``(W_x, W_h, W_p)`` of every layer in ``dtype``: the parameters themselves in their
        own dtype; otherwise a copy, made on first use and made again whenever a parameter
        has changed since (in place, loaded or moved: tracked by version counters and data
        pointers), so it never goes stale. *Shapes:* ``(2, P, 4D)``, ``(2, P, 4D)``,
        ``(2, D, P)``.
        """
        params = list(zip(self.input_weight, self.recurrent_weight, self.proj_weight))
        if dtype == self.proj_weight[0].dtype:
            return [(w_x, w_h, w_p) for w_x, w_h, w_p in params]
        if dtype not in MATMUL_DTYPES or not dtype.is_floating_point:
            raise ElmoInputError(Errors.E114.format(value=dtype))
        stamp = tuple((w.data_ptr(), w._version) for ws in params for w in ws)
        cached = self._weight_copies.get(dtype)
        if cached is None or cached[0] != stamp:
            with torch.no_grad():
                copies = [(x.to(dtype), h.to(dtype), p.to(dtype)) for x, h, p in params]
            cached = self._weight_copies[dtype] = (stamp, copies)
        return cached[1]

    def products(self, dtype: torch.dtype) -> List[LayerProducts]:
        """The three products of every layer in ``dtype`` (float32, bfloat16 or int8), made
        on first use and made again whenever a parameter has changed since (tracked as in
        :meth:`matmul_weights`). A lean module has only those of its own precision."""
        if dtype not in MATMUL_DTYPES:
            raise ElmoInputError(Errors.E114.format(value=dtype))
        if self.lean_dtype is not None:
            if dtype != self.lean_dtype:
                raise ElmoInputError(
                    Errors.E121.format(lean=_precision_name(self.lean_dtype), asked=dtype)
                )
            return self._products[dtype][1]
        stamp = tuple(
            (w.data_ptr(), w._version)
            for ws in (self.input_weight, self.recurrent_weight, self.proj_weight, self.bias)
            for w in ws
        )
        cached = self._products.get(dtype)
        if cached is None or cached[0] != stamp:
            made = [self._layer_products(dtype, l) for l in range(self.config.n_layers)]
            cached = self._products[dtype] = (stamp, made)
        return cached[1]

    def _layer_products(self, dtype: torch.dtype, l: int) -> LayerProducts:
        bias = self.bias[l] + self.forget_bias  # (2, 4D)
        W = self.input_weight[l], self.recurrent_weight[l], self.proj_weight[l]
        return layer_products(dtype, *W, bias)

    def make_lean(self, dtype: torch.dtype) -> None:
        """Keep the weights only in the form ``dtype``'s products use, layer by layer (so
        at most one layer is held twice), and drop the float32 weight parameters. Afterwards
        the module runs only without autograd and only at ``dtype``; biases stay float32.
        """
        if self.lean_dtype is not None:
            if dtype != self.lean_dtype:
                raise ElmoInputError(
                    Errors.E121.format(lean=_precision_name(self.lean_dtype), asked=dtype)
                )
            return
        if dtype not in MATMUL_DTYPES or dtype == torch.float32:
            raise ElmoInputError(Errors.E114.format(value=dtype))
        made: List[LayerProducts] = []
        for l in range(self.config.n_layers):
            made.append(self._layer_products(dtype, l))
            for name in _WEIGHT_LISTS:  # free layer l's float32 weights now
                getattr(self, name)[l].data = torch.empty(0, device=self.bias[l].device)
        self.set_lean(dtype, made)

    def set_lean(self, dtype: torch.dtype, made: List[LayerProducts]) -> None:
        """Make the module lean with products already made, e.g. by a loader that never held
        every float32 weight at once (``spacy_elmo.weights.lean``)."""
        for name in _WEIGHT_LISTS:
            del self._modules[name]
        self._weight_copies.clear()
        self._products = {dtype: ((), made)}
        self.lean_dtype = dtype

    def __getattr__(self, name: str):
        if name in _WEIGHT_LISTS and self.__dict__.get("lean_dtype") is not None:
            raise ElmoInputError(Errors.E120.format(precision=_precision_name(self.lean_dtype)))
        return super().__getattr__(name)

    def needs_autograd(self, inputs: Tensor, state: Optional[LSTMState] = None) -> bool:
        """Whether a forward pass on ``inputs`` and ``state`` must record a graph: grad mode
        is on and the inputs, the state or a parameter requires grad."""
        if not torch.is_grad_enabled():
            return False
        if inputs.requires_grad or (
            state is not None and (state.h.requires_grad or state.c.requires_grad)
        ):
            return True
        return any(p.requires_grad for p in self.parameters())

    def forward(
        self,
        inputs: Tensor,
        lengths: Tensor,
        state: Optional[LSTMState] = None,
        *,
        matmul_dtype: Optional[torch.dtype] = None,
    ) -> Tuple[Tensor, LSTMState]:
        """Run both directions of every layer.

        :param inputs: Direction-major inputs; the backward rows reversed in time within
            their length. Positions past a row's length must be zero.
            *Shape:* ``(2, batch_size, T, P)``.
        :param lengths: Row lengths, sorted in descending order. *Shape:* ``(batch_size,)``.
        :param state: Initial state (``None`` for zeros). Never modified.
        :param matmul_dtype: dtype of the matrix products when no graph is needed (``None``:
            the parameters' own, exact). ``torch.bfloat16`` rounds the weights, the GEMM
            inputs and their products to bfloat16 (the GEMMs accumulate in float32) and keeps
            biases, gates, cell state, clipping and outputs in float32: 2.8x faster on CPUs
            with bfloat16 GEMMs (AVX512-BF16, AMX) at the full size, off by about 0.3%.
            The autograd loop always runs in the parameters' dtype.
        :returns: The outputs of every layer, residual connections included, zero past each
            row's length. *Shape:* ``(n_layers, 2, batch_size, T, P)``. And the final state of
            every row: the state after its last valid step.
        """
        _, B, T, P = inputs.shape
        cfg = self.config
        if state is None:
            state = self.zero_state(B)
        elif state.h.shape != (cfg.n_layers, 2, B, P) or state.c.shape != (
            cfg.n_layers,
            2,
            B,
            cfg.dim,
        ):
            raise ElmoInputError(
                Errors.E111.format(
                    found=(tuple(state.h.shape), tuple(state.c.shape)),
                    expected=((cfg.n_layers, 2, B, P), (cfg.n_layers, 2, B, cfg.dim)),
                )
            )
        # Number of rows still running at each timestep (rows are sorted by length).
        lengths_list = lengths.tolist()
        n_active = [sum(1 for n in lengths_list if n > t) for t in range(T)]
        x = inputs.transpose(1, 2)  # (2, T, B, P): time-major keeps a step's rows contiguous
        if self.needs_autograd(inputs, state):
            if self.lean_dtype is not None:
                raise ElmoInputError(Errors.E120.format(precision=_precision_name(self.lean_dtype)))
            layer: LayerFn = lambda l, x_l, h, c: self._layer_under_autograd(l, x_l, n_active, h, c)
            return stack_layers(x, state, layer, use_skip_connections=cfg.use_skip_connections)
        default = self.lean_dtype or self.bias[0].dtype
        made = self.products(matmul_dtype or default)
        buf = x.new_empty(cfg.n_layers, 2, T, B, P)  # every layer's outputs, written in place
        layer = lambda l, x_l, h, c: self._layer_inference(
            l, x_l, n_active, h, c, made[l], out=buf[l]
        )
        return stack_layers(x, state, layer, use_skip_connections=cfg.use_skip_connections, out=buf)

    def _layer_under_autograd(
        self, l: int, x: Tensor, n_active: List[int], h: Tensor, c: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Layer ``l`` when the stack records a graph: :meth:`_layer` if anything it computes
        from requires grad, else the in-place loop (the same float32 numerics). A frozen
        layer below trained ones (``trainable_layers = "top"``) then skips the slower
        out-of-place steps and the padding. Shapes as in :meth:`_layer`."""
        params = (self.input_weight[l], self.recurrent_weight[l], self.proj_weight[l])
        if any(t.requires_grad for t in (x, h, c, self.bias[l], *params)):
            return self._layer(l, x, n_active, h, c)
        with torch.no_grad():
            _, T, B, P = x.shape
            products = self._layer_products(self.bias[l].dtype, l)
            return self._layer_inference(
                l, x, n_active, h, c, products, out=x.new_empty(2, T, B, P)
            )

    def _layer(
        self, l: int, x: Tensor, n_active: List[int], h: Tensor, c: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """One layer, both directions, with autograd. ``x``: (2, T, B, P); ``h``: (2, B, P);
        ``c``: (2, B, D). Returns the outputs (2, T, B, P) and the final ``h`` and ``c``."""
        _, T, B, P = x.shape
        D = self.config.dim
        W_h, W_p = self.recurrent_weight[l], self.proj_weight[l]
        bias = (self.bias[l] + self.forget_bias).unsqueeze(1)  # (2, 1, 4D)
        if T == 0:
            return x.new_zeros(2, 0, B, P), h, c
        # The input GEMM does not depend on the recurrence: run it for a block of timesteps
        # at once. Full windows (truncated BPTT in pretraining: every row runs all T steps)
        # take one product; ragged batches use blocks that bound the memory of the
        # (2, T, B, 4D) pre-activations.
        full = n_active[-1] == B
        block = T if full else max(1, _XW_BLOCK_ELEMENTS // max(1, 2 * B * 4 * D))
        steps: List[Tensor] = []
        for t0 in range(0, T, block):
            tb = min(block, T - t0)
            xw = torch.baddbmm(bias, x[:, t0 : t0 + tb].reshape(2, tb * B, P), self.input_weight[l])
            # unbind, not an index per step: the backward of an index would zero-fill and
            # accumulate a gradient of the whole block at every step (O(T^2) memory traffic).
            for t, xw_t in enumerate(xw.view(2, tb, B, 4 * D).unbind(1), start=t0):
                n = n_active[t]
                if n == 0:
                    steps.append(x.new_zeros(2, B, P))
                    continue
                # Full steps pass the tensors themselves (a [:n] view would be one more op).
                rows = (xw_t, h, c) if n == B else (xw_t[:, :n], h[:, :n], c[:, :n])
                h_new, c_new = lstm_step(
                    *rows,
                    W_h,
                    W_p,
                    cell_clip=self.config.cell_clip,
                    proj_clip=self.config.proj_clip,
                )
                if n == B:
                    h, c = h_new, c_new
                    steps.append(h)
                    continue
                # Finished rows keep their last state and output zeros from here on.
                steps.append(torch.cat([h_new, x.new_zeros(2, B - n, P)], dim=1))
                h = torch.cat([h_new, h[:, n:]], dim=1)
                c = torch.cat([c_new, c[:, n:]], dim=1)
        return torch.stack(steps, dim=1), h, c  # (2, T, B, P)

    def _layer_inference(
        self,
        l: int,
        x: Tensor,
        n_active: List[int],
        h0: Tensor,
        c0: Tensor,
        products: LayerProducts,
        *,
        out: Tensor,
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """:meth:`_layer` without autograd: the same products in the same order, computed in
        place in preallocated buffers; the input GEMM skips padding positions.

        ``products``: layer ``l``'s (:meth:`products`): float32 (then they are those of
        :meth:`_layer`, and so are the steps: :class:`_ExactLoop`) or a lower precision
        (products in that one, the rest in ``x``'s dtype; packed products take the leaner
        :class:`_SteppedLoop`). ``x``: (2, T, B, P); ``h0``: (2, B, P); ``c0``: (2, B, D) (not modified).
        Returns the outputs (2, T, B, P), written into ``out`` and zero past each row's
        length, and the final ``h`` and ``c``.
        """
        _, T, B, P = x.shape
        D = self.config.dim
        cell_clip, proj_clip = self.config.cell_clip, self.config.proj_clip
        h, c = h0.clone(), c0.clone()  # (2, B, P), (2, B, D); finished rows stay in place
        out.zero_()
        n_steps = sum(1 for n in n_active if n > 0)  # active rows are a prefix, so are steps
        if n_steps == 0:
            return out, h, c
        # Real positions only, packed time-major: step t's rows follow step t - 1's.
        start = [0]
        for n in n_active[:n_steps]:
            start.append(start[-1] + n)
        row = torch.arange(B, device=x.device)
        n_t = torch.tensor(n_active[:n_steps], device=x.device)
        index = (torch.arange(n_steps, device=x.device)[:, None] * B + row).masked_select(
            row < n_t[:, None]
        )  # (R,): t * B + b for every real position, time-major
        x_packed = x.reshape(2, T * B, P).index_select(1, index)  # (2, R, P)
        max_rows = max(n_active[0], _XW_BLOCK_ELEMENTS // (2 * 4 * D))
        xw_buf = x.new_empty(2 * max_rows * 4 * D)
        step: Union[_ExactLoop, _SteppedLoop]
        if getattr(products, "stepped", False):
            stepped = cast(SteppedProducts, products)
            step = _SteppedLoop(stepped, h0, out, D=D, cell_clip=cell_clip, proj_clip=proj_clip)
        else:
            step = _ExactLoop(products, h, c, out, D=D, cell_clip=cell_clip, proj_clip=proj_clip)
        xw = xw_buf[:0].view(2, 0, 4 * D)
        block_start = 0  # first packed row of the current block
        for t in range(n_steps):
            n = n_active[t]
            if start[t + 1] > block_start + xw.shape[1]:
                # Next block: as many whole steps as fit in max_rows, at least one.
                block_start = start[t]
                end = t + 1
                while end < n_steps and start[end + 1] - block_start <= max_rows:
                    end += 1
                rows = start[end] - block_start
                xw = xw_buf[: 2 * rows * 4 * D].view(2, rows, 4 * D)
                products.input(x_packed[:, block_start : start[end]], xw)
            z = xw[:, start[t] - block_start : start[t + 1] - block_start]  # (2, n, 4D)
            step(t, n, z, c[:, :n])
        if isinstance(step, _SteppedLoop):
            h = step.final_h(n_active[:n_steps])
        return out, h, c


class _ExactLoop:
    """One step of :meth:`ElmoLstm._layer_inference` with products in the file's gate order
    i, j, f, o (float32: the numerics of :func:`lstm_step`), state ``h`` in float32."""

    def __init__(
        self,
        products: LayerProducts,
        h: Tensor,
        c: Tensor,
        out: Tensor,
        *,
        D: int,
        cell_clip: Optional[float],
        proj_clip: Optional[float],
    ):
        self.products, self.h, self.out, self.D = products, h, out, D
        self.cell_clip, self.proj_clip = cell_clip, proj_clip
        self.h_buf = h.new_empty(h.shape[0] * h.shape[1] * h.shape[2])

    def __call__(self, t: int, n: int, z: Tensor, cn: Tensor) -> None:
        D, h, P = self.D, self.h, self.h.shape[2]
        self.products.recurrent(h[:, :n], z)  # TF gate order i j f o
        # The float32 gates stay in the file's order: permuting them would need a permuted
        # copy of the parameters (268 MB at full size) kept in sync with them.
        i, j, fo = z[..., :D], z[..., D : 2 * D], z[..., 2 * D :]
        i.sigmoid_()
        j.tanh_()
        fo.sigmoid_()
        f, o = fo[..., :D], fo[..., D:]
        # c = f * c + i * j, rounded as in lstm_step (not fused into one addcmul).
        cn.mul_(f).add_(i.mul_(j))
        if self.cell_clip:
            cn.clamp_(-self.cell_clip, self.cell_clip)
        m = torch.tanh(cn, out=j).mul_(o)  # j's slot is free: o * tanh(c)
        hn = self.h_buf[: 2 * n * P].view(2, n, P)
        self.products.project(m, hn)
        if self.proj_clip:
            hn.clamp_(-self.proj_clip, self.proj_clip)
        h[:, :n] = hn
        self.out[:, t, :n] = hn


class _SteppedLoop:
    """One step with :class:`~.products.SteppedProducts`: gates i, f, o, j (one sigmoid pass,
    ``addcmul``), ``o * tanh(c)`` written straight in the projection's dtype, and the state
    read by the next recurrent product without a conversion or a copy: the previous step's
    outputs themselves (float32 state, int8) or the projection's own bfloat16 results.
    The final ``h`` is gathered from the outputs once at the end."""

    def __init__(
        self,
        products: SteppedProducts,
        h0: Tensor,
        out: Tensor,
        *,
        D: int,
        cell_clip: Optional[float],
        proj_clip: Optional[float],
    ):
        self.products, self.out, self.D, self.h0 = products, out, D, h0
        self.cell_clip, self.proj_clip = cell_clip, proj_clip
        _, B, P = h0.shape
        # The next step's h when it is not float32: the projection's own outputs.
        self.low: Optional[List[Tensor]] = None
        if products.state_dtype != out.dtype:
            self.low = list(h0.to(products.state_dtype).unbind(0))
        self.m_buf = out.new_empty(2 * B * D, dtype=products.m_dtype)

    def __call__(self, t: int, n: int, z: Tensor, cn: Tensor) -> None:
        D = self.D
        h: Any
        if self.low is not None:  # rows are a prefix: the first n rows, contiguous
            h = [y[:n] for y in self.low]
        else:  # the previous outputs, contiguous per direction: fbgemm reads them as is
            h = self.h0[:, :n] if t == 0 else self.out[:, t - 1, :n]
        self.products.recurrent(h, z)  # gate order i f o j
        gates = z[..., : 3 * D].sigmoid_()
        i, f, o = gates[..., :D], gates[..., D : 2 * D], gates[..., 2 * D :]
        j = z[..., 3 * D :].tanh_()
        cn.mul_(f).addcmul_(i, j)  # c = f * c + i * j
        if self.cell_clip:
            cn.clamp_(-self.cell_clip, self.cell_clip)
        m = self.m_buf[: 2 * n * D].view(2, n, D)
        torch.mul(torch.tanh(cn, out=j), o, out=m)  # o * tanh(c), in the projection's dtype
        low = self.products.project_step(m, self.out[:, t, :n], self.proj_clip)
        if self.low is not None and low is not None:
            self.low = low

    def final_h(self, n_active: List[int]) -> Tensor:
        """Each row's output at its last step (its state), ``h0`` for rows with none."""
        _, T, B, P = self.out.shape
        h = self.h0.clone()
        n0 = n_active[0] if n_active else 0
        if n0:
            last = [sum(1 for n in n_active if n > b) - 1 for b in range(n0)]
            index = torch.tensor([s * B + b for b, s in enumerate(last)], device=h.device)
            h[:, :n0] = self.out.reshape(2, T * B, P).index_select(1, index)
        return h


def _precision_name(dtype: Optional[torch.dtype]) -> str:
    return next((name for name, d in PRECISIONS.items() if d == dtype), str(dtype))


def forget_gate_bias(dim: int, *, device: Optional[torch.device] = None) -> Tensor:
    """The +1 that TF adds to the forget gate at run time and never stores, in gate order
    i, j, f, o. *Shape:* ``(4D,)``."""
    forget = torch.zeros(4 * dim, device=device)
    forget[2 * dim : 3 * dim] = 1.0
    return forget
