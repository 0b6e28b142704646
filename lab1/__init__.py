"""lab1: AI-System Lab 1 (MNIST end to end, from a system perspective) as a library.

This package is pure Python + torch and never imports prefect: the Prefect tasks in
``tasks/`` and the flow in ``flows/`` are thin layers over it.
"""

__version__ = "0.1.0"
