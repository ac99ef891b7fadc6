"""Optional extras: a clear error naming the extra to install when one is missing."""

from __future__ import annotations


class MissingExtra(ImportError):
    """A command needs a package of an optional extra that is not installed."""

    def __init__(self, *, extra: str, feature: str, missing: str) -> None:
        super().__init__(
            f"{feature} needs the optional extra `{extra}` ({missing} is not installed):"
            f" pip install 'policy-engine[{extra}]'"
        )
        self.extra = extra


__all__ = ["MissingExtra"]
