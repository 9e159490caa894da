"""Bad data never becomes a result (issue 19): each corruption of an input, for each reader, is exit 2 naming it.

The readers are the node programs' own: aframe-infer reads background strain and test injections, aframe-merge reads
ledger shards (training and validation waveforms, injections), and training reads both through the same functions.
Each corruption is one a disk, a killed copy or a wrong file gives: random bytes inside a stored chunk, a run of
0xFF, a span of NaN written through HDF5 (so its checksum is right), a truncated file, and another file of the same
size in its place. Every case must exit 2 with a message naming the file and the dataset, and write nothing: no
output, no done-marker, no temporary.
"""

import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from executables.data.merge import main as merge_main
from executables.infer.infer import main as infer_main
from tests.executables.formats.test_ledger import waveform_set
from tests.executables.infer.infer_inputs import T0, bundle_arguments, make_bundle, write_file

pytestmark = pytest.mark.usefixtures("restore_logging")


def overwrite(path, name, data, chunk=0):
    """Write ``data`` over the bytes of one stored chunk of dataset ``name`` (as much as it holds), as a bad disk or
    a stray write would; bytes that hit the file's own structure are the truncated case's business."""
    with h5py.File(path, "r") as handle:
        info = handle[name].id.get_chunk_info(chunk)
    with open(path, "r+b") as handle:
        handle.seek(info.byte_offset + 16)
        handle.write(data[: info.size - 16])


def nan_span(path, name, rows):
    """NaN written through HDF5 itself: the checksum is right, the values are not."""
    with h5py.File(path, "r+") as handle:
        handle[name][rows] = np.nan


def truncate(path, name):
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


CORRUPTIONS = {
    "random bytes": lambda path, name: overwrite(path, name, np.random.default_rng(0).bytes(4096)),
    "0xFF run": lambda path, name: overwrite(path, name, b"\xff" * 65536),
    "NaN span": lambda path, name: nan_span(path, name, slice(3, 5)),
    "truncated": truncate,
}


def expected_message(kind: str, dataset: str) -> tuple[str, ...]:
    """What the message must say beyond the file's name (any one of them, for a truncated file)."""
    if kind in ("random bytes", "0xFF run"):
        return (f"{dataset}: fails its HDF5 checksum from",)
    if kind == "NaN span":
        return (f"{dataset}: strain is NaN or infinite at GPS",) if dataset in ("H1", "L1") else \
            (f"{dataset}: NaN or infinite value in row 3",)
    return ("not a readable HDF5 file", "cannot read data")


def nothing_written(directory) -> bool:
    return not any(path.is_file() for path in directory.rglob("*"))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("corruption"))


def run_infer(bundle, tmp_path, background=None, injections=None):
    """aframe-infer on the bundle with its first background file and its injections replaced by these copies."""
    first = bundle["branches"][0][1]
    branches = [(index, background if background and path == first else path) for index, path in bundle["branches"]]
    out = tmp_path / "out"
    args = bundle_arguments(dict(bundle, injections=injections or bundle["injections"]),
                            out / "events" / "infer-0000.hdf5", branches=branches,
                            extra=["--done-marker", str(out / "done" / "infer.json"), "--node-hash", "h"])
    return CliRunner().invoke(infer_main, args), out


@pytest.mark.parametrize("kind", CORRUPTIONS)
@pytest.mark.parametrize("dataset", ["H1", "waveforms/h1"])
def test_infer_refuses_a_corrupt_input(bundle, tmp_path, kind, dataset):
    source = bundle["branches"][0][1] if dataset == "H1" else bundle["injections"]
    path = shutil.copy(source, tmp_path / source.name)
    CORRUPTIONS[kind](path, dataset)
    result, out = run_infer(bundle, tmp_path, **({"background": path} if dataset == "H1" else {"injections": path}))
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and any(words in result.output for words in expected_message(kind, dataset))
    assert nothing_written(out)


def test_infer_refuses_another_background_file_of_the_same_size(bundle, tmp_path):
    """Another file copied over this one: the same size, every value finite, but not the data its name says."""
    here = tmp_path / bundle["branches"][0][1].name
    other = write_file(tmp_path, T0 + 640, 64, seed=5)
    shutil.copy(other, here)
    result, out = run_infer(bundle, tmp_path, background=here)
    assert result.exit_code == 2, result.output
    assert str(here) in result.output and "contradicts" in result.output
    assert nothing_written(out)


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_merge_refuses_a_corrupt_shard(tmp_path, kind):
    shards = [waveform_set(rows=8, seed=k).write(tmp_path / f"shard-{k}.hdf5") for k in range(2)]
    CORRUPTIONS[kind](shards[1], "waveforms/plus")
    out = tmp_path / "out"
    result = CliRunner().invoke(merge_main, ["--kind", "waveforms", "--output", str(out / "waveforms.hdf5"),
                                             "--device", "cpu", "--done-marker", str(out / "done" / "merge.json"),
                                             "--node-hash", "h", *[f"--input={path}" for path in shards]])
    assert result.exit_code == 2, result.output
    assert str(shards[1]) in result.output
    assert any(words in result.output for words in expected_message(kind, "waveforms/plus"))
    assert nothing_written(out)


def test_infer_refuses_strain_that_is_zero_over_a_psd_window(bundle, tmp_path):
    """Zeros are finite, but a PSD over them is zero and whitening by it gives infinities."""
    path = shutil.copy(bundle["branches"][0][1], tmp_path / bundle["branches"][0][1].name)
    with h5py.File(path, "r+") as handle:
        handle["L1"][2560:5120] = 0.0  # 10 s at 256 Hz, from 10 s in: longer than the 8 s PSD
    result, out = run_infer(bundle, tmp_path, background=path)
    assert result.exit_code == 2, result.output
    assert f"{path}: L1: strain is zero for a whole PSD window (8 s) from GPS {T0 + 10}.000000" in result.output
    assert nothing_written(out)
