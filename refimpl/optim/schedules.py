"""Learning-rate schedules as LambdaLR objects (torch.optim.lr_scheduler.LambdaLR behaviour).

    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=10, num_training_steps=100)
    for batch in data: ...; opt.step(); sched.step()

Each group's lr is base_lr * f(step), where base_lr is the group's lr when the scheduler was built
(stored as group["initial_lr"]) and step counts scheduler.step() calls (0 right after construction,
which already sets lr = base_lr * f(0)). The factors are those of transformers.optimization:

    warm-up (step < W):  f = step / max(1, W)                        (from 0 up to 1)
    constant:            f = 1
    linear:              f = max(0, (T - step) / max(1, T - W))        (down to 0 at T)
    cosine:              f = max(0, 0.5 (1 + cos(2 pi cycles progress))), progress = (step - W) / max(1, T - W)
                         (optionally floored at min_lr_rate: f (1 - r) + r)
"""
from __future__ import annotations

import math
from typing import Callable, List, Sequence, Union

from ..core.errors import ConfigError
from .optimizer import Optimizer


class LambdaLR:
    """Set every group's lr to base_lr * lr_lambda(last_epoch); one lambda for all groups or one per group."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Union[Callable[[int], float], Sequence[Callable]],
                 last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise ConfigError(f"optimizer: expected a refimpl Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ConfigError(f"lr_lambda: expected {len(optimizer.param_groups)} functions (one per group), "
                                  f"got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        if last_epoch == -1:
            for g in optimizer.param_groups:
                g.setdefault("initial_lr", g["lr"])
        else:
            for i, g in enumerate(optimizer.param_groups):
                if "initial_lr" not in g:
                    raise ConfigError(f"last_epoch: resuming at {last_epoch} needs param_groups[{i}]['initial_lr'] "
                                      f"(load the optimizer's state_dict first)")
        self.base_lrs: List[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()                                          # lr = base_lr * f(last_epoch + 1)

    def get_lr(self) -> List[float]:
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]

    def step(self) -> None:
        """Advance one step and write the new lr into every group."""
        self.last_epoch += 1
        self._last_lr = self.get_lr()
        for g, lr in zip(self.optimizer.param_groups, self._last_lr):
            g["lr"] = lr

    def get_last_lr(self) -> List[float]:
        """The lr of each group set by the latest step()."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs), "_last_lr": list(self._last_lr)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = list(state_dict["base_lrs"])
        self._last_lr = list(state_dict["_last_lr"])


def _steps(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name}: expected a non-negative integer, got {value!r}")
    return value


def _warmup(step: int, warmup: int) -> float:
    return float(step) / float(max(1, warmup))               # 0 -> 1 over the warm-up


def get_constant_schedule(optimizer: Optimizer, last_epoch: int = -1) -> LambdaLR:
    """lr = base_lr throughout."""
    return LambdaLR(optimizer, lambda step: 1.0, last_epoch)


def get_constant_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, last_epoch: int = -1) -> LambdaLR:
    """Linear warm-up from 0 to base_lr over num_warmup_steps, then constant."""
    W = _steps(num_warmup_steps, "num_warmup_steps")

    def f(step):
        return _warmup(step, W) if step < W else 1.0
    return LambdaLR(optimizer, f, last_epoch)


def get_linear_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int,
                                    last_epoch: int = -1) -> LambdaLR:
    """Linear warm-up from 0 to base_lr, then linear decay to 0 at num_training_steps (0 afterwards)."""
    W = _steps(num_warmup_steps, "num_warmup_steps")
    T = _steps(num_training_steps, "num_training_steps")

    def f(step):
        if step < W:
            return _warmup(step, W)
        return max(0.0, float(T - step) / float(max(1, T - W)))
    return LambdaLR(optimizer, f, last_epoch)


def get_cosine_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int,
                                    num_cycles: float = 0.5, last_epoch: int = -1,
                                    min_lr_rate: float = 0.0) -> LambdaLR:
    """Linear warm-up, then cosine decay from base_lr to base_lr * min_lr_rate (0 by default);
    num_cycles = 0.5 is half a cosine wave over the decay."""
    W = _steps(num_warmup_steps, "num_warmup_steps")
    T = _steps(num_training_steps, "num_training_steps")
    cycles, r = float(num_cycles), float(min_lr_rate)
    if not 0.0 <= r <= 1.0:
        raise ConfigError(f"min_lr_rate: expected a value in [0, 1], got {min_lr_rate!r}")

    def f(step):
        if step < W:
            return _warmup(step, W)
        progress = float(step - W) / float(max(1, T - W))
        factor = 0.5 * (1.0 + math.cos(math.pi * cycles * 2.0 * progress))
        if r:
            factor = factor * (1 - r) + r
        return max(0.0, factor)
    return LambdaLR(optimizer, f, last_epoch)
