"""User-facing errors: their message is printed as is, on one line, with no traceback."""


class Lab1Error(Exception):
    """Base class for errors caused by the user's input or environment.

    ``resumable``: whether ``--resume`` with the same options can finish the run once the cause
    is fixed (space freed, server back, data repaired); False where it would stop again.
    """

    resumable = True


class ConfigError(Lab1Error, ValueError):
    """A parameter is out of range or inconsistent."""

    resumable = False


class DataError(Lab1Error):
    """A dataset file is missing, truncated or corrupt, or no source could provide the data."""


class DeviceError(Lab1Error):
    """A requested device does not exist on this machine."""

    resumable = False


class RunDirError(Lab1Error):
    """The run directory cannot be created, or would overwrite another run."""

    resumable = False


class ManifestError(Lab1Error):
    """manifest.json is missing, unreadable, or of a schema this lab1 does not know."""

    resumable = False


class AnalysisError(Lab1Error):
    """The measurements cannot support an analysis (too few batch sizes to fit a model)."""


class ResumeError(Lab1Error):
    """--resume asks for settings that differ from the run it would continue."""

    resumable = False


class CheckpointError(Lab1Error):
    """No checkpoint of the run can be loaded and verified."""

    resumable = False


class DiskError(Lab1Error):
    """A file could not be written: disk full, quota exceeded, read-only or too large."""


class PrefectAPIError(Lab1Error):
    """PREFECT_API_URL is set, but no Prefect server answers there."""


class Interrupted(Lab1Error):
    """The run was stopped by SIGTERM or Ctrl-C at a safe point; it can be resumed."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for Ctrl-C, 143 for SIGTERM


class CompareError(Lab1Error):
    """Runs given to the comparison cannot be compared (missing, unfinished, nothing shared)."""

    resumable = False


class PackError(Lab1Error):
    """A run cannot be packed (not a finished run, or the output is not writable)."""

    resumable = False


class ClassError(Lab1Error):
    """The class view's input cannot be read as a class (missing path, no submission, name
    taken). A bad *submission* is not an error: it is refused with its reason."""

    resumable = False
