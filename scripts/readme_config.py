"""Refresh the config reference in README.md from the schema (`make docs`)."""

import re
from pathlib import Path

from aframe_dag.config import docs_text

README = Path(__file__).resolve().parents[1] / "README.md"


def block() -> str:
    """The README text between the config-docs markers."""
    return f"<!-- config-docs:start -->\n```ini\n{docs_text()}```\n<!-- config-docs:end -->"


if __name__ == "__main__":
    text = README.read_text()
    README.write_text(re.sub(r"<!-- config-docs:start -->.*<!-- config-docs:end -->", lambda _: block(), text,
                             flags=re.S))
