"""Every file of a condor dir by name: what `build` writes, what DAGMan and the local executor add beside the DAG,
and what the commands after `build` read (stdlib only: the PRE script and the node programs import it too)."""

from __future__ import annotations

from pathlib import Path

# -- what build writes ------------------------------------------------------------------------------------------------

DAG_FILE = "aframe.dag"
RESOLVED = "run.ini.resolved"
DAGMAN_CONFIG = "dagman.config"
RUN_LOCAL = "run_local.sh"
SEGMENT_CACHE = "segments.txt"
STATUS_FILE = "aframe.status"  # the DAG's NODE_STATUS_FILE
JOBSTATE_LOG = "aframe.jobstate.log"
DOT_FILE = "aframe.dot"
TUNE_JOURNAL = "tune/study.journal"
LOGS = "logs"  # each stage's user log (STAGE.log), each node's stdout and stderr (NODE.out, NODE.err) and its POST
#                script's output (NODE.post)
DONE = "done"  # the nodes' done-markers (NODE.json)
TRANSFER = "transfer"  # file-transfer mode: what a job sent back beyond its outputs (NODE/), for a post-mortem
AFTER_DATA = "after-data.save"  # SAVE_POINT_FILEs: DAGMan writes them into save_files/
AFTER_TRAINING = "after-training.save"


def submit_file(stage: str) -> str:
    return f"{stage}.sub"


def stage_log(stage: str) -> str:
    return f"{LOGS}/{stage}.log"


def node_output(node: str) -> str:
    return f"{LOGS}/{node}.out"


def node_error(node: str) -> str:
    return f"{LOGS}/{node}.err"


def post_output(node: str) -> str:
    """Where DAGMan writes what a node's POST script printed (SCRIPT DEBUG): DAGMan keeps it nowhere else."""
    return f"{LOGS}/{node}.post"


def marker_name(node: str) -> str:
    """A node's done-marker, relative to the condor dir."""
    return f"{DONE}/{node}.json"


def marker_path(condor_dir, node: str) -> Path:
    """Where a node's done-marker lives."""
    return Path(condor_dir) / marker_name(node)


def landed_marker_name(node: str) -> str:
    """Where a file-transfer job's own marker comes back: the POST script checks it before it becomes the marker."""
    return f"{DONE}/{node}.landed.json"


# -- what DAGMan keeps beside any DAG file: <dag>.lock, <dag>.nodes.log, <dag>.rescueNNN, ... -------------------------

LOCK = ".lock"  # DAGMan holds a write lock on it while it runs
NODES_LOG = ".nodes.log"
DAGMAN_LOG = ".dagman.log"
DAGMAN_OUT = ".dagman.out"
CONDOR_SUB = ".condor.sub"  # condor_submit_dag's submit file for DAGMan itself


def beside(dag: Path, suffix: str) -> Path:
    """A file DAGMan keeps beside the DAG file `dag`: its name with `suffix` added."""
    return dag.with_name(dag.name + suffix)


def default_status_file(dag: Path) -> str:
    """The node status file the local executor writes, and status reads, for a DAG that names none."""
    return f"{dag.stem}.status"


def rescue_pattern(dag: Path) -> str:
    """A glob for the DAG's rescue files, beside it."""
    return f"{dag.name}.rescue[0-9][0-9][0-9]"


def rescue_path(dag: Path, number: int) -> Path:
    return dag.with_name(f"{dag.name}.rescue{number:03d}")


def rescue_number(path) -> int:
    return int(Path(path).name.rsplit("rescue", 1)[1])


# -- the local executor's own ----------------------------------------------------------------------------------------

STATE_DIR = ".aframe-run"
LOCAL_LOCK = Path(STATE_DIR) / "lock"  # an flock, held while an executor runs the DAG
PROCESS_GROUPS = Path(STATE_DIR) / "groups"
LAST_CLUSTER = Path(STATE_DIR) / "last-cluster"
SANDBOXES = Path(STATE_DIR) / "sandboxes"  # file-transfer jobs' sandboxes (NODE.CLUSTER), each gone when its job ends
RUN_LOG = "aframe-run.log"  # a detached run's output
