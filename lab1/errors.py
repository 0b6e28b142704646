"""User-facing errors: their message is printed as is, on one line, with no traceback."""


class Lab1Error(Exception):
    """Base class for errors caused by the user's input or environment."""


class ConfigError(Lab1Error, ValueError):
    """A parameter is out of range or inconsistent."""


class DataError(Lab1Error):
    """A dataset file is missing, truncated or corrupt, or no source could provide the data."""


class DeviceError(Lab1Error):
    """A requested device does not exist on this machine."""


class RunDirError(Lab1Error):
    """The run directory cannot be created, or would overwrite another run."""


class ManifestError(Lab1Error):
    """manifest.json is missing, unreadable, or of a schema this lab1 does not know."""
