"""The network's dataflow graph: TensorBoard graph, a sample image grid, a layer table."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid

from lab1.atomic import write_json, write_torch, writing
from lab1.errors import DiskError
from lab1.run.data import load_tensors, normalized_images
from lab1.run.model import Net, count_parameters
from lab1.rundir import RunPaths

log = logging.getLogger("lab1.run.graph")

GRID_IMAGES = 64


def _macs(module: nn.Module | None, out_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one call (batch included); 0 for layers without weights."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        per_output = (module.in_channels // module.groups) * kh * kw
        return per_output * int(torch.Size(out_shape).numel())
    if isinstance(module, nn.Linear):
        return module.in_features * int(torch.Size(out_shape).numel())
    return 0


def layer_table(model: nn.Module, example: torch.Tensor) -> list[dict]:
    """One row per node of the traced dataflow graph (modules and functional ops alike).

    torch.fx traces the forward pass (the reference Net has no data-dependent control flow),
    and ShapeProp runs ``example`` through it to record every intermediate shape.
    """
    traced = fx.symbolic_trace(model)
    ShapeProp(traced).propagate(example)
    modules = dict(traced.named_modules())
    rows = []
    for node in traced.graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        meta = node.meta.get("tensor_meta")
        shape = tuple(meta.shape) if meta is not None else ()
        module = modules.get(node.target) if node.op == "call_module" else None
        if module is not None:
            kind = type(module).__name__
        else:
            kind = getattr(node.target, "__name__", str(node.target))
        params = sum(p.numel() for p in module.parameters()) if module is not None else 0
        rows.append(
            {
                "layer": node.name,
                "op": kind,
                "inputs": [str(a) for a in node.args if isinstance(a, fx.Node)],
                "output_shape": list(shape),
                "parameters": params,
                "macs": _macs(module, shape),
            }
        )
    return rows


def save_exported_program(model: nn.Module, example: torch.Tensor, path: Path) -> str | None:
    """Save ``model`` as a torch.export program (Netron opens it, ``torch.export.load`` reloads
    it); None and one warning where this torch cannot export it.

    add_graph's TensorBoard graph still comes from the deprecated TorchScript tracer; this is
    the same network in today's format. Measured: 2.5 s on the first export of a process
    (Dynamo's start-up), 4.8 MB (the weights are in the archive; deflated 4.4 MB).
    """
    try:
        program = torch.export.export(model, (example,))
        write_torch(path, lambda f: torch.export.save(program, f))
    except DiskError:
        raise  # a full disk is the run's fault to report, not the export's
    except Exception as exc:  # any other failure of an optional export must not end the run
        log.warning("torch.export unavailable here, no %s written: %s", path.name, exc)
        return None
    return str(path)


def export_graph(data_path: str | Path, dataset: str, device: str, paths: RunPaths) -> dict:
    """Write the graph and a batch grid to the run's TensorBoard log, the layer table
    (graph/layers.json; the report renders it) and the torch.export program."""
    dev = torch.device(device)
    tensors = load_tensors(data_path)
    images = tensors["train_images"][:GRID_IMAGES]
    model = Net().to(dev).eval()  # eval: dropout off, so the traced graph is deterministic
    # The example lives on the model's device: a CPU tensor into a CUDA model is the lab's
    # classic add_graph crash.
    example = normalized_images(images[:1], dataset, dev)
    tb_events = f"TensorBoard events under {paths.tensorboard}"
    with writing(tb_events), SummaryWriter(log_dir=str(paths.tensorboard)) as writer:
        with warnings.catch_warnings():  # add_graph traces with torch.jit, which now warns
            warnings.simplefilter("ignore", FutureWarning)
            writer.add_graph(model, example)
        grid = make_grid(images.unsqueeze(1).float().div(255.0), nrow=8, pad_value=1.0)
        writer.add_image("Data/train_batch", grid, global_step=0)
    rows = layer_table(model, example)
    write_json(paths.layers_json, rows)
    program = save_exported_program(model, example, paths.exported_program)
    return {
        "parameters": count_parameters(model),
        "macs_per_image": sum(r["macs"] for r in rows),
        "layers": len(rows),
        "layer_table": str(paths.layers_json),
        "exported_program": program,
        "grid_images": len(images),
    }
