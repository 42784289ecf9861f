"""The learning rate of each optimizer step: linear warm-up, then a decay to a floor.

``constant`` (the default) keeps the peak rate after the warm-up, as runs before schedules
existed did. ``linear`` and ``cosine`` decay from the peak (reached after ``warmup_steps``) to
``min_lr`` at ``decay_steps`` (default: the run's last step) and stay there. The settings are
range-checked by :class:`~.config.OptimizerConfig`.
"""

import math

from .config import OptimizerConfig


def learning_rate(step: int, config: OptimizerConfig, total_steps: int) -> float:
    """The learning rate of the update that turns ``step`` into ``step + 1``.

    :param step: Steps done before this update (0 for the first update).
    :param config: Peak ``lr``, ``warmup_steps``, ``schedule``, ``min_lr``, ``decay_steps``.
    :param total_steps: The run's last step; the default end of the decay.
    """
    lr = config.lr
    if config.warmup_steps:
        lr = lr * min(1.0, (step + 1) / config.warmup_steps)
    if config.schedule == "constant":
        return lr
    end = config.decay_steps if config.decay_steps is not None else total_steps
    span = max(1, end - config.warmup_steps)
    progress = min(1.0, max(0.0, (step - config.warmup_steps) / span))
    if progress == 0.0:  # in the warm-up, or at its last step: no decay yet
        return lr
    if config.schedule == "linear":
        factor = 1.0 - progress
    else:  # cosine
        factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.min_lr + (config.lr - config.min_lr) * factor
