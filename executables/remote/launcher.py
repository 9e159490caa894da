"""Run one training Job to its end: create or adopt it, stream its pods' logs, wait, map the outcome to an exit code.

- **Adopt**: the Job name is deterministic (``aframe-<run>-train``), so a retried node finds its own Job. A running
  or finished-successfully Job with the same spec (the ``aframe-dag/spec-hash`` annotation) is adopted, never
  started twice; a failed one, or one with another spec (arguments changed since), is deleted and created anew.
- **Secret**: the credentials Secret and the train.yaml ConfigMap are (re)created for the Job, owned by it, and
  deleted when the launcher ends, whatever the outcome.
- **Outcome**: Complete and ``model.pt`` present in the S3 run dir -> return (exit 0); a pod OOMKilled, evicted,
  preempted or disrupted, the Job's deadline, or the launcher's own timeout (the Job is then deleted) ->
  ``TransientError`` (exit 1, DAGMan retries and training resumes from ``last.ckpt``); any other failure (exit 2 of
  aframe-train, a container that cannot start) -> ``PermanentError`` (exit 2) with the pod's reason.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

from executables.common import storage
from executables.common.errors import PermanentError, TransientError
from executables.remote.kube import Conflict, Kube
from executables.remote.manifest import (
    CONTAINER,
    SPEC_ANNOTATION,
    TrainingJob,
    config_map_manifest,
    job_manifest,
    secret_manifest,
)

log = logging.getLogger("aframe-remote-train")

PREEMPTED_REASONS = {"Evicted", "Preempting", "Preempted", "OOMKilled", "NodeLost", "Shutdown", "Terminated",
                     "UnexpectedAdmissionError"}
UNSTARTABLE_REASONS = {"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError"}


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition
    return None


def _terminated(pod: dict[str, Any]) -> dict[str, Any]:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            return (status.get("state") or {}).get("terminated") or (status.get("lastState") or {}).get(
                "terminated") or {}
    return {}


def disruption(pod: dict[str, Any]) -> str | None:
    """Why a pod died of something other than its own program (OOM, eviction, preemption), or None."""
    status = pod.get("status", {})
    if status.get("reason") in PREEMPTED_REASONS:
        return f"{status['reason']}: {status.get('message', '')}".rstrip(": ")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
            return f"disrupted ({condition.get('reason')}: {condition.get('message', '')})".rstrip(": )") + ")"
    if _terminated(pod).get("reason") == "OOMKilled":
        return "OOMKilled: the container ran out of memory ([kubernetes] memory)"
    return None


def _started_at(job: dict[str, Any]) -> float:
    stamp = job["metadata"].get("creationTimestamp")
    if not stamp:
        return time.time()
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


class LogStreams:
    """One thread per pod copying its container's log to stderr, each line prefixed with the pod's name."""

    def __init__(self, kube: Kube, stream: Any = None) -> None:
        self.kube, self.stream = kube, stream or sys.stderr
        self.threads: dict[str, threading.Thread] = {}
        self.lock = threading.Lock()

    def follow(self, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            name = pod["metadata"]["name"]
            if name in self.threads or pod.get("status", {}).get("phase") not in ("Running", "Succeeded", "Failed"):
                continue
            thread = threading.Thread(target=self._copy, args=(name,), name=f"log-{name}", daemon=True)
            self.threads[name] = thread
            thread.start()

    def _copy(self, pod: str) -> None:
        pending = b""
        try:
            for chunk in self.kube.follow_log(pod, CONTAINER):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                self._write(pod, lines)
        except Exception as exc:  # a broken log stream must not end the wait; the Job's status decides
            log.warning("log of pod %s ended early: %s", pod, exc)
        self._write(pod, [pending] if pending else [])

    def _write(self, pod: str, lines: list[bytes]) -> None:
        with self.lock:
            for line in lines:
                self.stream.write(f"[{pod}] {line.decode(errors='replace')}\n")
            self.stream.flush()

    def join(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        for thread in self.threads.values():
            thread.join(max(0.0, end - time.monotonic()))


class Launcher:
    """Create or adopt the Job of ``job``, wait for it and return ``model.pt``'s URL (see the module doc)."""

    def __init__(self, kube: Kube, job: TrainingJob, credentials: str, config_text: str | None, *, s3: Any = None,
                 poll: float = 10.0) -> None:
        self.kube, self.job, self.s3, self.poll = kube, job, s3, poll
        self.credentials, self.config_text = credentials, config_text
        self.manifest = job_manifest(job)
        self.warned: set[str] = set()

    def run(self) -> str:
        created = self._create_or_adopt()
        try:
            self._attach(created)
            self._wait(created)
        finally:
            for kind, name in (("Secret", self.job.secret_name), ("ConfigMap", self.job.config_map_name)):
                try:
                    self.kube.delete(kind, name)
                    log.info("deleted the Job's %s %s", kind, name)
                except (PermanentError, TransientError) as exc:
                    log.warning("could not delete %s %s (Kubernetes deletes it with the Job): %s", kind, name, exc)
        model = storage.join(self.job.run_dir, "model.pt")
        try:
            storage.check_object(str(model), s3=self.s3)
        except PermanentError:
            raise PermanentError(f"Job {self.job.name} completed but {model} is not there") from None
        return str(model)

    # -- create / adopt ------------------------------------------------------------------------------------------

    def _create_or_adopt(self) -> dict[str, Any]:
        name = self.job.name
        for _ in range(3):
            existing = self.kube.read_job(name)
            if existing is not None:
                ours = existing["metadata"].get("annotations", {}).get(SPEC_ANNOTATION) == \
                    self.manifest["metadata"]["annotations"][SPEC_ANNOTATION]
                failed = _condition(existing, "Failed")
                if ours and not failed:
                    state = "finished" if _condition(existing, "Complete") else "running"
                    log.info("adopting the %s Job %s/%s (created %s)", state, self.kube.namespace, name,
                             existing["metadata"].get("creationTimestamp"))
                    return existing
                why = "it failed before" if ours else "its spec differs from this node's arguments"
                log.warning("deleting the existing Job %s/%s: %s", self.kube.namespace, name, why)
                self.kube.delete("Job", name)
                self._wait_gone(name)
            try:
                created = self.kube.create(self.manifest)
            except Conflict:  # another launcher created it between our read and create: adopt it
                continue
            log.info("created Job %s/%s on %s: image %s, %s GPU(s), %s CPUs, %s", self.kube.namespace, name,
                     self.kube.server, self.job.image, self.job.gpus, self.job.cpus, self.job.memory)
            return created
        raise TransientError(f"Job {name} kept appearing and disappearing; try again")

    def _wait_gone(self, name: str, limit: float = 300.0) -> None:
        end = time.monotonic() + limit
        while self.kube.read_job(name) is not None:
            if time.monotonic() > end:
                raise TransientError(f"the old Job {name} was not deleted within {limit:.0f} s")
            time.sleep(min(self.poll, 1.0))

    def _attach(self, owner: dict[str, Any]) -> None:
        """Create (or refresh) the Secret and the ConfigMap, owned by the Job."""
        manifests = [secret_manifest(self.job, self.credentials, owner)]
        if self.config_text is not None:
            manifests.append(config_map_manifest(self.job, self.config_text, owner))
        for manifest in manifests:
            try:
                self.kube.create(manifest)
            except Conflict:
                self.kube.replace(manifest)
        log.info("created the Job's Secret %s (credentials profile %r)", self.job.secret_name, self.job.profile)

    # -- wait ----------------------------------------------------------------------------------------------------

    def _wait(self, created: dict[str, Any]) -> None:
        deadline = _started_at(created) + self.job.timeout
        logs = LogStreams(self.kube)
        delay = min(0.5, self.poll)  # quick at first (an adopted Job may be done), then every --poll-interval
        try:
            while True:
                job = self.kube.read_job(self.job.name)
                if job is None:
                    raise TransientError(f"Job {self.job.name} disappeared (deleted by someone else?)")
                pods = self.kube.pods(self.job.name)
                logs.follow(pods)
                if _condition(job, "Complete"):
                    logs.join(30.0)
                    log.info("Job %s completed", self.job.name)
                    return
                failed = _condition(job, "Failed")
                if failed:
                    logs.join(30.0)
                    raise self._failure(failed, pods)
                self._check_pending(pods)
                if time.time() > deadline:
                    self.kube.delete("Job", self.job.name)
                    raise TransientError(f"Job {self.job.name} did not finish within --timeout {self.job.timeout} s; "
                                         "deleted it (a retry starts again from last.ckpt)")
                time.sleep(delay)
                delay = min(delay * 1.5, self.poll)
        finally:
            logs.join(1.0)

    def _failure(self, condition: dict[str, Any], pods: list[dict[str, Any]]) -> Exception:
        reason = f"{condition.get('reason')}: {condition.get('message', '')}".rstrip(": ")
        if condition.get("reason") == "DeadlineExceeded":
            return TransientError(f"Job {self.job.name} ran out of time ({reason}); a retry resumes from last.ckpt")
        disrupted = [f"{pod['metadata']['name']} {why}" for pod in pods if (why := disruption(pod))]
        if disrupted:
            return TransientError(f"Job {self.job.name} failed ({reason}) after its pods were disrupted: "
                                  f"{'; '.join(disrupted)}")
        details = []
        for pod in pods[-1:]:
            terminated = _terminated(pod)
            message = (terminated.get("message") or "").strip().splitlines()[-3:]
            details.append(f"pod {pod['metadata']['name']} exited {terminated.get('exitCode')} "
                           f"({terminated.get('reason')}){': ' + ' | '.join(message) if message else ''}")
        return PermanentError(f"Job {self.job.name} failed ({reason}){'; ' + '; '.join(details) if details else ''}")

    def _check_pending(self, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            for status in pod.get("status", {}).get("containerStatuses") or []:
                waiting = (status.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") in UNSTARTABLE_REASONS:
                    self.kube.delete("Job", self.job.name)
                    raise PermanentError(f"pod {pod['metadata']['name']} cannot start: {waiting['reason']}: "
                                         f"{waiting.get('message', '')}")
                if waiting.get("reason") and waiting["reason"] not in self.warned | {"ContainerCreating"}:
                    self.warned.add(waiting["reason"])
                    log.warning("pod %s waits: %s %s", pod["metadata"]["name"], waiting["reason"],
                                waiting.get("message", ""))
            for condition in pod.get("status", {}).get("conditions") or []:
                if condition.get("reason") == "Unschedulable" and "Unschedulable" not in self.warned:
                    self.warned.add("Unschedulable")
                    log.warning("pod %s cannot be scheduled yet: %s", pod["metadata"]["name"],
                                condition.get("message", ""))
