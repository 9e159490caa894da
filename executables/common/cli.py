"""Click scaffolding that makes a plain function a node program: logging, exit codes and the done-marker.

A node program is written as::

    @click.command()
    @node_options
    @click.option("--out", type=click.Path(path_type=Path), required=True)
    def main(out: Path) -> list[Path]:
        with atomic_file(out) as handle:
            ...
        return [out]

The body takes its own options only and returns the paths it wrote. ``node_options`` adds ``--done-marker PATH``,
``--node NAME``, ``--node-hash TEXT``, ``--verbose/-v`` and ``--debug``. It logs the command line, runs the body,
turns an exception into the exit code of ``errors.exit_code_for`` (a ``click.UsageError`` such as ``BadParameter``
raised by the body exits 2, as a bad command line does), writes the done-marker after a success and logs the elapsed
time.
"""

from __future__ import annotations

import functools
import logging
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from executables.common import storage
from executables.common.errors import CheckpointAndRequeue, ExitCode, NodeError, PermanentError, exit_code_for
from executables.common.logs import format_duration, setup_logging
from executables.common.markers import write_done_marker

NodeBody = Callable[..., Iterable[str | os.PathLike[str]]]


def _outputs_of(returned: Any) -> list[str | Path]:
    """Check the body kept the contract of returning a list of paths (one path alone is a likely slip); ``s3://``
    URLs stay text, since ``Path`` would fold them to ``s3:/``."""
    if returned is None or isinstance(returned, (str, bytes, os.PathLike)):
        raise RuntimeError(f"a node body must return the list of paths it wrote, got {returned!r}")
    return [output if storage.is_remote(output) else Path(output) for output in returned]


def _run(
    body: NodeBody,
    kwargs: dict[str, Any],
    *,
    program: str,
    marker: tuple[Path, str, str] | None,
    debug: bool,
) -> int:
    """Run ``body`` under the node contract, write the marker (path, node, hash) on success, return the exit code."""
    log = logging.getLogger(program)
    log.info("start: %s", shlex.join(sys.argv))
    started = time.monotonic()
    try:
        outputs = _outputs_of(body(**kwargs))
        if marker is not None:
            marker_path, node, node_hash = marker
            write_done_marker(marker_path, node, outputs, node_hash)
            log.info("done-marker written: %s", marker_path)
        code = int(ExitCode.SUCCESS)
    except CheckpointAndRequeue as exc:
        log.info("checkpoint saved, exiting %d to be started again: %s", ExitCode.CHECKPOINT, exc)
        code = int(ExitCode.CHECKPOINT)
    except NodeError as exc:
        code = exit_code_for(exc)
        log.error("%s", exc, exc_info=debug)
    except click.ClickException as exc:
        code = exc.exit_code
        log.error("%s", exc.format_message(), exc_info=debug)
    except Exception as exc:
        code = exit_code_for(exc)
        log.exception("unexpected %s: %s", type(exc).__name__, exc)
    log.info("exit %d after %s", code, format_duration(time.monotonic() - started))
    return code


def node_options(body: NodeBody) -> Callable[..., None]:
    """Decorate a node body (under ``@click.command()``) with the node-contract options and scaffolding."""

    @functools.wraps(body)
    def callback(
        *,
        done_marker: Path | None,
        node: str | None,
        node_hash: str | None,
        verbose: bool,
        debug: bool,
        **kwargs: Any,
    ) -> None:
        ctx = click.get_current_context()
        marker = None
        if done_marker is not None:
            if node_hash is None:
                raise click.UsageError("--done-marker needs --node-hash (the marker records it for aframe-node-check)")
            marker = (done_marker, node or done_marker.stem, node_hash)
            # Without a shared filesystem the marker's directory is the one the job sends back: it must exist
            # even when the node fails, or HTCondor holds the job for the missing output.
            done_marker.parent.mkdir(parents=True, exist_ok=True)
        setup_logging(verbose or debug)
        code = _run(body, kwargs, program=ctx.info_name or body.__name__, marker=marker, debug=debug)
        ctx.exit(code)

    # click collects options in __click_params__; give the wrapper its own list instead of sharing the body's.
    callback.__click_params__ = list(getattr(body, "__click_params__", []))  # type: ignore[attr-defined]
    options = [
        click.option(
            "--done-marker",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write this done-marker (JSON) after a success.",
        ),
        click.option("--node", help="DAG node name recorded in the marker [default: the marker's file stem]."),
        click.option("--node-hash", help="Hash of this node's program, arguments and inputs, recorded in the marker."),
        click.option("--verbose", "-v", is_flag=True, help="Log at DEBUG level."),
        click.option("--debug", is_flag=True, help="Like --verbose, and print a traceback for every failure."),
    ]
    for option in reversed(options):
        callback = option(callback)
    return callback


def device_option(help: str = "Where the work runs; cuda must be usable when asked for.",
                  default: str = "cpu") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--device cpu|cuda`` every node program takes (DESIGN §12: told cuda without a usable GPU, it exits 2)."""
    return click.option("--device", type=click.Choice(("cpu", "cuda")), default=default, show_default=True, help=help)


def require_device(device: str) -> None:
    """``--device cuda`` must find a usable CUDA device (DESIGN §12: never a silent CPU fallback)."""
    if device != "cuda":
        return
    try:
        import torch
    except ImportError:
        raise PermanentError("--device cuda: torch is not installed, so no CUDA device can be used") from None
    if not torch.cuda.is_available():
        raise PermanentError("--device cuda: no usable CUDA device is visible to this job")


def split(value: str) -> list[str]:
    """A comma-separated option as a list of its non-empty, stripped parts."""
    return [part.strip() for part in value.split(",") if part.strip()]


def given_ifos(value: str) -> list[str]:
    """``--ifos`` as given, at least one: for programs that take the plan's ifos without asking lal about them."""
    ifos = split(value)
    if not ifos:
        raise click.BadParameter("give at least one ifo, e.g. H1,L1", param_hint="--ifos")
    return ifos


def parse_ifos(value: str) -> list[str]:
    """``--ifos``: distinct interferometer prefixes lal knows (H1, L1, V1, ...)."""
    import lal

    ifos = split(value)
    if not ifos or len(set(ifos)) != len(ifos):
        raise click.BadParameter(f"need distinct interferometers, got {value!r}", param_hint="--ifos")
    unknown = [ifo for ifo in ifos if ifo not in lal.cached_detector_by_prefix]
    if unknown:
        known = ", ".join(sorted(lal.cached_detector_by_prefix))
        raise click.BadParameter(f"unknown interferometer {unknown[0]!r}; lal knows {known}", param_hint="--ifos")
    return ifos


def not_implemented(program: str, issue: int) -> click.Command:
    """A stand-in entry point for a node program a later issue builds: it accepts anything and exits 2."""

    @click.command(
        name=program,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    )
    def command() -> None:
        click.echo(f"{program}: not implemented yet (issue {issue})", err=True)
        click.get_current_context().exit(int(ExitCode.PERMANENT))

    command.not_implemented = issue  # read by scripts/nodes_doc.py
    return command
