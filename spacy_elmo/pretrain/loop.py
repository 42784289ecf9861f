"""The pretraining loop: ``pretrain(config, output_dir)``.

Truncated BPTT over continuous streams (see :mod:`.batching`), the shared adaptive softmax,
gradient clipping, Adam or Adagrad with a learning-rate schedule, atomic checkpoints and
exact resumption (model, optimizer, RNG, data position and LSTM states), dev perplexity, a
JSON log and a plot.

A run is a :class:`TrainingRun` (what is built once) and its :class:`RunState` (what
changes every step), driven through named steps like spaCy's training loop:
prepare data -> build -> resume -> repeat (train step, log/evaluate, checkpoint) -> export.
"""

import hashlib
import math
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch

from ..errors import ElmoInputError, Errors
from ..pytorch.config import ELMoConfig
from ..pytorch.lstm import LSTMState
from ..weights import config_to_dict as options_to_dict
from ..weights import load_options
from . import checkpoint as ckpt
from .batching import StreamBatcher
from .build import (
    InitFiles,
    build_model,
    check_fingerprint,
    check_model_size,
    fingerprint,
    init_from,
    make_optimizer,
    resolve_architecture,
)
from .config import PretrainConfig
from .ddp import DistContext, average_gradients, broadcast_parameters, cleanup, init_distributed
from .evaluate import evaluate_text, lm_targets
from .export import export_model
from .model import BiLMLanguageModel, LMOutput
from .plot import plot_perplexity
from .runlog import LOG_FILE, append_log, read_log, rewrite_log
from .schedule import learning_rate
from .text import EncodedText, prepare_corpus
from .vocab import Vocab


def pretrain(
    config: PretrainConfig,
    output_dir: Union[str, Path],
    *,
    init_weights: Optional[Union[str, Path, InitFiles]] = None,
    device: Optional[str] = None,
    progress: bool = True,
) -> Dict[str, Any]:
    """Train (or resume training) a biLM; see the module docstring.

    ``init_weights``: a folder with ``options.json`` + ``weights.hdf5`` (+ ``softmax.pt`` and
    ``vocab.txt``), or :class:`~.build.InitFiles` (e.g. files resolved from a model name);
    the architecture is then the one of those files.

    Re-running the same call after an interruption continues from the newest checkpoint in
    ``output_dir/checkpoints``. At the end, ``output_dir`` holds ``options.json``,
    ``weights.hdf5`` (the biLM), ``softmax.pt`` and ``vocab.txt`` (to continue training),
    ``log.jsonl`` and ``perplexity.png``.

    :returns: The final record: step, tokens, last train/dev perplexities.
    """
    ctx = init_distributed(device)
    try:
        run = TrainingRun.create(config, Path(output_dir), init_weights, ctx)
        state = run.resume()
        run.write_run_files(state)
        run.train(state, progress=progress)
        return run.finish(state)
    finally:
        cleanup(ctx)


@dataclass
class RunState:
    """Everything that changes while training; what a checkpoint restores."""

    step: int = 0
    tokens: int = 0
    lstm_state: Optional[LSTMState] = None
    history: List[Dict[str, Any]] = field(default_factory=list)
    last: Dict[str, Any] = field(default_factory=dict)
    saved_step: int = 0
    # The current logging window: summed NLL and targets per direction, steps, start time.
    window_nll: torch.Tensor = field(default_factory=lambda: torch.zeros(2, dtype=torch.float64))
    window_n: torch.Tensor = field(default_factory=lambda: torch.zeros(2, dtype=torch.float64))
    window_steps: int = 0
    t_window: float = field(default_factory=time.time)
    t_start: float = field(default_factory=time.time)
    t_checkpoint: float = field(default_factory=time.time)
    t_plot: float = 0.0


def _init_files(init_weights: Optional[Union[str, Path, InitFiles]]) -> Optional[InitFiles]:
    if init_weights is None or isinstance(init_weights, InitFiles):
        return init_weights
    return InitFiles.from_dir(init_weights)


def _prepare_data(config: PretrainConfig, out: Path, ctx: DistContext) -> Dict[str, Any]:
    """The training and dev texts; rank 0 tokenizes and caches, the others read the cache."""
    dc = config.data
    prepare = partial(
        prepare_corpus,
        max_line_chars=dc.max_line_chars,
        max_token_chars=dc.max_token_chars,
        lang=dc.lang,
    )
    texts: Dict[str, Any] = {}
    for turn in (0, 1):
        if ctx.is_main == (turn == 0):
            texts["train"] = prepare(dc.train, out / "data")
            texts["dev"] = [prepare([f], out / "data", what="dev file") for f in dc.dev]
        ctx.barrier()
    return texts


def _vocabulary(config: PretrainConfig, init: Optional[InitFiles], text: EncodedText) -> Vocab:
    """The vocabulary of a continued softmax, or the corpus's most frequent words."""
    if init is not None and init.vocab is not None:
        return Vocab.load(init.vocab)
    return Vocab.from_counts(text, size=config.data.vocab_size, min_count=config.data.min_count)


@dataclass
class TrainingRun:
    """What a run builds once: data, model, optimizer, batcher, paths."""

    config: PretrainConfig
    ctx: DistContext
    out: Path
    arch: ELMoConfig
    vocab: Vocab
    text: EncodedText
    dev_texts: List[EncodedText]
    model: BiLMLanguageModel
    optimizer: torch.optim.Optimizer
    batcher: StreamBatcher
    fingerprint: Dict[str, Any]
    total_steps: int

    @property
    def root(self) -> Path:
        return self.out / "checkpoints"

    @property
    def tokens_per_step(self) -> int:
        bc = self.config.batching
        return bc.batch_size * bc.unroll_steps * self.ctx.world_size

    @classmethod
    def create(
        cls,
        config: PretrainConfig,
        out: Path,
        init_weights: Optional[Union[str, Path, InitFiles]],
        ctx: DistContext,
    ) -> "TrainingRun":
        """Check the settings, prepare the data, build the model and the optimizer."""
        tc, bc = config.training, config.batching
        if tc.threads:
            torch.set_num_threads(tc.threads)
        init = _init_files(init_weights)
        arch = load_options(init.options) if init else resolve_architecture(config.model)
        check_model_size(arch, config.data.vocab_size, "pretraining model")  # before the data
        out.mkdir(parents=True, exist_ok=True)
        (out / "checkpoints").mkdir(exist_ok=True)
        texts = _prepare_data(config, out, ctx)
        vocab = _vocabulary(config, init, texts["train"])
        torch.manual_seed(tc.seed)
        model = build_model(arch, vocab, config).to(ctx.device)
        if init is not None:
            init_from(init, model, vocab)
        batcher = StreamBatcher(
            texts["train"],
            n_rows=bc.batch_size * ctx.world_size,
            unroll_steps=bc.unroll_steps,
            rows=slice(ctx.rank * bc.batch_size, (ctx.rank + 1) * bc.batch_size),
            seed=tc.seed,
            shuffle=bc.shuffle,
        )
        total = (
            tc.max_steps if tc.max_steps is not None else tc.max_epochs * batcher.steps_per_epoch
        )
        return cls(
            config=config,
            ctx=ctx,
            out=out,
            arch=arch,
            vocab=vocab,
            text=texts["train"],
            dev_texts=texts["dev"],
            model=model,
            optimizer=make_optimizer(model, config),
            batcher=batcher,
            fingerprint=fingerprint(arch, vocab, texts["train"], config),
            total_steps=total,
        )

    def resume(self) -> RunState:
        """The state of the newest loadable checkpoint (a fresh state if there is none)."""
        ctx = self.ctx
        found = ckpt.find_checkpoint(self.root, rank=ctx.rank)
        if found is None:
            broadcast_parameters(self.model, ctx)
            return RunState()
        shared, mine = found.shared, found.rank or {}
        if shared["world_size"] != ctx.world_size:
            raise ElmoInputError(
                Errors.E311.format(
                    path=self.out, found=ctx.world_size, expected=shared["world_size"]
                )
            )
        check_fingerprint(shared["fingerprint"], self.fingerprint, found.directory)
        self.model.load_state_dict(shared["model"])
        self.optimizer.load_state_dict(shared["optimizer"])
        state = RunState(step=shared["step"], tokens=shared["tokens"], saved_step=shared["step"])
        if mine["state"] is not None:
            state.lstm_state = LSTMState(*(t.to(ctx.device) for t in mine["state"]))
        torch.set_rng_state(mine["rng"])
        if ctx.device.type == "cuda" and mine.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(mine["cuda_rng"], ctx.device)
        return state

    def write_run_files(self, state: RunState) -> None:
        """vocab.txt, config.json, and the log cut back to the resumed step."""
        state.last = {"step": state.step, "tokens": state.tokens}
        if not self.ctx.is_main:
            return
        log_path = self.out / LOG_FILE
        state.history = read_log(log_path, state.step)
        self.vocab.save(self.out / "vocab.txt")
        ckpt.atomic_write_json(self.config.to_dict(), self.out / "config.json")
        rewrite_log(log_path, state.history)

    # --- the loop -----------------------------------------------------------------------

    def train(self, state: RunState, *, progress: bool) -> None:
        """Steps until ``total_steps``, logging, evaluating and checkpointing on the way."""
        bar = self._progress_bar(state) if progress and self.ctx.is_main else None
        type_to_out = torch.from_numpy(self.vocab.lookup(self.text.types))
        char_table = self.text.char_table().to(self.ctx.device)
        self.model.train()
        state.t_start = state.t_window = state.t_checkpoint = time.time()
        while state.step < self.total_steps:
            result = self.train_step(state, type_to_out, char_table)
            if bar is not None:
                self._update_bar(bar, state, result)
            finished = state.step >= self.total_steps
            self.log_and_evaluate(state, finished)
            self.maybe_checkpoint(state, finished)
        if bar is not None:
            bar.close()

    def train_step(
        self, state: RunState, type_to_out: torch.Tensor, char_table: torch.Tensor
    ) -> LMOutput:
        """One optimizer step on the next window; stops with E313 on a non-finite loss."""
        step, o, device = state.step, self.config.optimizer, self.ctx.device
        if step > 0 and self.batcher.is_epoch_start(step):
            state.lstm_state = None  # a new shuffle: the streams do not continue
        window = self.batcher.window(step)
        inputs = torch.from_numpy(np.ascontiguousarray(window.inputs, dtype=np.int64)).to(device)
        targets = lm_targets(window.targets, type_to_out).to(device)
        if o.warmup_steps or o.schedule != "constant":
            lr = learning_rate(step, o, self.total_steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
        self._freeze_bilm(step)
        result = self.model(inputs, targets, char_table, state.lstm_state)
        self._check_finite(state, result.loss)
        self.optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        params = [p for p in self.model.parameters() if p.requires_grad]
        average_gradients(params, self.ctx)
        if o.clip_norm:
            norm = torch.nn.utils.clip_grad_norm_(params, o.clip_norm)
            self._check_finite(state, norm, what="gradient norm")
        self.optimizer.step()
        state.lstm_state = result.state.detach()
        state.step += 1
        state.tokens += self.tokens_per_step
        state.window_steps += 1
        state.window_nll += result.nll.double().cpu()
        state.window_n += result.n_targets.double().cpu()
        return result

    def _freeze_bilm(self, step: int) -> None:
        """No gradient for the biLM while only the softmax trains (``adapt`` section): its
        parameters stay as loaded, and the backward pass stops at the top layer."""
        a = self.config.adapt
        frozen = step < a.freeze_bilm_steps or a.bilm_lr_scale == 0.0
        for p in self.model.bilm.parameters():
            p.requires_grad_(not frozen)

    def _check_finite(self, state: RunState, value: torch.Tensor, what: str = "loss") -> None:
        if self.ctx.any(not math.isfinite(float(value.detach()))):
            lr = self.optimizer.param_groups[0]["lr"]
            raise ElmoInputError(
                Errors.E313.format(
                    what=what,
                    value=float(value.detach()),
                    step=state.step + 1,
                    lr=lr,
                    last_checkpoint=state.saved_step,
                )
            )

    def log_and_evaluate(self, state: RunState, finished: bool) -> None:
        """Append a record to the log every ``log_every_steps``; dev perplexity with it
        every ``eval_every_steps``."""
        tc, step = self.config.training, state.step
        do_log = finished or (tc.log_every_steps and step % tc.log_every_steps == 0)
        # The end of a softmax-only warm-up is evaluated too: the trained biLM with a softmax
        # for the new text, the baseline that continued training is measured against.
        warmed_up = step == self.config.adapt.freeze_bilm_steps
        do_eval = bool(self.dev_texts) and (
            finished or warmed_up or (tc.eval_every_steps and step % tc.eval_every_steps == 0)
        )
        if not (do_log or do_eval):
            return
        record = self._train_record(state)
        if do_eval:
            record.update(self.evaluate())
        if self.ctx.is_main:
            append_log(self.out / LOG_FILE, record)
            state.history.append(record)
        state.last = record
        state.window_nll.zero_()
        state.window_n.zero_()
        state.window_steps = 0
        state.t_window = time.time()

    def _train_record(self, state: RunState) -> Dict[str, Any]:
        nll, n = self.ctx.sum(state.window_nll), self.ctx.sum(state.window_n)
        elapsed = max(time.time() - state.t_window, 1e-9)
        per = (nll / n.clamp(min=1)).tolist()
        return {
            "step": state.step,
            "tokens": state.tokens,
            "epoch": state.step / self.batcher.steps_per_epoch,
            "time": time.time(),
            "tokens_per_s": state.window_steps * self.tokens_per_step / elapsed,
            "train_ppl_fwd": math.exp(per[0]),
            "train_ppl_bwd": math.exp(per[1]),
            "train_ppl": math.exp(sum(per) / 2),
            "lr": self.optimizer.param_groups[-1]["lr"],  # the softmax's (last group)
            "bilm_frozen": state.step <= self.config.adapt.freeze_bilm_steps
            or self.config.adapt.bilm_lr_scale == 0.0,
        }

    def evaluate(self) -> Dict[str, float]:
        """Dev perplexity per dev file (rank 0)."""
        record: Dict[str, float] = {}
        bc, dc = self.config.batching, self.config.data
        if self.ctx.is_main:
            for f, dev in zip(dc.dev, self.dev_texts):
                r = evaluate_text(
                    self.model,
                    dev,
                    self.vocab,
                    batch_size=bc.batch_size,
                    unroll_steps=bc.unroll_steps,
                    max_tokens=dc.dev_max_tokens,
                    device=self.ctx.device,
                )
                name = Path(f.path).name
                record[f"dev_ppl_fwd:{name}"] = r["forward"]
                record[f"dev_ppl_bwd:{name}"] = r["backward"]
                record[f"dev_ppl:{name}"] = r["average"]
        self.ctx.barrier()
        return record

    def maybe_checkpoint(self, state: RunState, finished: bool) -> None:
        """A checkpoint every ``checkpoint_every_steps``, at least every
        ``checkpoint_every_minutes``, and at the end."""
        tc, step = self.config.training, state.step
        due = finished or (tc.checkpoint_every_steps and step % tc.checkpoint_every_steps == 0)
        timed = (
            bool(tc.checkpoint_every_minutes)
            and time.time() - state.t_checkpoint > 60 * tc.checkpoint_every_minutes
        )
        if self.ctx.any(bool(due or timed)):
            self.save(state)
            state.t_checkpoint = time.time()

    def save(self, state: RunState) -> None:
        """Write every rank's files of this step, then commit it (see :mod:`.checkpoint`)."""
        ctx, step = self.ctx, state.step
        if ctx.is_main:
            ckpt.write_shared(self.root, step, self._shared_payload(state))
        lstm_state = state.lstm_state
        ckpt.write_rank(
            self.root,
            step,
            ctx.rank,
            {
                "state": None if lstm_state is None else tuple(t.cpu() for t in lstm_state),
                "rng": torch.get_rng_state(),
                "cuda_rng": (
                    torch.cuda.get_rng_state(ctx.device) if ctx.device.type == "cuda" else None
                ),
            },
        )
        ctx.barrier()
        if ctx.is_main:
            keep = self.config.training.keep_checkpoints
            ckpt.commit(self.root, step, world_size=ctx.world_size, keep=keep)
            if time.time() - state.t_plot > 60:  # a live run keeps a current plot
                plot_perplexity(state.history, self.out / "perplexity.png")
                state.t_plot = time.time()
        state.saved_step = step
        ctx.barrier()

    def _shared_payload(self, state: RunState) -> Dict[str, Any]:
        """model.pt: tensors, dicts, lists and plain values only (loaded with weights_only)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": state.step,
            "tokens": state.tokens,
            "world_size": self.ctx.world_size,
            "fingerprint": self.fingerprint,
            "options": options_to_dict(self.arch),
            "vocab": self.vocab.words,
            "softmax": self.model.softmax.spec(),
        }

    def finish(self, state: RunState) -> Dict[str, Any]:
        """Export the trained biLM (rank 0); the last record with a parameter digest."""
        if self.ctx.is_main:
            export_model(self.model, self.arch, self.vocab, self.out)
            plot_perplexity(state.history, self.out / "perplexity.png")
        last = dict(state.last)
        last["wall_s"] = time.time() - state.t_start
        # Identical on every rank after a correct data-parallel run (checked by the tests).
        last["param_digest"] = hashlib.sha1(
            b"".join(
                p.detach().cpu().contiguous().numpy().tobytes() for p in self.model.parameters()
            )
        ).hexdigest()
        return last

    # --- progress bar -------------------------------------------------------------------

    def _progress_bar(self, state: RunState) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=self.total_steps,
            initial=state.step,
            unit="step",
            dynamic_ncols=True,
            mininterval=2.0,
        )

    def _update_bar(self, bar: Any, state: RunState, result: LMOutput) -> None:
        bar.update(1)
        if state.step % 10 == 0:
            per = (result.nll / result.n_targets.clamp(min=1)).double()
            elapsed = max(time.time() - state.t_window, 1e-9)
            bar.set_postfix(
                tok_s=f"{state.window_steps * self.tokens_per_step / elapsed:.0f}",
                loss=f"{float(result.loss):.3f}",
                ppl=f"{math.exp(float(per.mean())):.1f}",
            )
