"""Read DAGMan files (the DAG in DAGMan 25's whole language, rescue files) into one model for check, status and the
local executor (stdlib)."""

from .model import (
    FINAL,
    JOB,
    JOIN_NODE_PREFIX,
    PROVISIONER,
    SERVICE,
    SPLICE_SEPARATOR,
    SUBDAG,
    Dag,
    DagNode,
    DagSyntaxError,
    Script,
)
from .parse import apply_rescue, parse_dag, read_dag, rescue_done, rescue_files

__all__ = ["FINAL", "JOB", "JOIN_NODE_PREFIX", "PROVISIONER", "SERVICE", "SPLICE_SEPARATOR", "SUBDAG", "Dag",
           "DagNode", "DagSyntaxError", "Script", "apply_rescue", "parse_dag", "read_dag", "rescue_done",
           "rescue_files"]
