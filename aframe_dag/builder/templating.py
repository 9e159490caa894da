"""The Jinja environment every rendered file comes from: package templates, strict undefined names."""

from __future__ import annotations

import shlex
from functools import cache

import jinja2


@cache
def environment() -> jinja2.Environment:
    """Templates from aframe_dag/templates; a missing variable is an error, never an empty string."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("aframe_dag", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["shquote"] = lambda value: shlex.quote(str(value))
    return env
