"""The layering rules of DEVELOPERS.md, enforced."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_lab1_never_imports_prefect_statically():
    offenders = [p for p in (ROOT / "lab1").rglob("*.py") if "prefect" in _imported_modules(p)]
    assert offenders == []


def test_importing_every_lab1_module_loads_no_prefect():
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "lab1").rglob("*.py")
    )
    assert {"lab1.manifest", "lab1.report", "lab1.report.words"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


LAYERS = ("lab1", "tasks", "flows")


def _sources() -> list[Path]:
    return [p for folder in LAYERS for p in sorted((ROOT / folder).rglob("*.py"))]


def test_only_rundir_composes_run_relative_paths():
    """``something / "name"`` with a literal name: lab1.rundir's job (and the dataset cache's,
    which is not a run directory)."""
    # config and data: the dataset cache; viewer: screenshots into a folder the user names.
    allowed = {"lab1/rundir.py", "lab1/config.py", "lab1/data.py", "lab1/viewer.py"}
    found = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            literal = isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
            named = (
                literal
                and isinstance(node.right, ast.Constant)
                and isinstance(node.right.value, str)
            )
            if named and rel not in allowed:
                found.append(f"{rel}:{node.lineno} / {node.right.value!r}")
    assert found == []


WRITERS = {("os", "replace"), ("tempfile", "mkstemp"), ("torch", "save"), ("fig", "savefig")}


def _bytesio_names(tree: ast.AST) -> set[str]:
    """Names assigned an ``io.BytesIO()`` (or ``BytesIO()``) anywhere in the module."""
    return {
        t.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "attr", getattr(node.value.func, "id", "")) == "BytesIO"
        for t in node.targets
        if isinstance(t, ast.Name)
    }


def test_only_atomic_renames_files_into_place():
    """Every file a run writes goes through lab1.atomic (temp file + rename): torch.save and
    savefig only inside an atomic_write(...) call, os.replace only in lab1/atomic.py."""
    found = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text())
        inside = {
            id(n)
            for call in ast.walk(tree)
            if isinstance(call, ast.Call)
            and getattr(call.func, "id", "") in ("atomic_write", "write_stream")
            for n in ast.walk(call)
        }
        buffers = _bytesio_names(tree)  # writing into memory is not writing a file
        for node in ast.walk(tree):
            f = node.func if isinstance(node, ast.Call) else None
            if not (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)):
                continue
            in_memory = any(getattr(a, "id", None) in buffers for a in node.args[1:])
            if (f.value.id, f.attr) in WRITERS and id(node) not in inside and not in_memory:
                found.append(f"{rel}:{node.lineno} {f.value.id}.{f.attr}")
    assert [f for f in found if not f.startswith("lab1/atomic.py")] == []


def test_no_test_helper_is_named_after_the_runs_folder():
    """`make run` leaves ./runs in the checkout; a tests/runs.py helper would then be sorted as
    first-party by ruff (failing `make test` after `make run`) and could be shadowed on import."""
    from lab1.config import Lab1Config

    folder = Path(Lab1Config().runs_dir).name
    assert not (ROOT / "tests" / f"{folder}.py").exists()
