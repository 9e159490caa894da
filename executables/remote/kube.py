"""A thin layer over the ``kubernetes`` client: manifests in, dicts out, API failures as node-contract errors.

Rejections (400 invalid, 403 forbidden or over quota, 422 unprocessable, 401 unauthorized) are ``PermanentError``
with the API's own reason and message (exit 2: a retry would be rejected again); 429 and 5xx answers and an API
server that cannot be reached are ``TransientError`` (exit 1, DAGMan retries). Nothing here logs a Secret's data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from executables.common.errors import PermanentError, TransientError

log = logging.getLogger("aframe-remote-train")

_PLURALS = {"Job": "job", "Secret": "secret", "ConfigMap": "config_map", "Pod": "pod"}


class Conflict(Exception):
    """The object already exists (HTTP 409)."""


def _reason(exc: Any) -> str:
    """The API's ``reason: message`` from an ``ApiException`` body (a Status object), else its HTTP reason."""
    try:
        status = json.loads(exc.body)
        return f"{status.get('reason') or exc.reason}: {status.get('message') or ''}".rstrip(": ")
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


class Kube:
    """The Kubernetes API of one kubeconfig, for the objects of one namespace."""

    def __init__(self, kubeconfig: str | Path | None, namespace: str | None) -> None:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        where = str(kubeconfig) if kubeconfig else "the default kubeconfig"
        try:
            self.api_client = config.new_client_from_config(config_file=str(kubeconfig) if kubeconfig else None)
            _, active = config.list_kube_config_contexts(config_file=str(kubeconfig) if kubeconfig else None)
        except (ConfigException, OSError, ValueError) as exc:
            raise PermanentError(f"{where}: cannot load the Kubernetes configuration: {exc}") from None
        self.namespace = namespace or active.get("context", {}).get("namespace") or "default"
        self.batch = client.BatchV1Api(self.api_client)
        self.core = client.CoreV1Api(self.api_client)
        self.server = self.api_client.configuration.host

    def _call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return method(*args, **kwargs)
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(what) from None
            if exc.status == 404:
                return None
            if exc.status in (400, 401, 403, 422):
                raise PermanentError(f"Kubernetes ({self.server}) rejected {what}: {_reason(exc)}") from None
            raise TransientError(f"Kubernetes ({self.server}) failed on {what}: {exc.status} {_reason(exc)}") \
                from None
        except HTTPError as exc:
            raise TransientError(f"cannot reach the Kubernetes API at {self.server} ({what}): {exc}") from None

    def _json(self, what: str, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        response = self._call(what, method, *args, _preload_content=False, **kwargs)
        return None if response is None else json.loads(response.data)

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create an object of this namespace; ``Conflict`` when it exists."""
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        api = self.batch if kind == "Job" else self.core
        method = getattr(api, f"create_namespaced_{_PLURALS[kind]}")
        created = self._json(f"{kind} {name}", method, self.namespace, manifest)
        if created is None:
            raise PermanentError(f"Kubernetes ({self.server}): namespace {self.namespace!r} does not exist")
        return created

    def replace(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """Replace an existing Secret or ConfigMap with this manifest."""
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        method = getattr(self.core, f"replace_namespaced_{_PLURALS[kind]}")
        return self._json(f"{kind} {name}", method, name, self.namespace, manifest)

    def read_job(self, name: str) -> dict[str, Any] | None:
        return self._json(f"Job {name}", self.batch.read_namespaced_job, name, self.namespace)

    def delete(self, kind: str, name: str) -> None:
        """Delete an object (a Job with its pods); a missing one is fine."""
        api = self.batch if kind == "Job" else self.core
        method = getattr(api, f"delete_namespaced_{_PLURALS[kind]}")
        self._call(f"deleting {kind} {name}", method, name, self.namespace, propagation_policy="Background")

    def pods(self, job: str) -> list[dict[str, Any]]:
        """The pods of a Job, oldest first."""
        listed = self._json(f"pods of Job {job}", self.core.list_namespaced_pod, self.namespace,
                            label_selector=f"job-name={job}") or {}
        return sorted(listed.get("items", []), key=lambda pod: pod["metadata"].get("creationTimestamp", ""))

    def follow_log(self, pod: str, container: str) -> Iterator[bytes]:
        """The container's log as it is written, until the container ends."""
        response = self._call(f"log of pod {pod}", self.core.read_namespaced_pod_log, pod, self.namespace,
                              container=container, follow=True, _preload_content=False)
        if response is None:
            return
        try:
            yield from response.stream(4096)
        finally:
            response.release_conn()
