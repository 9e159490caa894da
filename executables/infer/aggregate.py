"""`aframe-aggregate`: not built yet; a real entry point so the DAG names it (DESIGN §12)."""

from executables.common.cli import not_implemented

main = not_implemented("aframe-aggregate", 10)
