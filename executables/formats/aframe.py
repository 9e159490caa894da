"""aframe's own ledger files, read as ours: so a dataset aframe produced can be given to aframe-dag's node programs.

aframe (``libs/ledger``, ``projects/data``) writes its sets with the same ledger layout (root ``length``,
``parameters/``, ``waveforms/``, metadata as root attributes) and the same parameter names (bilby's: ``mass_1``,
``mass_2`` in the detector frame, ``redshift``, ``a_1``, ... ``psi``), but

- with no ``ledger`` attribute naming the set, and no HDF5 checksums;
- with the per-ifo SNRs of validation waveforms, test injections and rejected draws as one 2-D dataset
  ``parameters/ifo_snrs`` (rows, ifos), its columns in the order of the root attribute ``ifos``, where ours store one
  1-D ``<ifo>_snr`` per ifo;
- without ``approximant``, ``prior``, ``minimum_frequency`` and ``reference_frequency`` metadata, without
  ``num_injections`` on the rejected draws (aframe normalises its sensitive volume by accepted + rejected rows), and
  with float64 waveforms.

``ifo_snr_columns`` maps the 2-D dataset onto our names; the readers in ``executables.formats.ledger`` then read
each column lazily, like any 1-D parameter. Background files need nothing of this: aframe writes them with gwpy
(``TimeSeriesDict.write(..., format="hdf5")``, one float64 dataset per ifo with ``x0``/``dx``), which
``executables.formats.strain`` reads as it is.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import h5py

from executables.common.errors import InputError
from executables.formats.ledger import _as_str_list

PathLike = str | os.PathLike[str]

#: aframe's (rows, ifos) dataset of per-ifo SNRs.
IFO_SNRS = "ifo_snrs"


def is_aframe_file(handle: h5py.Group) -> bool:
    """A ledger file aframe wrote: the ledger layout (root ``length``) without our ``ledger`` attribute."""
    return "length" in handle.attrs and "ledger" not in handle.attrs


def ifo_snr_columns(path: PathLike, handle: h5py.Group,
                    name_of: Callable[[str], str]) -> dict[str, tuple[str, int]]:
    """``{name_of(ifo): ("ifo_snrs", column)}`` for an aframe file holding ``parameters/ifo_snrs``; ``{}`` otherwise.

    A 2-D ``ifo_snrs`` whose columns do not match the root attribute ``ifos`` is an ``InputError`` naming the file
    and the attribute or dataset.
    """
    group = handle.get("parameters")
    if not is_aframe_file(handle) or not isinstance(group, h5py.Group) or IFO_SNRS not in group:
        return {}
    dataset = group[IFO_SNRS]
    if "ifos" not in handle.attrs:
        raise InputError(path, "ifos", f"root attribute missing: it names the columns of parameters/{IFO_SNRS}")
    ifos = _as_str_list(handle.attrs["ifos"])
    if dataset.ndim != 2 or dataset.shape[1] != len(ifos):
        raise InputError(path, f"parameters/{IFO_SNRS}", f"has shape {dataset.shape}, expected (rows, "
                                                         f"{len(ifos)}) for ifos {', '.join(ifos)}")
    return {name_of(ifo): (IFO_SNRS, column) for column, ifo in enumerate(ifos)}
