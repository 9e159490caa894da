"""A tiny node program for the scaffolding tests: ``--mode`` picks how its body ends."""

from pathlib import Path

import click

from executables.common.atomic import atomic_file
from executables.common.cli import node_options
from executables.common.errors import CheckpointAndRequeue, InputError, TransientError

MODES = [
    "ok",
    "input-error",
    "bad-parameter",
    "transient",
    "checkpoint",
    "crash",
    "missing-input",
    "missing-output",
    "single-path",
]


@click.command()
@node_options
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--mode", type=click.Choice(MODES), default="ok")
def main(out: Path, mode: str) -> object:
    """Write ``out`` or fail the way ``mode`` says."""
    if mode == "input-error":
        raise InputError(out, "strain/H1", "dataset missing")
    if mode == "transient":
        raise TransientError("server busy")
    if mode == "bad-parameter":
        raise click.BadParameter("cuda requested but no CUDA device is usable", param_hint="'--device'")
    if mode == "crash":
        raise ValueError("a bug")
    if mode == "missing-input":
        open(out.with_name("no-such-input.hdf5")).close()
    if mode == "missing-output":
        return [out]
    with atomic_file(out) as handle:
        handle.write(b"payload")
    if mode == "checkpoint":
        raise CheckpointAndRequeue("epoch 3 of 10 saved")
    if mode == "single-path":
        return out
    return [out]


if __name__ == "__main__":
    main()
