"""`aframe-merge`: the fan-in of ledger shards (training or validation waveforms, injections, rejected draws).

Streams the rows of every ``--input`` into ``--output`` in bounded chunks, checks the shards agree (ledger class,
datasets, ``ifos``, ``sample_rate``, ``duration`` ...), sums ``num_injections``, writes atomically and never deletes
an input (a rescued or rerun DAG needs them). See ``executables.formats.merge.merge``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from executables.common import storage
from executables.common.cli import device_option, node_options, require_device
from executables.common.errors import InputError
from executables.formats.merge import merge
from executables.formats.sets import MERGE_KINDS

log = logging.getLogger("aframe-merge")


@click.command()
@node_options
@click.option("--kind", type=click.Choice(sorted(MERGE_KINDS)), required=True,
              help="Ledger kind of the shards: waveforms (training or validation), injections or rejected.")
@click.option("--output", type=storage.PathOrUrl(), required=True,
              help="Merged file to write (an s3:// URL is written locally, then uploaded).")
@device_option("Checked like every node's (cuda must exist); merging runs on the CPU.")
@click.option("--input", "inputs", multiple=True, type=storage.PathOrUrl(),
              help="A shard to merge (local or s3://, fetched to scratch); repeat once per shard, in order.")
def main(kind: str, output: Path | str, device: str, inputs: tuple[Path | str, ...]) -> list[Path | str]:
    """Merge ledger shards of one kind into one file; the shards are kept."""
    require_device(device)
    if storage.is_remote(output) and output in inputs:
        raise InputError(output, None, "is also the merge output")
    with storage.scratch() as scratch, storage.writable(output) as local:
        shards = storage.local_copies(inputs, scratch)
        merge(kind, shards, local)
    log.info("merged %d shards into %s", len(inputs), output)
    return [output]
