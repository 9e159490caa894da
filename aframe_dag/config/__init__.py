"""run.ini: schema, loading and checks."""

from .load import Config, load_config
from .text import docs_text, resolved_text

__all__ = ["Config", "load_config", "docs_text", "resolved_text"]
