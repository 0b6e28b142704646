"""lab1: AI-System Lab 1 (MNIST end to end, from a system perspective) as a library.

This package is pure Python + torch and never imports prefect: the Prefect tasks in
``tasks/`` and the flow in ``flows/`` are thin layers over it.

The packages, each importing only those before it (its __init__ says so; tests enforce it):

    lab1/*.py        the shared vocabulary: config (every default), rundir (every path of a run),
                     identity (a configuration's columns, order, labels), schemas (the tables),
                     figures (every plot), fmt, errors, atomic, interrupt, nativelog, progress,
                     version
    lab1/host/       the machine and how a process uses it
    lab1/run/        one run: data, model, step, training, checkpoints, manifest, reading it back
    lab1/measure/    limits, profiling, time split, step model, analysis (data only)
    lab1/compare/    within one run (within), across runs (crossrun), the history
    lab1/report/     every report in words, tables and pages
    lab1/classroom/  packing, submissions, checks, the class view
"""

__version__ = "0.1.0"
