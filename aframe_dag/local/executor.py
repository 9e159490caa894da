"""Run a rendered DAG on this machine with DAGMan's semantics (DESIGN §7): the embedded default."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..condordir.dag import dag_path, load_dag
from ..condordir.descriptions import Descriptions, node_dir
from ..dagfile import DagNode, Script, apply_rescue, rescue_files
from ..errors import UserError
from ..names import LOGS, NODES_LOG, beside, default_status_file
from ..nodecheck import why_not_done
from .jobids import JobIds
from .jobs import Job, appends_vars, expand_job
from .macros import script_arguments
from .preflight import refusals
from .records import (
    DONE,
    ERROR,
    NOT_READY,
    POSTRUN,
    PRERUN,
    READY,
    SUBMITTED,
    EventLog,
    NodeRecord,
    next_rescue_path,
    rescue_text,
    write_status_file,
)
from .state import ProcessGroups, RunLock
from .transfer import Sandboxes, TransferError, scratch_environment

log = logging.getLogger("aframe-dag.run")

# DAGMan's $(DAG_STATUS) values
DAG_OK, DAG_NODE_FAILED, DAG_ABORTED, DAG_REMOVED = 0, 2, 3, 4
NOOP_JOB = (0, 2147483647)  # DAGMan logs a NOOP node's pretend job under this id, with a running sub-number
STATUS_EVERY = 1.0
GRACE = 10.0


@dataclass
class Machine:
    """What this machine offers the nodes: CPUs, memory (MiB), and the GPU ids given with --gpus."""

    cpus: int
    memory: int
    gpus: list[str]

    @classmethod
    def here(cls, gpus: list[str]) -> Machine:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
        return cls(os.cpu_count() or 1, memory, list(gpus))

    def refusal(self, job: Job) -> str | None:
        """Why this machine can never run the job (it would wait forever otherwise), or None."""
        if job.gpus > len(self.gpus):
            offered = f"--gpus offers {len(self.gpus)}" if self.gpus else "no --gpus were given"
            return f"needs {job.gpus} GPU(s) but {offered}"
        if job.cpus > self.cpus:
            return f"needs {job.cpus} CPUs but this machine has {self.cpus}"
        if job.memory > self.memory:
            return f"needs {job.memory} MiB of memory but this machine has {self.memory}"
        return None


@dataclass
class Running:
    """A PRE script, job or POST script in flight."""

    node: str
    kind: str
    process: subprocess.Popen
    job: Job | None = None
    cluster: int = 0
    gpus: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    code: int = 0  # what the job returned, for the POST script that follows it


class Executor:
    """Runs a condor dir's aframe.dag, or any DAG file, as DAGMan would: PRE -> job -> POST, RETRY/UNLESS-EXIT,
    PRE_SKIP, NOOP, MAXJOBS, checkpoints, FINAL, DAGMan's macros."""

    def __init__(self, condor_dir, workers: int = 1, gpus: list[str] = (), only: list[str] | None = None,
                 poll: float = 0.05):
        self.dag_path = dag_path(Path(condor_dir).absolute())
        self.condor_dir = self.dag_path.parent
        self.dag = load_dag(self.dag_path)
        self.workers = max(1, workers)
        self.machine = Machine.here(list(gpus))
        self.poll = poll
        unknown = [name for name in (only or []) if name not in self.dag.nodes]
        if unknown:
            raise UserError(f"{self.dag_path}: no node(s) {', '.join(unknown)}")
        self.only = set(only) if only else None
        problems = refusals(self.dag, self.condor_dir)
        if problems:
            raise UserError(f"{self.dag_path}: `aframe-dag run` cannot run this DAG as DAGMan would:\n  "
                            + "\n  ".join(problems))
        self.descriptions = Descriptions(self.condor_dir)
        self.append_vars = appends_vars(self.dag, self.condor_dir)
        self.ids = JobIds(self.condor_dir)
        self.dagman_id = 0
        self.pre_returns: dict[str, int] = {}
        self.noops = 0
        self.order = {name: index for index, name in enumerate(self.dag.nodes)}
        self.records = {name: NodeRecord(name) for name in self.dag.nodes}
        self.children = self.dag.children()
        self.running: dict[str, Running] = {}
        self.free_gpus = list(self.machine.gpus)
        self.skips = 0
        self.interrupted: int | None = None
        self.aborted = False
        self.kill_at: float | None = None
        self.final_status: int | None = None  # DAG_STATUS once the FINAL node's turn has come
        self.abort_return: int | None = None
        self.status_written = 0.0
        self.events = EventLog([beside(self.dag_path, NODES_LOG)])
        self.groups = ProcessGroups(self.condor_dir)
        self.sandboxes = Sandboxes(self.condor_dir)

    # -- the run -----------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Run the DAG to its end (or an interruption); returns the exit code DAGMan would."""
        lock = RunLock(self.condor_dir)
        lock.acquire()
        handlers = {sig: signal.signal(sig, self._interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            ended = self.groups.end_leftovers(GRACE)
            for leftover in ended:  # the node's own log then tells why its job ended (the nodes log is restarted)
                if leftover.job is not None:
                    EventLog([]).aborted((leftover.job, 0), "ended by aframe-dag run: the executor that started it "
                                         "had been killed", leftover.logs)
            if ended:
                log.warning("ended %d node(s) a previous executor left running: %s", len(ended),
                            ", ".join(leftover.node for leftover in ended))
            self.sandboxes.clear()  # their jobs ended, as DAGMan's end when it is removed
            self.dagman_id = self.ids.take()  # the executor's own id, as DAGMan's job has one: $(DAGManJobId)
            self._start()
            self._loop()
            return self._finish()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            lock.release()

    def _start(self) -> None:
        (self.condor_dir / LOGS).mkdir(exist_ok=True)
        self.events.paths[0].write_text("")  # DAGMan truncates the nodes log when it starts
        rescues = rescue_files(self.dag_path)
        if rescues and self.only is None:
            apply_rescue(self.dag, rescues[-1])
            log.info("resuming from %s", rescues[-1].name)
        for name, node in self.dag.nodes.items():
            if node.done:
                self.records[name].state = DONE
        for name in self.dag.nodes:
            self._update_readiness(name)
        done = sum(record.state == DONE for record in self.records.values())
        log.info("%s: %d nodes, %d already done; %d workers, GPUs: %s", self.dag_path, len(self.records), done,
                 self.workers, ",".join(self.machine.gpus) or "none")

    def _loop(self) -> None:
        while True:
            if self.kill_at is not None and time.monotonic() > self.kill_at:
                self._signal_running(signal.SIGKILL)
            progressed = self._reap()
            if self.interrupted is None and not self.aborted:
                progressed |= self._launch()
            if not self.running and (self.interrupted is not None or self.aborted or not self._ready()):
                break
            self._write_status()
            if not progressed:
                time.sleep(self.poll)

    def _finish(self) -> int:
        final = self.dag.final if self.only is None else None
        failed = self._failed_nodes()
        body = [name for name in self.records if (final is None or name != final.name)
                and (self.only is None or name in self.only)]
        all_done = all(self.records[name].state == DONE for name in body)
        if self.interrupted is not None:
            self._write_rescue(failed)
            self._write_status(final_state=ERROR, force=True)
            log.warning("interrupted: rerun `aframe-dag run %s` to resume", self.condor_dir)
            return 128 + self.interrupted
        dag_status = DAG_OK if all_done else DAG_ABORTED if self.aborted else DAG_NODE_FAILED
        if dag_status != DAG_OK and self.only is None:
            self._write_rescue(failed)
        if final is None:
            self._write_status(final_state=DONE if all_done else ERROR, force=True)
            return 0 if all_done else self.abort_return if self.abort_return is not None else 1
        self._run_final(final, dag_status)
        succeeded = self.records[final.name].state == DONE
        self._write_status(final_state=DONE if succeeded else ERROR, force=True)
        return 0 if succeeded else 1

    def _failed_nodes(self) -> list[str]:
        return [name for name, record in self.records.items()
                if record.state == ERROR and not self.dag.nodes[name].final]

    def _dag_status(self) -> int:
        """$(DAG_STATUS) as DAGMan gives it to a job it submits now (FINAL sees the DAG's end state)."""
        if self.final_status is not None:
            return self.final_status
        return DAG_ABORTED if self.aborted else DAG_NODE_FAILED if self._failed_nodes() else DAG_OK

    def _run_final(self, final: DagNode, dag_status: int) -> None:
        log.info("FINAL %s (DAG_STATUS %d, FAILED_COUNT %d)", final.name, dag_status, len(self._failed_nodes()))
        self.records[final.name].state = READY
        self.final_status = dag_status
        while self.records[final.name].state not in (DONE, ERROR) and self.interrupted is None:
            if not self._reap() and final.name not in self.running:
                self._begin(final.name)
            time.sleep(self.poll)

    def pending(self) -> list[tuple[str, str]]:
        """What a run would do now, node by node in DAG order: (node, 'done' or why it runs) — for --dry-run."""
        rescues = rescue_files(self.dag_path)
        if rescues and self.only is None:
            apply_rescue(self.dag, rescues[-1])
        plan = []
        for name, node in self.dag.nodes.items():
            if self.only is not None and name not in self.only:
                continue
            if node.done:
                plan.append((name, "done (rescue file)"))
            elif node.pre and Path(node.pre.executable).name == "aframe-node-check" and len(node.pre.arguments) == 3:
                reason = why_not_done(*node.pre.arguments)
                plan.append((name, "done (outputs present)" if reason is None else f"runs: {reason}"))
            else:
                plan.append((name, "runs" + (" (FINAL)" if node.final else "")))
        return plan

    # -- scheduling ----------------------------------------------------------------------------------------------

    def _ready(self) -> list[str]:
        names = [name for name, record in self.records.items() if record.state == READY
                 and not self.dag.nodes[name].final]
        return sorted(names, key=lambda name: (-self.dag.nodes[name].priority, self.order[name]))

    def _update_readiness(self, name: str) -> None:
        node, record = self.dag.nodes[name], self.records[name]
        if record.state != NOT_READY or node.final:
            return
        if self.only is not None:
            if name in self.only:
                record.state = READY
            return
        if all(self.records[parent].state == DONE for parent in self.dag.parents.get(name, [])):
            record.state = READY

    def _category_full(self, node: DagNode) -> bool:
        limit = self.dag.maxjobs.get(node.category) if node.category else None
        if limit is None:
            return False
        busy = sum(1 for run in self.running.values() if self.dag.nodes[run.node].category == node.category)
        return busy >= limit

    def _shortfall(self, job: Job) -> str | None:
        """What the job needs that the running nodes hold now, in words; None when it fits beside them."""
        jobs = [run.job for run in self.running.values() if run.job is not None]
        machine = self.machine
        for what, unit, needed, free, total in (
                ("CPUs", "", job.cpus, machine.cpus - sum(j.cpus for j in jobs), machine.cpus),
                ("memory", " MiB", job.memory, machine.memory - sum(j.memory for j in jobs), machine.memory),
                ("GPUs", "", job.gpus, len(self.free_gpus), len(machine.gpus))):
            if needed > free:
                return f"{what}: it needs {needed}{unit}, {free}{unit} of {total}{unit} are free while other nodes run"
        return None

    def _launch(self) -> bool:
        """Start what may start now; a ready node that may not is told why in the status file (`why` reads it)."""
        started = False
        ready = self._ready()
        for index, name in enumerate(ready):
            if len(self.running) >= self.workers:
                for waiting in ready[index:]:
                    self.records[waiting].waits = f"a free worker: all {self.workers} (--workers) are busy"
                break
            node = self.dag.nodes[name]
            if self._category_full(node):
                self.records[name].waits = f"room in its category {node.category} (MAXJOBS " \
                                           f"{self.dag.maxjobs[node.category]})"
                continue
            job = None if node.noop else self._expand(node)
            if job is None and not node.noop:
                started = True
                continue
            shortfall = None if job is None else self._shortfall(job)
            if shortfall is not None:
                self.records[name].waits = shortfall
                continue
            self._begin(name, job)
            started = True
        return started

    def _macros(self, node: DagNode, cluster: int) -> dict[str, str]:
        """DAGMan's submit macros for the node's job, as DAGMan and condor_submit define them."""
        ids = {"Cluster": cluster, "ClusterId": cluster, "Process": 0, "ProcId": 0}
        return {"JOB": node.name, "RETRY": str(self.records[node.name].retries), "DAGManJobId": str(self.dagman_id),
                "DAG_STATUS": str(self._dag_status()), "FAILED_COUNT": str(len(self._failed_nodes())),
                **{name: str(value) for name, value in ids.items()}}

    def _expand(self, node: DagNode, cluster: int | None = None) -> Job | None:
        """The node's job, or None after failing the node when the machine can never run it."""
        macros = self._macros(node, self.ids.peek() if cluster is None else cluster)
        job = expand_job(node, self.condor_dir, macros, self.descriptions, self.append_vars)
        refusal = self.machine.refusal(job)
        if refusal:
            log.error("%s cannot run here: %s", node.name, refusal)
            self._set(node.name, ERROR, f"cannot run here: {refusal}")
            return None
        return job

    def _script_values(self, node: DagNode, code: int | None = None, cluster: int = 0) -> dict[str, str]:
        """What a script's $JOB, $RETRY, ... stand for now ($RETURN and the like only after the job)."""
        values = {"JOB": node.name, "RETRY": str(self.records[node.name].retries), "MAX_RETRIES": str(node.retries),
                  "FAILED_COUNT": str(len(self._failed_nodes())), "DAG_STATUS": str(self._dag_status()),
                  "NODE_COUNT": str(len(self.records)), "DAGID": str(self.dagman_id),
                  "QUEUED_COUNT": str(sum(run.kind == "job" for run in self.running.values()))}
        if code is not None:
            values.update(JOBID=f"{cluster}.0", RETURN=str(code), SUCCESS=str(code == 0),
                          EXIT_CODES=str(max(code, 0)), JOB_ABORT_COUNT="0",
                          PRE_SCRIPT_RETURN=str(self.pre_returns.get(node.name, -1)))
        return values

    def _script(self, name: str, kind: str, script: Script, job: Job | None, values: dict[str, str],
                cluster: int = 0) -> None:
        """Start a PRE or POST script in the node's directory, with the DAG's ENV SET, as DAGMan runs it."""
        node = self.dag.nodes[name]
        argv = [script.executable, *script_arguments(script.arguments, values, post=kind == "post")]
        output = subprocess.DEVNULL
        if script.debug is not None:
            output = open(node_dir(node, self.condor_dir) / script.debug[0], "a")
        try:
            process = subprocess.Popen(
                argv, cwd=node_dir(node, self.condor_dir), env={**os.environ, **self.dag.environment},
                stdin=subprocess.DEVNULL, start_new_session=True,
                stdout=output if script.debug is None or script.debug[1] in ("STDOUT", "ALL") else subprocess.DEVNULL,
                stderr=output if script.debug is not None and script.debug[1] in ("STDERR", "ALL") else None)
        finally:
            if output is not subprocess.DEVNULL:
                output.close()
        self.running[name] = Running(name, kind, process, job, cluster)

    def _begin(self, name: str, job: Job | None = None) -> None:
        node = self.dag.nodes[name]
        if job is None and not node.noop:
            job = self._expand(node)
            if job is None:
                return
        if node.pre is None:
            self._start_job(name, job)
            return
        self._set(name, PRERUN)
        if Path(node.pre.executable).name == "aframe-node-check" and len(node.pre.arguments) == 3:
            reason = why_not_done(*node.pre.arguments)  # the PRE script's own test, without a process
            self._after_pre(name, job, node.pre_skip if reason is None else 0)
            return
        self._script(name, "pre", node.pre, job, self._script_values(node))

    def _after_pre(self, name: str, job: Job | None, code: int) -> None:
        node = self.dag.nodes[name]
        self.pre_returns[name] = code
        if node.pre_skip is not None and code == node.pre_skip:
            self.skips += 1
            self.events.pre_skip(self.skips, name)
            log.info("%s: done already (PRE_SKIP)", name)
            self._set(name, DONE)
        elif code != 0:
            self._failed(name, code, f"PRE Script failed with status {code}")
        else:
            self._start_job(name, job)

    def _environment(self, job: Job, gpus: list[str], cwd: Path) -> dict[str, str]:
        base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR", "USER") if key in os.environ}
        return {**base, **scratch_environment(job, cwd), **job.environment, "CUDA_VISIBLE_DEVICES": ",".join(gpus)}

    def _noop(self, name: str) -> None:
        """A NOOP node: DAGMan logs a pretend job that succeeds at once, then runs its POST script if any."""
        self.noops += 1
        job_id = (*NOOP_JOB, self.noops)
        self.events.submitted(job_id, name, noop=True)
        self.events.terminated(job_id, 0, (0, 0, []))
        self._after_job(Running(name, "job", None, None, 0), 0)

    def _start_job(self, name: str, job: Job | None, requeue: Running | None = None) -> None:
        """Start a node's job; a checkpoint requeue keeps its job id and GPUs, as HTCondor does."""
        if job is None:
            self._noop(name)
            return
        gpus = requeue.gpus if requeue else [self.free_gpus.pop(0) for _ in range(job.gpus)]
        cluster = requeue.cluster if requeue else self.ids.take()
        if requeue is None:
            job = expand_job(self.dag.nodes[name], self.condor_dir, self._macros(self.dag.nodes[name], cluster),
                             self.descriptions, self.append_vars)
        extra = [job.log] if job.log else []
        for path in [job.output, job.error, *extra]:
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
        if requeue is None:
            self.events.submitted((cluster, 0), name, extra)
        try:
            cwd = self.sandboxes.enter(job, cluster)  # a fresh sandbox for a job that transfers files (a checkpoint's)
            with open(job.output or os.devnull, "w") as out, open(job.error or os.devnull, "w") as err:
                process = subprocess.Popen(job.argv, cwd=cwd, env=self._environment(job, gpus, cwd),
                                           stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        except (OSError, TransferError) as exc:
            self.sandboxes.exited(job, cluster, transfer_outputs=False)
            self.free_gpus += gpus
            reason = f"cannot execute {job.argv[0]}: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
            self.events.aborted((cluster, 0), reason, extra)
            log.error("%s: %s", name, reason)
            self._set(name, ERROR, reason)
            return
        self.groups.record(name, process.pid, cluster, extra)
        self.events.executing((cluster, 0), gpus, extra)
        self.running[name] = Running(name, "job", process, job, cluster, gpus)
        self._set(name, SUBMITTED, "not_idle", queued=1)
        log.info("%s: started%s", name, f" on GPU {','.join(gpus)}" if gpus else "")

    def _reap(self) -> bool:
        finished = [run for run in self.running.values() if run.process.poll() is not None]
        for run in finished:
            del self.running[run.node]
            code = run.process.returncode
            if run.kind == "pre":
                self._after_pre(run.node, run.job, code)
            elif run.kind == "post":
                self.events.post_terminated((run.cluster, 0), run.node, code)
                self._after_post(run.node, code)
            else:
                self._after_job(run, code)
        return bool(finished)

    def _after_job(self, run: Running, code: int) -> None:
        """A job ended: requeue a checkpoint, else hand the outcome to the POST script (which DAGMan runs whatever
        the job returned, and whose exit decides the node), or decide the node from the job's exit."""
        node = self.dag.nodes[run.node]
        if run.job is not None:
            if not self._job_ended(run, code):
                return
        if node.post is not None:
            self._set(run.node, POSTRUN)
            self._script(run.node, "post", node.post, run.job, self._script_values(node, code, run.cluster),
                         run.cluster)
            return
        if code != 0:
            what = f"exit {code}" if code > 0 else f"signal {-code}"
            self._failed(run.node, code, f"Job proc ({run.cluster}.0.0) failed with status {code}", what)
            return
        self._set(run.node, DONE)
        log.info("%s: done in %.1fs (%s)", run.node, time.monotonic() - run.started, self._progress())

    def _job_ended(self, run: Running, code: int) -> bool:
        """Log the job's end and free what it held; False when the node goes no further now (requeued, stopped)."""
        self.groups.forget(run.node)
        extra = [run.job.log] if run.job.log else []
        checkpointed = run.job.checkpoint_exit_code is not None and code == run.job.checkpoint_exit_code
        held = self._transfer_back(run, checkpointed and self.interrupted is None)
        if checkpointed and self.interrupted is None and held is None:
            self.events.checkpointed((run.cluster, 0), code, extra)
            log.info("%s: checkpointed after %.1fs, starting it again", run.node, time.monotonic() - run.started)
            self._start_job(run.node, run.job, requeue=run)
            return False
        self.free_gpus += run.gpus
        self.free_gpus.sort(key=self.machine.gpus.index)
        if self.interrupted is not None:
            self.events.aborted((run.cluster, 0), "stopped by aframe-dag run", extra)
            self._set(run.node, READY, "")
            return False
        if held is not None:  # HTCondor would hold the job (DAGMan waits on it): here its node fails
            self.events.aborted((run.cluster, 0), held, extra)
            log.error("%s: %s", run.node, held)
            self._set(run.node, ERROR, held)
            return False
        self.events.terminated((run.cluster, 0), code, (run.job.cpus, run.job.memory, run.gpus), extra)
        return True

    def _transfer_back(self, run: Running, checkpointed: bool) -> str | None:
        """Keep the checkpoint, or bring the outputs back, of a job that transfers files; why HTCondor would hold
        it, or None."""
        stopped = self.interrupted is not None or self.aborted  # DAGMan removes the jobs: nothing comes back
        try:
            if checkpointed:
                self.sandboxes.checkpointed(run.job, run.cluster)
            else:
                self.sandboxes.exited(run.job, run.cluster, transfer_outputs=not stopped)
        except TransferError as exc:
            self.sandboxes.exited(run.job, run.cluster, transfer_outputs=False)
            return str(exc)
        return None

    def _progress(self) -> str:
        """How far the run is, for the line each finished node logs."""
        done = sum(record.state == DONE for record in self.records.values())
        return f"{done}/{len(self.records)} nodes done"

    def _after_post(self, name: str, code: int) -> None:
        if code == 0:
            self._set(name, DONE)
        else:
            self._failed(name, code, f"POST Script failed with status {code}")

    def _failed(self, name: str, code: int, details: str, what: str | None = None) -> None:
        node, record = self.dag.nodes[name], self.records[name]
        if code in node.abort_on:
            log.error("%s: %s; ABORT-DAG-ON %d stops the DAG", name, what or details, code)
            self.aborted = True
            returned = node.abort_on[code]
            self.abort_return = returned if returned is not None else code
            self._set(name, ERROR, details)
            self._stop_running()
            return
        if code != node.unless_exit and record.retries < node.retries and not node.final:
            record.retries += 1
            log.warning("%s: %s; retry %d of %d", name, what or details, record.retries, node.retries)
            self._set(name, READY, details)
            return
        log.error("%s: %s; failed (see `aframe-dag why %s %s`)", name, what or details, name, self.condor_dir)
        self._set(name, ERROR, details)

    def _set(self, name: str, state: int, details: str | None = None, queued: int = 0) -> None:
        record = self.records[name]
        record.state, record.queued, record.waits = state, queued, ""
        if details is not None:
            record.details = details
        if state == DONE:
            record.details = ""
            for child in self.children.get(name, []):
                self._update_readiness(child)

    # -- records -------------------------------------------------------------------------------------------------

    def _write_status(self, final_state: int | None = None, force: bool = False) -> None:
        if not force and time.monotonic() - self.status_written < STATUS_EVERY:
            return
        self.status_written = time.monotonic()
        ordered = [self.records[name] for name in self.dag.nodes if not self.dag.nodes[name].final]
        ordered += [self.records[node.name] for node in [self.dag.final] if node is not None]
        status_file = self.dag.status_file or default_status_file(self.dag_path)
        path = Path(status_file) if Path(status_file).is_absolute() else self.condor_dir / status_file
        next_update = time.time() + STATUS_EVERY if final_state is None else 0
        state = SUBMITTED if final_state is None else final_state
        write_status_file(path, self.dag_path.name, state, ordered, next_update)

    def _write_rescue(self, failed: list[str]) -> None:
        final = self.dag.final
        nodes = [self.records[name] for name in self.dag.nodes if final is None or name != final.name]
        retries = {name: (node.retries, node.unless_exit) for name, node in self.dag.nodes.items()
                   if node.retries and (final is None or name != final.name)}
        path = next_rescue_path(self.dag_path)
        path.write_text(rescue_text(self.dag_path.name, nodes, retries, failed))
        log.info("wrote %s: run again to resume", path.name)

    def _signal_running(self, sig: int) -> None:
        for run in list(self.running.values()):
            try:
                os.killpg(run.process.pid, sig)
            except ProcessLookupError:
                pass

    def _stop_running(self) -> None:
        """SIGTERM every running node's process group now, SIGKILL what is left after the grace period."""
        self._signal_running(signal.SIGTERM)
        self.kill_at = time.monotonic() + GRACE

    def _interrupt(self, signum, frame) -> None:
        if self.interrupted is None:
            log.warning("%s: stopping the running nodes", signal.Signals(signum).name)
            self.interrupted = signum
            self._stop_running()
