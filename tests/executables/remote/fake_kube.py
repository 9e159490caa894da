"""A small fake Kubernetes API server on localhost, for driving ``aframe-remote-train`` through the real client.

It speaks the REST paths the ``kubernetes`` client uses for Jobs (batch/v1), Secrets, ConfigMaps, Pods and pod
logs, keeps objects in memory, answers 404/409 as the API does, validates every created object against the
Kubernetes schema (``kubernetes-validate``, strict: an invalid one is a 422 ``Invalid``), can refuse Jobs over a
``count/jobs.batch`` quota (403 ``Forbidden``), deletes owned objects with their owner, and plays a Job controller:
each created Job gets pods that run the scenario the test chose (``FakeKube.scenario``):

``succeed``  the "container" reads its credentials file from the Job's Secret and its endpoint from its env, and
             uploads ``model.pt`` to the ``--run-dir`` of its command, as aframe-train would; the Job completes.
``fail``     the container exits 2 (bad input); the Job fails (PodFailurePolicy).
``oom``      the container is OOMKilled (exit 137); the Job fails (BackoffLimitExceeded).
``evict``    the pod is evicted; the Job fails (BackoffLimitExceeded).
``preempt``  the first pod is disrupted (DisruptionTarget, ignored by the pod failure policy), a second succeeds.
``hang``     the pod runs until the Job is deleted, or until ``release()`` lets it succeed.
``execute``  the container really runs: its command (``aframe-train`` of this environment) with its env, the
             Secret's credentials file and the ConfigMap's train.yaml at temporary paths standing in for the
             mounts; its output is the pod log, exit 0 completes the Job, any other exit fails it.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROUTE = re.compile(r"^/(?:api/v1|apis/batch/v1)/namespaces/(?P<ns>[^/]+)/(?P<plural>jobs|secrets|configmaps|pods)"
                   r"(?:/(?P<name>[^/]+))?(?P<log>/log)?$")
KINDS = {"jobs": "Job", "secrets": "Secret", "configmaps": "ConfigMap", "pods": "Pod"}
QUANTITY = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"  # the API server's check of resource quantities


def _bad_quantity(body: dict[str, Any]) -> str | None:
    """The API server's message for a resource quantity that is not one, as a Job's validation reports it."""
    containers = body.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    for index, container in enumerate(containers):
        for group, values in container.get("resources", {}).items():
            for resource, value in values.items():
                if not re.match(QUANTITY, str(value)):
                    return (f"spec.template.spec.containers[{index}].resources.{group}[{resource}]: Invalid value: "
                            f"\"{value}\": quantities must match the regular expression '{QUANTITY}'")
    return None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message,
            "code": code}


class FakeKube:
    """The server's state and controller; ``url`` is where it listens, ``kubeconfig(path)`` writes a config for it."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.logs: dict[str, list[str]] = {}
        self.lock = threading.Condition()
        self.scenario = "succeed"
        self.job_quota: int | None = None
        self.requests: list[tuple[str, str]] = []
        self.secrets_seen: list[dict[str, Any]] = []
        self.step = 0.15
        self.released = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def release(self) -> None:
        """Let hanging pods finish successfully."""
        self.released.set()

    def running(self, plural: str = "pods") -> list[str]:
        """Names of the objects whose phase is Running."""
        with self.lock:
            return sorted(name for (p, _, name), item in self.objects.items()
                          if p == plural and item["status"].get("phase") == "Running")

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)

    def kubeconfig(self, path: Path, namespace: str = "aframe") -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester", "namespace": namespace}}],
        }))
        return path

    # -- objects ------------------------------------------------------------------------------------------------

    def get(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects.get((plural, ns, name))

    def count(self, method: str, plural: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p == plural)

    def names(self, plural: str) -> list[str]:
        with self.lock:
            return sorted(name for (p, _, name) in self.objects if p == plural)

    def create(self, plural: str, ns: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        import kubernetes_validate

        try:
            kubernetes_validate.validate(body, kubernetes_validate.latest_version(), strict=True)
        except kubernetes_validate.ValidationError as exc:
            return 422, _status(422, "Invalid", f"{KINDS[plural]} is invalid: {exc.message}")
        name = body["metadata"]["name"]
        if (problem := _bad_quantity(body)) is not None:
            return 422, _status(422, "Invalid", f'{KINDS[plural]}.batch "{name}" is invalid: {problem}')
        with self.lock:
            if (plural, ns, name) in self.objects:
                return 409, _status(409, "AlreadyExists", f'{plural} "{name}" already exists')
            if plural == "jobs" and self.job_quota is not None and len(self.names("jobs")) >= self.job_quota:
                return 403, _status(403, "Forbidden", f'jobs.batch "{name}" is forbidden: exceeded quota: '
                                    f"jobs, requested: count/jobs.batch=1, used: count/jobs.batch="
                                    f"{len(self.names('jobs'))}, limited: count/jobs.batch={self.job_quota}")
            stored = json.loads(json.dumps(body))
            stored["metadata"].update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_now())
            stored.setdefault("status", {})
            if plural == "secrets":
                self.secrets_seen.append(stored)
            self.objects[(plural, ns, name)] = stored
        if plural == "jobs":
            threading.Thread(target=self._control, args=(ns, name), daemon=True).start()
        return 201, stored

    def replace(self, plural: str, ns: str, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            old = self.objects.get((plural, ns, name))
            if old is None:
                return 404, _status(404, "NotFound", f'{plural} "{name}" not found')
            stored = json.loads(json.dumps(body))
            stored["metadata"].update(namespace=ns, uid=old["metadata"]["uid"],
                                      creationTimestamp=old["metadata"]["creationTimestamp"])
            self.objects[(plural, ns, name)] = stored
            return 200, stored

    def delete(self, plural: str, ns: str, name: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            gone = self.objects.pop((plural, ns, name), None)
            if gone is None:
                return 404, _status(404, "NotFound", f'{plural} "{name}" not found')
            uid = gone["metadata"]["uid"]
            for key, item in list(self.objects.items()):  # garbage collection of owned objects and the Job's pods
                owners = [ref.get("uid") for ref in item["metadata"].get("ownerReferences", [])]
                if uid in owners or (plural == "jobs" and item["metadata"].get("labels", {}).get("job-name") == name):
                    del self.objects[key]
            self.lock.notify_all()
            return 200, _status(200, "", "deleted") | {"status": "Success"}

    # -- the Job controller -------------------------------------------------------------------------------------

    def _set(self, plural: str, ns: str, name: str, **status: Any) -> bool:
        with self.lock:
            item = self.objects.get((plural, ns, name))
            if item is None:
                return False
            item["status"].update(status)
            self.lock.notify_all()
            return True

    def _log(self, pod: str, line: str) -> None:
        with self.lock:
            self.logs.setdefault(pod, []).append(line)
            self.lock.notify_all()

    def _pod(self, ns: str, job: dict[str, Any]) -> str:
        name = f"{job['metadata']['name']}-{uuid.uuid4().hex[:5]}"
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": ns, "uid": str(uuid.uuid4()), "creationTimestamp": _now(),
            "labels": {"job-name": job["metadata"]["name"], **job["spec"]["template"]["metadata"]["labels"]},
            "ownerReferences": [{"kind": "Job", "name": job["metadata"]["name"], "uid": job["metadata"]["uid"]}]},
            "spec": job["spec"]["template"]["spec"], "status": {"phase": "Pending"}}
        with self.lock:
            self.objects[("pods", ns, name)] = pod
        return name

    def _control(self, ns: str, job_name: str) -> None:
        job = self.get("jobs", ns, job_name)
        scenario = self.scenario
        pods = 2 if scenario == "preempt" else 1
        for attempt in range(pods):
            pod = self._pod(ns, job)
            time.sleep(self.step)
            running = {"name": "train", "state": {"running": {"startedAt": _now()}}}
            if not self._set("pods", ns, pod, phase="Running", containerStatuses=[running]):
                return
            self._set("jobs", ns, job_name, active=1, startTime=job["metadata"]["creationTimestamp"])
            for epoch in range(3):
                self._log(pod, f"epoch {epoch}: training")
                time.sleep(self.step / 3)
            outcome = {"preempt": ("preempt", "succeed")[attempt]}.get(scenario, scenario)
            if outcome == "hang":
                while not self.released.wait(self.step):
                    if self.get("jobs", ns, job_name) is None:
                        return
                outcome = "succeed"
            self._finish(ns, job_name, pod, outcome)

    def _finish(self, ns: str, job_name: str, pod: str, outcome: str) -> None:
        def terminated(code: int, reason: str, message: str = "") -> list[dict[str, Any]]:
            return [{"name": "train", "state": {"terminated": {"exitCode": code, "reason": reason,
                                                               "message": message}}}]

        if outcome == "preempt":
            self._log(pod, "received SIGTERM: node preempted")
            self._set("pods", ns, pod, phase="Failed", containerStatuses=terminated(143, "Error"),
                      conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                                   "message": "a higher-priority pod needed the GPU"}])
            return
        if outcome == "execute":
            code = self._execute(ns, job_name, pod)
            if code != 0:
                self._set("pods", ns, pod, phase="Failed", containerStatuses=terminated(code, "Error"))
                message = f"Container train for pod {ns}/{pod} failed with exit code {code}"
                self._set("jobs", ns, job_name, active=0, failed=1, conditions=[
                    {"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": message}])
                return
            outcome = "succeed"
        if outcome == "succeed":
            if self.scenario != "execute":
                self._run_container(ns, job_name, pod)
            self._set("pods", ns, pod, phase="Succeeded", containerStatuses=terminated(0, "Completed"))
            self._set("jobs", ns, job_name, active=0, succeeded=1, conditions=[
                {"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}])
            return
        if outcome == "fail":
            self._log(pod, "ERROR: s3://x/train_waveforms.hdf5: waveforms/plus: missing dataset")
            self._set("pods", ns, pod, phase="Failed", containerStatuses=terminated(
                2, "Error", "ERROR: s3://x/train_waveforms.hdf5: waveforms/plus: missing dataset"))
            reason = ("PodFailurePolicy", f"Container train for pod {ns}/{pod} failed with exit code 2 matching "
                      "FailJob rule at index 0")
        elif outcome == "oom":
            self._set("pods", ns, pod, phase="Failed", containerStatuses=terminated(137, "OOMKilled"))
            reason = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        else:  # evict
            self._set("pods", ns, pod, phase="Failed", reason="Evicted",
                      message="The node was low on resource: memory.")
            reason = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        self._set("jobs", ns, job_name, active=0, failed=1, conditions=[
            {"type": "FailureTarget", "status": "True", "reason": reason[0], "message": reason[1]},
            {"type": "Failed", "status": "True", "reason": reason[0], "message": reason[1]}])

    def _run_container(self, ns: str, job_name: str, pod: str) -> None:
        """What aframe-train's last step does, with only what the pod gets: its Secret file, env and command."""
        from executables.common import storage

        job = self.get("jobs", ns, job_name)
        container = job["spec"]["template"]["spec"]["containers"][0]
        env = {item["name"]: item["value"] for item in container["env"]}
        secret_name = next(v["secret"]["secretName"] for v in job["spec"]["template"]["spec"]["volumes"]
                           if "secret" in v)
        deadline = time.monotonic() + 10
        while (secret := self.get("secrets", ns, secret_name)) is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the kubelet waits for a Secret volume to exist
        command = container["command"]
        run_dir = command[command.index("--run-dir") + 1]
        with tempfile.TemporaryDirectory() as directory:
            credentials = Path(directory, "credentials")
            credentials.write_text(secret["stringData"]["credentials"])
            s3 = storage.client(endpoint_url=env.get("AWS_ENDPOINT_URL"), profile=env["AWS_PROFILE"],
                                credentials_file=credentials, region="us-east-1")
            model = Path(directory, "model.pt")
            model.write_bytes(b"torchscript model from " + pod.encode())
            storage.upload(model, storage.join(run_dir, "model.pt"), s3=s3)
        self._log(pod, f"wrote {run_dir}/model.pt")

    def _mounted(self, ns: str, job: dict[str, Any], directory: Path) -> dict[str, str]:
        """Write the pod's Secret and ConfigMap volumes under ``directory``: {mount path: local directory}."""
        spec = job["spec"]["template"]["spec"]
        sources = {volume["name"]: volume for volume in spec["volumes"]}
        mounted = {}
        for mount in spec["containers"][0]["volumeMounts"]:
            volume = sources[mount["name"]]
            if "secret" in volume:
                deadline = time.monotonic() + 10
                while (item := self.get("secrets", ns, volume["secret"]["secretName"])) is None and \
                        time.monotonic() < deadline:
                    time.sleep(0.05)  # the kubelet waits for a Secret volume to exist
                files = item["stringData"]
            elif "configMap" in volume:
                files = self.get("configmaps", ns, volume["configMap"]["name"])["data"]
            else:
                continue
            target = directory / mount["name"]
            target.mkdir()
            for name, text in files.items():
                (target / name).write_text(text)
            mounted[mount["mountPath"]] = str(target)
        return mounted

    def _execute(self, ns: str, job_name: str, pod: str) -> int:
        """Run the container's command here, as the pod would, and log its output; returns its exit code."""
        import os
        import subprocess
        import sys

        job = self.get("jobs", ns, job_name)
        container = job["spec"]["template"]["spec"]["containers"][0]
        with tempfile.TemporaryDirectory() as directory:
            mounted = self._mounted(ns, job, Path(directory))

            def local(text: str) -> str:
                for mount, path in mounted.items():
                    text = text.replace(mount, path)
                return text

            env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
            env.update({item["name"]: local(item["value"]) for item in container["env"]})
            env["TMPDIR"] = directory
            command = [local(word) for word in container["command"]]
            command[0] = str(Path(sys.executable).with_name(command[0]))
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for line in process.stdout:
                self._log(pod, line.rstrip("\n"))
            return process.wait()

    # -- logs ---------------------------------------------------------------------------------------------------

    def follow(self, ns: str, pod: str):
        """Yield the pod's log lines as they come, until the pod ends or disappears."""
        sent = 0
        while True:
            with self.lock:
                lines = self.logs.get(pod, [])
                item = self.objects.get(("pods", ns, pod))
                ended = item is None or item["status"].get("phase") in ("Succeeded", "Failed")
                fresh, sent = lines[sent:], len(lines)
                if not fresh and not ended:
                    self.lock.wait(0.5)
            yield from fresh
            if ended and not fresh:
                return


def _handler(fake: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self) -> tuple[re.Match | None, dict[str, list[str]]]:
            parts = urlsplit(self.path)
            return ROUTE.match(parts.path), parse_qs(parts.query)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length)) if length else {}

        def _dispatch(self, method: str) -> None:
            match, query = self._route()
            if match is None:
                self._send(404, _status(404, "NotFound", f"no route {self.path}"))
                return
            ns, plural, name = match["ns"], match["plural"], match["name"]
            fake.requests.append((method, plural))
            if method == "GET" and match["log"]:
                self._stream_log(ns, name)
            elif method == "GET" and name:
                item = fake.get(plural, ns, name)
                self._send(200, item) if item else self._send(404, _status(404, "NotFound", f'"{name}" not found'))
            elif method == "GET":
                selector = query.get("labelSelector", [""])[0]
                key, _, value = selector.partition("=")
                with fake.lock:
                    items = [item for (p, n, _), item in fake.objects.items() if p == plural and n == ns
                             and (not key or item["metadata"].get("labels", {}).get(key) == value)]
                    items = json.loads(json.dumps(items))
                self._send(200, {"kind": f"{KINDS[plural]}List", "apiVersion": "v1", "items": items})
            elif method == "POST":
                self._send(*fake.create(plural, ns, self._body()))
            elif method == "PUT":
                self._send(*fake.replace(plural, ns, name, self._body()))
            elif method == "DELETE":
                self._body()
                self._send(*fake.delete(plural, ns, name))

        def _stream_log(self, ns: str, pod: str) -> None:
            if fake.get("pods", ns, pod) is None:
                self._send(404, _status(404, "NotFound", f'pods "{pod}" not found'))
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            for line in fake.follow(ns, pod):
                self.wfile.write((line + "\n").encode())
                self.wfile.flush()

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

    return Handler
