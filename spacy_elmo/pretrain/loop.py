"""The pretraining loop: ``pretrain(config, output_dir)``.

Truncated BPTT over continuous streams (see :mod:`.batching`), the shared adaptive softmax,
gradient clipping, Adam or Adagrad, atomic checkpoints and exact resumption (model,
optimizer, RNG, data position and LSTM states), dev perplexity, a JSON log and a plot.
"""

import hashlib
import json
import math
import os
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union, cast

import numpy as np
import torch

from ..errors import ElmoInputError, Errors
from ..pytorch.bilm import ELMoBiLM
from ..pytorch.config import ELMoConfig, preset
from ..pytorch.lstm import LSTMState
from ..weights import config_from_dict as options_from_dict
from ..weights import config_to_dict as options_to_dict
from ..weights import load_options, load_weights
from . import checkpoint as ckpt
from .batching import StreamBatcher
from .config import OptimizerConfig, PretrainConfig
from .corpus import EncodedText, prepare_corpus
from .ddp import DistContext, average_gradients, broadcast_parameters, cleanup, init_distributed
from .evaluate import evaluate_text, lm_targets
from .lm_head import SharedSoftmax
from .model import BiLMLanguageModel
from .plot import plot_perplexity
from .schedule import check_schedule, learning_rate
from .vocab import Vocab, check_cutoffs

LOG_FILE = "log.jsonl"


def resolve_architecture(model: Union[str, Dict[str, Any]]) -> ELMoConfig:
    """A preset name, a path to an options.json, or an options dictionary."""
    if isinstance(model, dict):
        return options_from_dict(model)
    if Path(model).suffix == ".json" or Path(model).is_file():
        if not Path(model).is_file():
            raise ElmoInputError(Errors.E301.format(what="options file", path=model))
        return load_options(model)
    return preset(model)


def build_model(
    arch: ELMoConfig, vocab: Vocab, config: PretrainConfig, device: Optional[torch.device] = None
) -> BiLMLanguageModel:
    cutoffs = check_cutoffs(list(config.softmax.cutoffs), len(vocab))
    softmax = SharedSoftmax(
        input_dim=arch.lstm.projection_dim,
        n_words=len(vocab),
        cutoffs=cutoffs,
        div_value=config.softmax.div_value,
        device=device,
    )
    bilm = ELMoBiLM(arch, device=device)
    return BiLMLanguageModel(bilm=bilm, softmax=softmax, dropout=config.training.dropout)


def make_optimizer(model: torch.nn.Module, config: PretrainConfig) -> torch.optim.Optimizer:
    o = config.optimizer
    if o.name == "adam":
        # tuple(): betas given as a list in Python code still reach the optimizer (and its
        # state_dict in checkpoints) as a tuple. The config declares two floats.
        betas = cast(Tuple[float, float], tuple(o.betas))
        return torch.optim.AdamW(
            model.parameters(), lr=o.lr, betas=betas, weight_decay=o.weight_decay
        )
    if o.name == "adagrad":
        return torch.optim.Adagrad(
            model.parameters(),
            lr=o.lr,
            initial_accumulator_value=o.adagrad_init,
            weight_decay=o.weight_decay,
        )
    raise ElmoInputError(
        Errors.E310.format(key="optimizer.name", value=o.name, expected="'adam' or 'adagrad'")
    )


def softmax_payload(model: BiLMLanguageModel) -> Dict[str, Any]:
    return {"state_dict": model.softmax.state_dict(), **model.softmax.spec()}


def _fingerprint(
    arch: ELMoConfig, vocab: Vocab, text: EncodedText, config: PretrainConfig
) -> Dict[str, Any]:
    """What must not change between a run and its resumption."""
    return {
        "architecture": options_to_dict(arch),
        "vocab": hashlib.sha1("\n".join(vocab.words).encode("utf8")).hexdigest(),
        "corpus": [text.n_tokens, text.n_sentences, len(text.types)],
        "batching": asdict(config.batching),
        "softmax": asdict(config.softmax),
        "optimizer": _optimizer_fingerprint(config.optimizer),
        "seed": config.training.seed,
        "dropout": config.training.dropout,
    }


def _optimizer_fingerprint(o: OptimizerConfig) -> Dict[str, Any]:
    """The optimizer settings; schedule keys only when set, so that checkpoints written
    before schedules existed still resume."""
    values = asdict(o)
    defaults = asdict(OptimizerConfig())
    for key in ("schedule", "min_lr", "decay_steps"):
        if values[key] == defaults[key]:
            del values[key]
    return values


def _check_fingerprint(found: Dict[str, Any], expected: Dict[str, Any], path: Path) -> None:
    # Tuples and lists compare equal after a JSON round trip (checkpoints may hold either).
    found, expected = json.loads(json.dumps(found)), json.loads(json.dumps(expected))
    for key in expected:
        if found.get(key) != expected[key]:
            raise ElmoInputError(
                Errors.E304.format(path=path, key=key, found=found.get(key), expected=expected[key])
            )


def _read_log(path: Path, upto_step: int) -> List[Dict[str, Any]]:
    """Log records up to ``upto_step`` (a killed run may have logged past its checkpoint)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if rec.get("step", 0) <= upto_step:
            out.append(rec)
    return out


def _init_from(init_dir: Path, model: BiLMLanguageModel, vocab: Vocab) -> bool:
    """Load the biLM (and the softmax when it was saved with this vocabulary)."""
    load_weights(model.bilm, init_dir / "weights.hdf5")
    sm = init_dir / "softmax.pt"
    if sm.is_file() and (init_dir / "vocab.txt").is_file():
        payload = torch.load(sm, map_location="cpu", weights_only=False)
        if Vocab.load(init_dir / "vocab.txt").words == vocab.words and payload["n_words"] == len(
            vocab
        ):
            try:
                model.softmax.load_state_dict(payload["state_dict"])
                return True
            except RuntimeError:
                return False
    return False


def pretrain(
    config: PretrainConfig,
    output_dir: Union[str, Path],
    *,
    init_weights: Optional[Union[str, Path]] = None,
    device: Optional[str] = None,
    progress: bool = True,
) -> Dict[str, Any]:
    """Train (or resume training) a biLM; see the module docstring.

    Re-running the same call after an interruption continues from the newest checkpoint in
    ``output_dir/checkpoints``. At the end, ``output_dir`` holds ``options.json``,
    ``weights.hdf5`` (the biLM), ``softmax.pt`` and ``vocab.txt`` (to continue training),
    ``log.jsonl`` and ``perplexity.png``.

    :returns: The final record: step, tokens, last train/dev perplexities.
    """
    ctx = init_distributed(device)
    try:
        return _pretrain(config, Path(output_dir), init_weights, ctx, progress)
    finally:
        cleanup(ctx)


def _pretrain(
    config: PretrainConfig,
    out: Path,
    init_weights: Optional[Union[str, Path]],
    ctx: DistContext,
    progress: bool,
) -> Dict[str, Any]:
    tc, bc, dc = config.training, config.batching, config.data
    check_schedule(config.optimizer)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    out.mkdir(parents=True, exist_ok=True)
    root = out / "checkpoints"
    root.mkdir(exist_ok=True)
    init_dir = Path(init_weights) if init_weights else None
    if init_dir is not None:
        missing = [n for n in ("options.json", "weights.hdf5") if not (init_dir / n).is_file()]
        if missing:
            raise ElmoInputError(Errors.E305.format(path=init_dir, missing=", ".join(missing)))

    # Data: rank 0 tokenizes and caches; the others read the cache.
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
    text: EncodedText = texts["train"]
    dev_texts: List[EncodedText] = texts["dev"]

    if (
        init_dir is not None
        and (init_dir / "vocab.txt").is_file()
        and (init_dir / "softmax.pt").is_file()
    ):
        vocab = Vocab.load(init_dir / "vocab.txt")
    else:
        vocab = Vocab.from_counts(text, size=dc.vocab_size, min_count=dc.min_count)
    arch = (
        load_options(init_dir / "options.json") if init_dir else resolve_architecture(config.model)
    )
    torch.manual_seed(tc.seed)
    model = build_model(arch, vocab, config).to(ctx.device)
    if init_dir is not None:
        _init_from(init_dir, model, vocab)
    optimizer = make_optimizer(model, config)
    fingerprint = _fingerprint(arch, vocab, text, config)

    batcher = StreamBatcher(
        text,
        n_rows=bc.batch_size * ctx.world_size,
        unroll_steps=bc.unroll_steps,
        rows=slice(ctx.rank * bc.batch_size, (ctx.rank + 1) * bc.batch_size),
        seed=tc.seed,
        shuffle=bc.shuffle,
    )
    total_steps = (
        tc.max_steps if tc.max_steps is not None else tc.max_epochs * batcher.steps_per_epoch
    )

    # Resume.
    step, state, tokens_done = 0, None, 0
    latest_dir = ckpt.latest(root)
    if latest_dir is not None:
        shared = ckpt.load(latest_dir, "model.pt")
        if shared["world_size"] != ctx.world_size:
            raise ElmoInputError(
                Errors.E311.format(path=out, found=ctx.world_size, expected=shared["world_size"])
            )
        _check_fingerprint(shared["fingerprint"], fingerprint, latest_dir)
        model.load_state_dict(shared["model"])
        optimizer.load_state_dict(shared["optimizer"])
        step, tokens_done = shared["step"], shared["tokens"]
        mine = ckpt.load(latest_dir, f"rank{ctx.rank}.pt")
        if mine["state"] is not None:
            state = LSTMState(*(t.to(ctx.device) for t in mine["state"]))
        torch.set_rng_state(mine["rng"])
        if ctx.device.type == "cuda" and mine.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(mine["cuda_rng"], ctx.device)
    else:
        broadcast_parameters(model, ctx)
    log_path = out / LOG_FILE
    history = _read_log(log_path, step) if ctx.is_main else []
    if ctx.is_main:
        vocab.save(out / "vocab.txt")
        ckpt.atomic_write_json(config.to_dict(), out / "config.json")
        tmp = log_path.with_name(log_path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in history), encoding="utf8")
        os.replace(tmp, log_path)

    type_to_out = torch.from_numpy(vocab.lookup(text.types))
    char_table = text.char_table().to(ctx.device)
    params = [p for p in model.parameters() if p.requires_grad]
    tokens_per_step = bc.batch_size * bc.unroll_steps * ctx.world_size

    last_plot = [0.0]

    def save(at_step: int) -> None:
        if ctx.is_main:
            ckpt.write_shared(
                root,
                at_step,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": at_step,
                    "tokens": tokens_done,
                    "world_size": ctx.world_size,
                    "fingerprint": fingerprint,
                    "options": options_to_dict(arch),
                    "vocab": vocab.words,
                    "softmax": model.softmax.spec(),
                },
            )
        ckpt.write_rank(
            root,
            at_step,
            ctx.rank,
            {
                "state": None if state is None else tuple(t.cpu() for t in state),
                "rng": torch.get_rng_state(),
                "cuda_rng": (
                    torch.cuda.get_rng_state(ctx.device) if ctx.device.type == "cuda" else None
                ),
            },
        )
        ctx.barrier()
        if ctx.is_main:
            ckpt.commit(root, at_step, world_size=ctx.world_size, keep=tc.keep_checkpoints)
            if time.time() - last_plot[0] > 60:  # a live run keeps a current plot
                plot_perplexity(history, out / "perplexity.png")
                last_plot[0] = time.time()
        ctx.barrier()

    def evaluate() -> Dict[str, float]:
        record: Dict[str, float] = {}
        if ctx.is_main:
            for f, dev in zip(dc.dev, dev_texts):
                r = evaluate_text(
                    model,
                    dev,
                    vocab,
                    batch_size=bc.batch_size,
                    unroll_steps=bc.unroll_steps,
                    max_tokens=dc.dev_max_tokens,
                    device=ctx.device,
                )
                name = Path(f.path).name
                record[f"dev_ppl_fwd:{name}"] = r["forward"]
                record[f"dev_ppl_bwd:{name}"] = r["backward"]
                record[f"dev_ppl:{name}"] = r["average"]
        ctx.barrier()
        return record

    bar = None
    if progress and ctx.is_main:
        from tqdm import tqdm

        bar = tqdm(
            total=total_steps, initial=step, unit="step", dynamic_ncols=True, mininterval=2.0
        )
    model.train()
    window_nll = torch.zeros(2, dtype=torch.float64)
    window_n = torch.zeros(2, dtype=torch.float64)
    t_start = t_window = last_ckpt = time.time()
    window_steps = 0
    last: Dict[str, Any] = {"step": step, "tokens": tokens_done}
    o = config.optimizer
    while step < total_steps:
        if step > 0 and batcher.is_epoch_start(step):
            state = None  # a new shuffle: the streams do not continue
        window = batcher.window(step)
        inputs = torch.from_numpy(np.ascontiguousarray(window.inputs, dtype=np.int64)).to(
            ctx.device
        )
        targets = lm_targets(window.targets, type_to_out).to(ctx.device)
        if o.warmup_steps or o.schedule != "constant":
            for g in optimizer.param_groups:
                g["lr"] = learning_rate(step, o, total_steps)
        result = model(inputs, targets, char_table, state)
        optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        average_gradients(params, ctx)
        if o.clip_norm:
            torch.nn.utils.clip_grad_norm_(params, o.clip_norm)
        optimizer.step()
        state = result.state.detach()
        step += 1
        tokens_done += tokens_per_step
        window_steps += 1
        window_nll += result.nll.double().cpu()
        window_n += result.n_targets.double().cpu()

        if bar is not None:
            bar.update(1)
            if step % 10 == 0:
                per = (result.nll / result.n_targets.clamp(min=1)).double()
                elapsed = max(time.time() - t_window, 1e-9)
                bar.set_postfix(
                    tok_s=f"{window_steps * tokens_per_step / elapsed:.0f}",
                    loss=f"{float(result.loss):.3f}",
                    ppl=f"{math.exp(float(per.mean())):.1f}",
                )
        finished = step >= total_steps
        do_log = finished or (tc.log_every_steps and step % tc.log_every_steps == 0)
        do_eval = bool(dev_texts) and (
            finished or (tc.eval_every_steps and step % tc.eval_every_steps == 0)
        )
        if do_log or do_eval:
            nll, n = ctx.sum(window_nll), ctx.sum(window_n)
            elapsed = max(time.time() - t_window, 1e-9)
            per = (nll / n.clamp(min=1)).tolist()
            record: Dict[str, Any] = {
                "step": step,
                "tokens": tokens_done,
                "epoch": step / batcher.steps_per_epoch,
                "time": time.time(),
                "tokens_per_s": window_steps * tokens_per_step / elapsed,
                "train_ppl_fwd": math.exp(per[0]),
                "train_ppl_bwd": math.exp(per[1]),
                "train_ppl": math.exp(sum(per) / 2),
                "lr": optimizer.param_groups[0]["lr"],
            }
            if do_eval:
                record.update(evaluate())
            if ctx.is_main:
                with log_path.open("a", encoding="utf8") as f:
                    f.write(json.dumps(record) + "\n")
                history.append(record)
            last = record
            window_nll.zero_()
            window_n.zero_()
            window_steps = 0
            t_window = time.time()
        due = finished or (tc.checkpoint_every_steps and step % tc.checkpoint_every_steps == 0)
        timed = (
            bool(tc.checkpoint_every_minutes)
            and time.time() - last_ckpt > 60 * tc.checkpoint_every_minutes
        )
        if ctx.any(bool(due or timed)):
            save(step)
            last_ckpt = time.time()
    if bar is not None:
        bar.close()
    if ctx.is_main:
        from .export import export_model

        export_model(model, arch, vocab, out)
        plot_perplexity(history, out / "perplexity.png")
    last["wall_s"] = time.time() - t_start
    # Identical on every rank after a correct data-parallel run (checked by the tests).
    last["param_digest"] = hashlib.sha1(
        b"".join(p.detach().cpu().contiguous().numpy().tobytes() for p in model.parameters())
    ).hexdigest()
    return last
