"""`aframe-node-check`: the PRE script of every node (nodecheck.py) and the POST script of file-transfer nodes
(landing.py). Standard library only: DAGMan runs it on the access point around every job."""

from __future__ import annotations

import sys

from .landing import NotLanded, land
from .nodecheck import RUN, SKIP, why_not_done


def _post(args: list[str]) -> int:
    """`--landed CONDOR_DIR NODE HASH RETURN ROOT...`: the POST script of a file-transfer node (landing.py)."""
    condor_dir, node, node_hash, returned, *roots = args
    try:
        print(f"{node}: {land(condor_dir, node, node_hash, int(returned), roots)}", file=sys.stderr)
        return 0
    except NotLanded as exc:
        print(f"{node}: not done: {exc}", file=sys.stderr)
        code = int(returned)
        return code if code > 0 else 1


def main(argv: list[str] | None = None) -> None:
    """PRE script entry point: `aframe-node-check CONDOR_DIR NODE HASH`; exit 99 = done, skip it. As a file-transfer
    node's POST script: `aframe-node-check --landed CONDOR_DIR NODE HASH $RETURN ROOT...`, exit 0 = done."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--landed"] and len(args) >= 5 and args[4].lstrip("-").isdigit():
        sys.exit(_post(args[1:]))
    if len(args) != 3:
        print("usage: aframe-node-check CONDOR_DIR NODE HASH\n"
              "       aframe-node-check --landed CONDOR_DIR NODE HASH RETURN ROOT...", file=sys.stderr)
        sys.exit(2)
    reason = why_not_done(*args)
    print(f"{args[1]}: " + ("done, skipping" if reason is None else f"runs: {reason}"), file=sys.stderr)
    sys.exit(SKIP if reason is None else RUN)
