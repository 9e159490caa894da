"""`aframe-merge`: the fan-in of ledger shards (training or validation waveforms, injections, rejected draws).

Streams the rows of every ``--input`` into ``--output`` in bounded chunks, checks the shards agree (ledger class,
datasets, ``ifos``, ``sample_rate``, ``duration`` ...), sums ``num_injections``, writes atomically and never deletes
an input (a rescued or rerun DAG needs them). See ``executables.data.ledger.merge``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from executables.common.atomic import cleanup_stale_temporaries
from executables.common.cli import node_options
from executables.data.background import require_device
from executables.data.ledger import MERGE_KINDS, merge

log = logging.getLogger("aframe-merge")


@click.command()
@node_options
@click.option("--kind", type=click.Choice(sorted(MERGE_KINDS)), required=True,
              help="Ledger kind of the shards: waveforms (training or validation), injections or rejected.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Merged file to write.")
@click.option("--device", type=click.Choice(("cpu", "cuda")), default="cpu", show_default=True,
              help="Checked like every node's (cuda must exist); merging runs on the CPU.")
@click.option("--input", "inputs", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A shard to merge; repeat once per shard, in order.")
def main(kind: str, output: Path, device: str, inputs: tuple[Path, ...]) -> list[Path]:
    """Merge ledger shards of one kind into one file; the shards are kept."""
    require_device(device)
    cleanup_stale_temporaries(output.parent, [output.name])
    merged = merge(kind, inputs, output)
    log.info("merged %d shards into %s", len(inputs), merged)
    return [merged]
