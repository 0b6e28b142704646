"""Comparing: one run's configurations side by side (within: the batch-size, CPU-vs-GPU and
precision tables), runs across machines (crossrun), and every run's tables as a Parquet
history (history).

A run from elsewhere is untrusted input: crossrun reads it through lab1.run.foreign.

May import: lab1, lab1.host, lab1.run, lab1.measure.
"""
