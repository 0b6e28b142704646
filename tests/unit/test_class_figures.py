"""The class view's two plots, drawn by lab1.figures from class.parquet's columns."""

import math

import pandas as pd
import pytest

from lab1 import figures


@pytest.fixture
def drawn(monkeypatch):
    """The figures as drawn, before they are written and closed."""
    kept = []

    def keep(fig, path):
        kept.append(fig)
        return path

    monkeypatch.setattr(figures, "_save", keep)
    return kept


def _class(rows):
    cols = ["machine_kind", "test_accuracy"] + [
        f"train_step_images_per_s_bs{bs}" for bs in (1, 16, 64)
    ]
    return pd.DataFrame(rows, columns=cols)


def test_one_box_per_kind_of_machine_and_batch_size_with_data(drawn, tmp_path):
    # Two kinds; the GPU student measured no batch 1: 2 × 3 − 1 = 5 boxes, two legend entries,
    # the GPU's kind shown as written (data), the CPU's kind through t (a label).
    ok = _class(
        [
            ["laptop CPU", 0.98, 100.0, 900.0, 1500.0],
            ["laptop CPU", 0.97, 120.0, 1000.0, 1600.0],
            ["NVIDIA H100", 0.99, None, 20000.0, 90000.0],
        ]
    )
    out = figures.plot_class_throughput(ok, tmp_path / "t.png", lambda s: f"<{s}>")
    assert out == tmp_path / "t.png"
    (ax,) = drawn[0].axes
    assert len(ax.patches) == 5  # patch_artist boxes
    # Kinds in sorted order of their names as written ("N" sorts before "l").
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["NVIDIA H100", "<laptop CPU>"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["<batch> 1", "<batch> 16", "<batch> 64"]


def test_the_accuracy_histogram_counts_every_student_in_percent(drawn, tmp_path):
    ok = _class([["laptop CPU", a, 1.0, 1.0, 1.0] for a in (0.95, 0.97, 0.99, None)])
    figures.plot_class_accuracy(ok, tmp_path / "a.png")
    (ax,) = drawn[0].axes
    heights = [p.get_height() for p in ax.patches]
    lefts = [p.get_x() for p in ax.patches]
    assert sum(heights) == 3  # the student with no accuracy is not counted
    assert math.isclose(min(lefts), 95.0) and len(heights) == 5  # 5 bins at least, in %


def test_nothing_to_draw_is_no_figure_and_no_file(tmp_path):
    empty = _class([[None, None, None, None, None]])
    assert figures.plot_class_throughput(empty, tmp_path / "t.png") is None
    assert figures.plot_class_accuracy(empty, tmp_path / "a.png") is None
    assert list(tmp_path.iterdir()) == []
