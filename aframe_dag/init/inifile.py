"""Edit one key of an INI text in place, keeping its comments and layout."""

from __future__ import annotations

import re


def set_value(text: str, section: str, key: str, value: str) -> str:
    """Set `key = value` in `[section]`: replace the key's line, else add it to the section, else add the section."""
    lines = text.splitlines()
    header = re.compile(r"\s*\[([^\]]+)\]\s*$")
    start = next((i for i, line in enumerate(lines) if (m := header.match(line)) and m.group(1) == section), None)
    assignment = f"{key} = {value}".rstrip()
    if start is None:
        return text.rstrip("\n") + f"\n\n[{section}]\n{assignment}\n"
    end = next((i for i in range(start + 1, len(lines)) if header.match(lines[i])), len(lines))
    last_key = start
    for i in range(start + 1, end):
        if re.match(rf"{re.escape(key)}\s*[=:]", lines[i]):
            lines[i] = assignment
            return "\n".join(lines) + "\n"
        if lines[i].strip() and not lines[i].lstrip().startswith(("#", ";")):
            last_key = i
    lines.insert(last_key + 1, assignment)
    return "\n".join(lines) + "\n"
