"""Process settings every entry point needs, applied before prefect is first imported.

Import this module first (flows, tests): Prefect reads these variables when it loads.
"""

import logging
import os

# Route the library's own loggers (progress lines, dataset source) into Prefect's logs.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "lab1")
# No telemetry from the temporary server, nor from the client (Prefect's SDK honours the
# DO_NOT_TRACK convention): lab machines are often offline, and the lab says it runs offline.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# The CLI preflight logs before any flow run exists; those lines stay local.
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
# LAB1_LOG_LEVEL=DEBUG also shows the native libraries' known noise (lab1/nativelog.py).
logging.getLogger("lab1").setLevel(os.environ.get("LAB1_LOG_LEVEL", "INFO").upper())
# Reading the events of a resumed run, tensorboard warns about the steps that purge_step
# dropped on purpose (lab1.run.train): noise on the terminal, not a fault.
logging.getLogger("tensorboard").setLevel(logging.ERROR)
