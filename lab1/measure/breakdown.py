"""Where a profiled step's time goes: by labelled part of the step and by kind of operator.

Input: the profiler's event tree of a phase's active steps. The step is labelled with
``record_function`` (lab1.measure.profiling): the phase (``train_step`` / ``inference``) around
``forward``, ``loss``, ``backward`` and ``optimizer``. Every event's *self* time (its time
minus its children's) is counted once, so the parts are disjoint:

* by part: the self time of every event under a label goes to that label; the rest of the step
  (between and around the labels) is "outside labels";
* by category: each operator's self time goes to its category (OP_CATEGORIES); the step time
  no operator accounts for is "outside any operator": Python, the dispatcher, the labels'
  own bookkeeping.

Step time: on CPU the phase label's own inclusive time; on a GPU the synchronized wall time of
the profiled steps, and self times are device times (kernels), so "outside any operator" is
the time the GPU sat idle. Each split sums to the step time, so its shares sum to 1.

On a GPU, autograd runs backward on its own device thread, whose ops the profiler parents only
to ``autograd::engine::evaluate_function…`` roots on that thread: such a root belongs to the
step whose labels (on the thread that launched it) span its start, so backward's kernels count
as "backward", not as idle time.
"""

from __future__ import annotations

import torch

PARTS = ("forward", "loss", "backward", "optimizer")
OUTSIDE_LABELS = "outside labels"
OUTSIDE_OPS = "outside any operator"
OP_CATEGORIES = (
    "convolution",
    "matmul",
    "elementwise/activation",
    "pooling",
    "dropout RNG",
    "loss",
    "optimizer update",
    "data movement/indexing",
    "other",
)
_MATMUL = {"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "addmv", "mv"}
_DROPOUT = {"dropout", "native_dropout", "bernoulli_", "bernoulli", "feature_dropout"}
_LOSS = {
    "nll_loss",
    "nll_loss_nd",
    "nll_loss_forward",
    "nll_loss_backward",
    "log_softmax",
    "_log_softmax",
    "_log_softmax_backward_data",
    "cross_entropy_loss",
}
_MOVEMENT = {
    "to",
    "_to_copy",
    "copy_",
    "empty",
    "empty_like",
    "empty_strided",
    "zeros",
    "zeros_like",
    "ones_like",
    "fill_",
    "zero_",
    "view",
    "reshape",
    "_reshape_alias",
    "_unsafe_view",
    "flatten",
    "t",
    "transpose",
    "permute",
    "expand",
    "as_strided",
    "as_strided_",
    "contiguous",
    "clone",
    "cat",
    "stack",
    "index",
    "index_select",
    "select",
    "slice",
    "unsqueeze",
    "squeeze",
    "detach",
    "detach_",
    "resize_",
    "resolve_conj",
    "resolve_neg",
    "alias",
    "lift_fresh",
    "narrow",
    "split",
    "chunk",
    "gather",
    "scatter",
    "unbind",
    "_local_scalar_dense",
    "item",
    "set_",
}
_ELEMENTWISE = {
    "relu",
    "relu_",
    "threshold_backward",
    "clamp_min",
    "clamp_min_",
    "add",
    "add_",
    "mul",
    "mul_",
    "div",
    "div_",
    "sub",
    "sub_",
    "sqrt",
    "sqrt_",
    "addcmul",
    "addcmul_",
    "addcdiv",
    "addcdiv_",
    "sum",
    "mean",
    "exp",
    "log",
    "neg",
    "pow",
    "where",
    "lerp_",
    "rsqrt",
}


def category(name: str, part: str | None) -> str:
    """An operator's category from its name and the labelled part it ran in."""
    if name.startswith("autograd::") or name.endswith("Backward0") or "AccumulateGrad" in name:
        return "other"  # autograd's own bookkeeping nodes; the math is in their aten children
    if part == "optimizer":
        return "optimizer update"
    op = name.removeprefix("aten::")
    if "conv" in op:
        return "convolution"
    if op in _MATMUL:
        return "matmul"
    if "pool" in op:
        return "pooling"
    if op in _DROPOUT:
        return "dropout RNG"
    if op in _LOSS:
        return "loss"
    if op in _MOVEMENT:
        return "data movement/indexing"
    if op in _ELEMENTWISE or op.startswith("_foreach_"):
        return "elementwise/activation"
    return "other"


def _on_thread(event, phase: str):
    """Along the event's own thread: (inside the phase label, the nearest enclosing part
    label, the root of its parent chain)."""
    part, e = None, event
    while True:
        if e.is_user_annotation and part is None and e.name in PARTS:
            part = e.name
        if e.is_user_annotation and e.name == phase:
            return True, part, e
        if e.cpu_parent is None:
            return False, part, e
        e = e.cpu_parent


def _label_spans(events, phase: str) -> list[tuple[float, float, int, str | None]]:
    """(start, end, thread, part) of every part label inside the phase label, and of the
    phase labels themselves (part None)."""
    spans = []
    for e in events:
        if e.is_user_annotation and (e.name == phase or e.name in PARTS):
            inside, part, _ = _on_thread(e, phase)
            if inside:
                spans.append((e.time_range.start, e.time_range.end, e.thread, part))
    return spans


def _launched_by(root, spans) -> tuple[bool, str | None]:
    """An autograd::engine root on autograd's device thread (GPU backward) has no parent on
    the step's thread: the profiler links parents within a thread only. It belongs to the step
    whose labels span its start on the thread that launched it (the root's forward thread,
    when the profiler recorded one; else any other thread): (inside the phase, its part)."""
    start = root.time_range.start
    fwd = getattr(root, "fwd_thread", 0) or 0
    found = [
        (s, part)
        for s, e, thread, part in spans
        if s <= start <= e and thread != root.thread and (not fwd or thread == fwd)
    ]
    if not found:
        return False, None
    parts = [p for _, p in found if p is not None]
    return True, parts[0] if parts else None


def _context(event, phase: str, spans) -> tuple[bool, str | None]:
    """(inside the phase label, the nearest enclosing part label), following autograd's device
    thread back to the step's thread for GPU backward ops."""
    inside, part, root = _on_thread(event, phase)
    if inside or part is not None or not root.name.startswith("autograd::"):
        return inside, part
    return _launched_by(root, spans)


def time_split(events, phase: str, basis: str, wall_us: float) -> dict[str, dict[str, float]]:
    """Per split ("part", "category"): name → µs over the profiled steps, summing to the step
    time (``wall_us``; raised to the operators' sum if that is larger)."""
    parts = dict.fromkeys(PARTS, 0.0)
    cats = dict.fromkeys(OP_CATEGORIES, 0.0)
    spans = _label_spans(events, phase)
    for e in events:
        if e.device_type != torch.autograd.DeviceType.CPU or e.name == phase:
            continue  # kernels are inside their ops' device time; the phase label is the step
        inside, part = _context(e, phase, spans)
        if not inside and (basis == "self_cpu" or part is None):
            continue  # another thread's or another step's event
        t = e.self_cpu_time_total if basis == "self_cpu" else e.self_device_time_total
        if part is not None:
            parts[part] += t
        if not e.is_user_annotation:
            cats[category(e.name, part)] += t
    ops = sum(cats.values())
    wall = max(wall_us, ops, sum(parts.values()))
    parts[OUTSIDE_LABELS] = wall - sum(parts.values())
    cats[OUTSIDE_OPS] = wall - ops
    return {"part": parts, "category": cats}


def split_rows(split: dict[str, dict[str, float]], config: dict, active: int, basis: str) -> list:
    """TIME_SPLIT_SCHEMA rows of one config and phase."""
    rows = []
    for kind, named in split.items():
        total = sum(named.values())
        for name, us in named.items():
            rows.append(
                {
                    **config,
                    "split": kind,
                    "name": name,
                    "us_per_step": us / active,
                    "share": us / total if total > 0 else 0.0,
                    "basis": basis,
                }
            )
    return rows
