"""Optimizer: the base class of SGD / Adam / AdamW, with torch.optim's param_groups and state_dict layout.

    opt = AdamW(model.named_parameters(), lr=1e-3)          # or model.parameters(), or group dicts:
    opt = AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3)
    loss = ...; model.backward(...); opt.step(); opt.zero_grad()

- `param_groups`: list of dicts {"params": [Parameter, ...], "lr": ..., <hyperparameters>}; a group
  built from (name, Parameter) pairs also carries "param_names" (torch >= 2.6 does the same).
  Missing hyperparameters are filled from the constructor's defaults; a scheduler edits group["lr"].
- `state`: {Parameter: {name: value}} (momentum buffers, moments, the step count).
- A parameter whose grad is None or whose requires_grad is False is skipped by step(): it is not
  moved at all, not even by weight decay (frozen parameters stay frozen).
- Updates are in place (p.data is modified, never replaced), in the parameter's dtype.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy as np

from ..core.errors import ConfigError, DTypeError, ShapeError, StateDictError
from ..core.parameter import Parameter


def _number(value, name: str, *, low: float = 0.0, high: Optional[float] = None, high_open: bool = True) -> float:
    """A finite float in [low, high) (or [low, high] with high_open=False); ConfigError naming `name` otherwise."""
    if isinstance(value, bool):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    ok = np.isfinite(v) and v >= low and (high is None or (v < high if high_open else v <= high))
    if not ok:
        hi = "" if high is None else (f", < {high}" if high_open else f", <= {high}")
        raise ConfigError(f"{name}: expected a finite number >= {low}{hi}, got {value!r}")
    return v


def _to_numpy(value):
    """State values may come from torch (a torch optimizer's state_dict): convert tensors to arrays."""
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().numpy()
    return value


class Optimizer:
    """Base class: parameter groups, state, zero_grad, state_dict; subclasses implement `_update_group`."""

    def __init__(self, params, defaults: Dict[str, Any]):
        self.defaults = dict(defaults)
        self.state: Dict[Parameter, Dict[str, Any]] = {}
        self.param_groups: List[Dict[str, Any]] = []
        if isinstance(params, (Parameter, dict)) or not isinstance(params, Iterable):
            raise ConfigError(f"params: expected an iterable of Parameters, of (name, Parameter) pairs or of "
                              f"group dicts, got {type(params).__name__}")
        params = list(params)
        if not params:
            raise ConfigError("params: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, group: Dict[str, Any]) -> None:
        """Add a group {"params": [...], <hyperparameter overrides>}; defaults fill the rest."""
        if not isinstance(group, dict):
            raise ConfigError(f"params: a parameter group must be a dict, got {type(group).__name__} "
                              f"(do not mix group dicts with plain parameters)")
        if "params" not in group:
            raise ConfigError(f"params: a parameter group needs a 'params' key, got keys {sorted(group)}")
        entries = group["params"]
        if isinstance(entries, Parameter):
            entries = [entries]
        elif isinstance(entries, (set, frozenset)):
            raise ConfigError("params: a group's parameters must be an ordered sequence, not a set "
                              "(the order defines the state_dict ids)")
        entries = list(entries)
        index = len(self.param_groups)
        params, names = [], []
        for i, e in enumerate(entries):
            if isinstance(e, tuple) and len(e) == 2 and isinstance(e[0], str):
                names.append(e[0])
                e = e[1]
            if not isinstance(e, Parameter):
                raise DTypeError(f"params: param_groups[{index}]['params'][{i}] must be a refimpl Parameter "
                                 f"(or a (name, Parameter) pair), got {type(e).__name__}")
            params.append(e)
        if names and len(names) != len(params):
            raise ConfigError(f"params: param_groups[{index}] mixes named (name, Parameter) pairs and plain Parameters")
        new = {k: v for k, v in group.items() if k not in ("params", "param_names")}
        new["params"] = params
        if names:
            new["param_names"] = names
        elif "param_names" in group:
            new["param_names"] = list(group["param_names"])
        for k, v in self.defaults.items():
            new.setdefault(k, v)
        unknown = sorted(set(new) - set(self.defaults) - {"params", "param_names", "initial_lr"})
        if unknown:
            raise ConfigError(f"params: param_groups[{index}] has unknown options {unknown}; "
                              f"{type(self).__name__} takes {sorted(self.defaults)}")
        self._check_group(new, f"param_groups[{index}]")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ConfigError(f"params: param_groups[{index}] repeats a parameter (within the group or from an "
                              f"earlier group); each parameter may appear once")
        self.param_groups.append(new)

    def _check_group(self, group: Dict[str, Any], where: str) -> None:
        """Validate a group's hyperparameters (subclasses); raise ConfigError naming the option."""

    # ------------------------------------------------------------------ step
    def _params_with_grad(self, group, gi):
        """(Parameter, grad, label) for every parameter of the group that takes a step."""
        names = group.get("param_names")
        out = []
        for i, p in enumerate(group["params"]):
            if p.grad is None or not p.requires_grad:
                continue                                     # frozen / unused: left exactly as it is
            label = names[i] if names else f"param_groups[{gi}]['params'][{i}]"
            if p.grad.shape != p.data.shape:
                raise ShapeError(f"{label}: grad shape {p.grad.shape} != parameter shape {p.data.shape}")
            if p.grad.dtype != p.data.dtype:
                raise DTypeError(f"{label}: grad dtype {p.grad.dtype} != parameter dtype {p.data.dtype}")
            out.append((p, p.grad, label))
        return out

    def step(self, closure: Optional[Callable[[], Any]] = None):
        """One update of every parameter with a gradient; returns closure() if one is given (evaluated first)."""
        loss = closure() if closure is not None else None
        for gi, group in enumerate(self.param_groups):
            self._update_group(group, self._params_with_grad(group, gi))
        return loss

    def _update_group(self, group: Dict[str, Any], params) -> None:
        raise NotImplementedError(f"{type(self).__name__}._update_group")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients (grad = None, torch's default) or zero them in place (set_to_none=False)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    # ------------------------------------------------------------------ state dict
    def state_dict(self) -> Dict[str, Any]:
        """{"state": {id: {...}}, "param_groups": [{..., "params": [ids]}]} in torch's layout.

        Ids number the parameters 0, 1, ... in group order. Unlike torch the arrays are copies, so the
        dict is a snapshot that later steps do not change.
        """
        ids: Dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            for p in g["params"]:
                ids.setdefault(id(p), len(ids))
            packed["params"] = [ids[id(p)] for p in g["params"]]
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[ids[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                         for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by state_dict() (also accepts torch's tensors).

        The groups must match in number and size; state arrays must match their parameter's shape and
        are converted to its dtype ("step" becomes a float). Every problem raises StateDictError.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise StateDictError("state_dict: expected a dict with keys 'state' and 'param_groups' "
                                 "(as returned by Optimizer.state_dict())")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise StateDictError(f"state_dict: has {len(saved_groups)} parameter groups, the optimizer "
                                 f"has {len(self.param_groups)}")
        id_to_param = {}
        for gi, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(sg["params"]) != len(g["params"]):
                raise StateDictError(f"state_dict: param_groups[{gi}] has {len(sg['params'])} parameters, the "
                                     f"optimizer's group has {len(g['params'])}")
            id_to_param.update(zip(sg["params"], g["params"]))
        new_state: Dict[Parameter, Dict[str, Any]] = {}
        for pid, pstate in state_dict["state"].items():
            if pid not in id_to_param:
                raise StateDictError(f"state_dict: state for parameter id {pid!r}, which no group lists")
            p = id_to_param[pid]
            converted = {}
            for k, v in pstate.items():
                v = _to_numpy(v)
                if k == "step":
                    converted[k] = float(np.asarray(v))
                elif isinstance(v, np.ndarray):
                    if v.shape != p.data.shape:
                        raise StateDictError(f"state_dict: state[{pid!r}][{k!r}] has shape {v.shape}, the "
                                             f"parameter has {p.data.shape}")
                    converted[k] = v.astype(p.data.dtype, copy=True)
                else:
                    converted[k] = copy.deepcopy(v)
            new_state[p] = converted
        options = [{k: copy.deepcopy(v) for k, v in sg.items() if k != "params"} for sg in saved_groups]
        for gi, (g, o) in enumerate(zip(self.param_groups, options)):
            self._check_group({**g, **o}, f"state_dict['param_groups'][{gi}]")
        for g, o in zip(self.param_groups, options):     # all checked: now change nothing half-way
            g.update(o)
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k not in ("params", "param_names"):
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"
