"""User-facing errors: the CLI prints them as one line and exits 2, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Something the user can fix (bad config, bad path, refused action); exit code 2."""

    exit_code = 2


class ConfigError(UserError):
    """A config problem, located by file, section and key."""

    def __init__(self, message: str, path=None, section: str | None = None, key: str | None = None):
        self.path, self.section, self.key = path, section, key
        where = [str(path)] if path else []
        if section:
            where.append(f"[{section}]" + (f" {key}" if key else ""))
        super().__init__(": ".join(where + [message]))


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix for a misspelt name, or ''."""
    choices = list(choices)
    close = [c for c in choices if c.lower() == name.lower()] or difflib.get_close_matches(name, choices, 1, 0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
