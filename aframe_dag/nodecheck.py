"""`aframe-node-check`, the PRE script that skips finished nodes (stdlib only: it runs on the access point)."""

import sys


def main() -> None:
    """Not built yet: refuses with exit 2 so no DAG silently relies on it."""
    print("aframe-node-check: not implemented yet (issue 4)", file=sys.stderr)
    sys.exit(2)
