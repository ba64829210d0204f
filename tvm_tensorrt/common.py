"""Facts every layer shares, kept in one leaf module so no layer has to import a higher one for
them: the package version (engine-cache keys include it), TensorRT version parsing, axis
normalisation, and the default builder workspace."""

from __future__ import annotations

from .errors import ConfigError

__version__ = "0.1.0"

DEFAULT_WORKSPACE_SIZE = 1 << 30  # bytes the builder may use for tactics (TensorRT's own default)


def parse_version(version, what: str = "version") -> tuple:
    """(major, minor, patch) from "8.6.1", (8, 6, 1) or [8, 6, 1]; ConfigError naming `what`
    otherwise. Package versions such as "10.3.0.26" or "1.7.1.116" keep their first three parts."""
    parts = version.split(".")[:3] if isinstance(version, str) else version
    try:
        parsed = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        parsed = ()
    if len(parsed) != 3:
        raise ConfigError(f"{what} must be MAJOR.MINOR.PATCH, e.g. 8.6.1 or (8, 6, 1), got {version!r}")
    return parsed


def format_version(version) -> str:
    return ".".join(str(v) for v in version)


def normalise_axis(axis: int, rank: int) -> int:
    """A possibly negative axis as its index (callers check the range where it can be wrong)."""
    axis = int(axis)
    return axis + rank if axis < 0 else axis
