import json
import logging
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lab1.report import grids
from lab1.report.blocks import table_markdown
from lab1.run import graph
from lab1.run.graph import export_graph, layer_table
from lab1.run.model import Net
from lab1.rundir import RunPaths


def test_layer_table_covers_every_op_with_macs():
    rows = layer_table(Net().eval(), torch.zeros(1, 1, 28, 28))
    by_name = {r["layer"]: r for r in rows}
    assert by_name["conv1"]["output_shape"] == [1, 32, 26, 26]
    assert by_name["conv2"]["output_shape"] == [1, 64, 24, 24]
    assert by_name["max_pool2d"]["output_shape"] == [1, 64, 12, 12]
    assert by_name["flatten"]["output_shape"] == [1, 9216]
    assert by_name["log_softmax"]["output_shape"] == [1, 10]
    # conv1: 32·26·26 outputs × 9 MACs; conv2: 64·24·24 × 32·9; fc1: 9216·128; fc2: 128·10
    assert by_name["conv1"]["macs"] == 32 * 26 * 26 * 9
    assert by_name["conv2"]["macs"] == 64 * 24 * 24 * 32 * 9
    assert by_name["fc1"]["macs"] == 9216 * 128
    assert sum(r["parameters"] for r in rows) == 1_199_882


def test_export_graph_writes_graph_grid_and_table(tiny_dataset, tmp_path):
    paths = RunPaths(tmp_path / "run")
    info = export_graph(tiny_dataset.path, "mnist", "cpu", paths)
    assert info["parameters"] == 1_199_882 and info["grid_images"] == 64
    rows = json.loads(paths.layers_json.read_text())
    assert len(rows) == info["layers"]
    # The one layer-table writer (lab1.report.grids) renders it for the report.
    table = table_markdown(grids.layers_table(rows))
    conv2 = "| `conv2` | Conv2d | relu | 1×64×24×24 | 18,496 | 1.54% | 10,616,832 | 88.53% |"
    assert conv2 in table
    acc = EventAccumulator(str(paths.tensorboard), size_guidance={"images": 0})
    acc.Reload()
    assert acc.Tags()["graph"] is True
    assert "Data/train_batch" in acc.Tags()["images"]
    graph_ops = {node.op for node in acc.Graph().node}
    assert any("conv2d" in op.lower() or "convolution" in op.lower() for op in graph_ops)
    # The torch.export program reloads and computes what the network computes.
    program = torch.export.load(info["exported_program"])
    assert Path(info["exported_program"]) == paths.exported_program
    x = torch.randn(1, 1, 28, 28)
    model = Net().eval()
    model.load_state_dict(program.state_dict)
    assert torch.allclose(program.module()(x), model(x), atol=1e-6)


def test_export_graph_continues_with_one_warning_without_torch_export(
    tiny_dataset, tmp_path, monkeypatch, caplog
):
    def unavailable(*args, **kwargs):
        raise RuntimeError("export is not supported here")

    monkeypatch.setattr(graph.torch.export, "export", unavailable)
    with caplog.at_level(logging.WARNING, logger="lab1.run.graph"):
        info = export_graph(tiny_dataset.path, "mnist", "cpu", paths := RunPaths(tmp_path))
    assert info["exported_program"] is None and not paths.exported_program.exists()
    assert paths.layers_json.is_file()
    assert not list(paths.graph.glob(".*.tmp"))  # nothing half-written
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "export is not supported here" in warnings[0].getMessage()
