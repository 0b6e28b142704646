"""Benchmark: the class view of N submissions from local disk and from an object store, on the
local thread pool and on a 2-worker Dask cluster, side by side.

    .venv/bin/python benchmarks/bench_store.py --students 300
    AWS_ENDPOINT_URL=… .venv/bin/python benchmarks/bench_store.py --store s3://bucket/bench

The class is built as benchmarks/bench_class.py builds it: three real runs packed, then one
copy per student with its own name and run id (300 submissions cost seconds, not 300 runs).
Without --store, moto's S3 server is started on 127.0.0.1 (in memory: it measures the store's
protocol and this code, not a network). Each of the four runs is the real command,
``python flows/class_flow.py INPUT [--dask tcp://…]``, in a fresh process; the Dask rows use a
``dask scheduler`` and two ``dask worker`` processes (one thread each) started fresh for the
row, as an operator starts them. Wall time is the command's; peak memory is the largest sum of
resident memory over the command's process tree and the cluster's processes (sampled every
0.1 s). Printed side by side, with the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tests", ROOT / "tests" / "flow", ROOT / "benchmarks"):
    if str(p) not in sys.path:  # run as a script, from anywhere, without installing lab1
        sys.path.insert(0, str(p))

from bench_class import build_class  # noqa: E402
from daskcluster import dask_cluster  # noqa: E402

from lab1.classroom.pack import pack_run  # noqa: E402
from lab1.host.machine import cpu_model  # noqa: E402


def tree_rss(proc) -> int:
    """Resident bytes of a process and all its descendants now."""
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # it ended between the listing and the read
            total += p.memory_info().rss
    return total


def timed(cmd: list[str], env: dict, beside: tuple[int, ...] = ()) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB of the command's tree and the ``beside`` processes' trees,
    the summary line) of one command."""
    import psutil

    others = []
    for pid in beside:
        with contextlib.suppress(psutil.Error):
            others.append(psutil.Process(pid))
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(ps) + sum(tree_rss(p) for p in others))
        time.sleep(0.1)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    summary = next(line for line in out.splitlines() if "submissions:" in line)
    return wall, peak / 2**20, summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=300)
    ap.add_argument("--store", help="s3://BUCKET/PREFIX to upload the class to (default: moto)")
    ap.add_argument("--json", help="write the numbers here too")
    args = ap.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = None
    if args.store is None:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        fake = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
        env.update(fake, AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_DEFAULT_REGION="us-east-1")
        os.environ.update({k: env[k] for k in (*fake, "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")})
    from lab1 import store

    fs = store.filesystem()
    if args.store is None:
        bucket = f"bench-{secrets.token_hex(3)}"
        fs.mkdir(bucket)
        args.store = f"s3://{bucket}/class"
    rows = []
    with tempfile.TemporaryDirectory(prefix="lab1-bench-store-") as tmp:
        tmp = Path(tmp)
        from classruns import handed_in_run

        runs = [handed_in_run(tmp / "made" / f"run-{i}") for i in range(3)]
        packs = [Path(pack_run(r, tmp / f"base-{i}.lab1.zip")["pack"]) for i, r in enumerate(runs)]
        build_class(packs, args.students, tmp / "class")
        start = time.perf_counter()
        store.push(tmp / "class", args.store)
        upload = time.perf_counter() - start
        script = str(ROOT / "flows" / "class_flow.py")
        for source, where in (("local disk", str(tmp / "class")), ("store", args.store)):
            for runner in ("thread pool", "Dask, 2 workers"):
                name = f"{'disk' if source == 'local disk' else 'store'}-{len(rows)}"
                cmd = [sys.executable, script, where, "--runs-dir", str(tmp / "out")]
                cmd += ["--name", name]
                with contextlib.ExitStack() as stack:
                    beside: tuple[int, ...] = ()
                    if runner != "thread pool":
                        cluster = stack.enter_context(dask_cluster(workers=2, env=env))
                        cmd, beside = [*cmd, "--dask", cluster.address], cluster.pids
                    wall, rss, summary = timed(cmd, env, beside)
                rows.append(
                    {
                        "source": source,
                        "runner": runner,
                        "seconds": round(wall, 1),
                        "peak_rss_mib": round(rss),
                    }
                )
                print(
                    f"{source:10} {runner:16} {wall:7.1f} s {rss:7.0f} MiB  {summary}", flush=True
                )
    if server is not None:
        server.stop()
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{cpu_model()} ({os.cpu_count()} CPUs, {platform.machine()})",
        "students": args.students,
        "upload_seconds": round(upload, 1),
        "runs": rows,
    }
    print(f"\n{args.students} submissions, {result['machine']}; upload {upload:.1f} s")
    print(f"{'':16}{'thread pool':>22}{'Dask, 2 workers':>24}")
    for source in ("local disk", "store"):
        cells = [
            f"{r['seconds']:8.1f} s {r['peak_rss_mib']:6d} MiB"
            for r in rows
            if r["source"] == source
        ]
        print(f"{source:16}" + "".join(f"{c:>24}" for c in cells))
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
