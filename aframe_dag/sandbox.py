"""What a file-transfer job's sandbox holds, named one way for the generator, the PRE/POST scripts and the checks.

Standard library only (the POST script imports it). In `[condor] filesystem = transfer` a job starts in an empty
directory on a machine that does not see the access point's files: HTCondor puts each input at the sandbox's top
under its base name, the node writes every output under ``OUT_DIR`` (which the node contract creates before it
starts, so that a failed job still has it to send back) and the submit file's ``transfer_output_remaps`` puts each
output back at its run-directory path.
"""

from __future__ import annotations

import posixpath
import re

OUT_DIR = "aframe-out"
MARKER = f"{OUT_DIR}/aframe-done.json"
#: URL schemes HTCondor's own transfer plugins fetch (curl, OSDF/Pelican, the cloud plugins).
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
URL_SCHEMES = ("osdf", "pelican", "stash", "http", "https", "ftp", "file", "s3", "gs", "box", "gdrive", "onedrive")


def input_name(path: str) -> str:
    """Where HTCondor puts a transferred input (a file, a directory, or a URL's object): its base name."""
    return posixpath.basename(path.rstrip("/"))


def output_name(path: str) -> str:
    """Where the node writes an output (or a directory holding outputs) inside the sandbox."""
    return f"{OUT_DIR}/{input_name(path)}"


def url_scheme(text: str) -> str | None:
    """The scheme of a URL ('osdf' of osdf:///ns/file), None for a plain path."""
    match = _URL.match(text)
    return match.group(1).lower() if match else None
