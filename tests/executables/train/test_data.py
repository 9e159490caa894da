"""Batches: deterministic by position, non-coincident background, injection never touching the PSD, metric maths."""

import h5py
import numpy as np
import pytest
import torch

from executables.common.errors import InputError
from executables.train.config import Shared, read_config
from executables.train.data import WaveformBank, partial_auroc, read_responses, snr_floor, swap_and_mute
from executables.train.module import AframeData, AframeModule, shared_dict

from .conftest import IFOS, SAMPLE_RATE

SHARED = Shared(IFOS, SAMPLE_RATE, 16.0, None, 0.5, 1.0, 4.0, 1122)


@pytest.fixture(scope="module")
def pieces(tiny_inputs):
    config = read_config(tiny_inputs["config"])
    data = AframeData(config, SHARED, [tiny_inputs["background"]], tiny_inputs["waveforms"],
                      tiny_inputs["validation"])
    return config, data, AframeModule(config, shared_dict(SHARED))


def test_batch_is_a_function_of_its_position(pieces):
    _, data, _ = pieces
    stream = data.stream()
    one, again, other = stream.batch(1, 3), stream.batch(1, 3), stream.batch(1, 4)
    assert torch.equal(one["background"], again["background"])
    assert not torch.equal(one["background"], other["background"])


def test_background_windows_are_not_coincident(pieces):
    _, data, _ = pieces
    background = data.stream().batch(0, 0)["background"].numpy()
    segment = data.train_segments[0]
    for row in background[:4]:
        starts = []
        for channel in range(2):
            window = row[channel]
            hits = np.flatnonzero(segment[channel] == window[0])
            starts.append(next(h for h in hits if np.array_equal(segment[channel, h: h + len(window)], window)))
        assert starts[0] != starts[1]


def test_injection_leaves_the_psd_and_uninjected_rows_alone(pieces):
    config, data, module = pieces
    batch = data.stream().batch(0, 0)
    X, y = module.injector(batch)
    assert X.shape == (config["data"]["batch_size"], 2, round(SHARED.kernel_length * SAMPLE_RATE))
    assert y.sum() > 0
    clean = dict(batch, inject=torch.zeros_like(batch["inject"]))
    clean.update({key: batch[key][:0] for key in ("polarizations", "dec", "psi", "phi", "snr", "swap", "mute",
                                                  "channel")})
    X_clean, y_clean = module.injector(clean)
    assert y_clean.sum() == 0
    not_injected = ~batch["inject"]
    # the same PSD whitens both: rows without a signal are identical
    assert torch.allclose(X[not_injected], X_clean[not_injected])
    assert not torch.allclose(X[batch["inject"]], X_clean[batch["inject"]])


def test_the_snr_curriculum_starts_loud_and_falls_to_the_minimum(pieces):
    config, data, _ = pieces
    snr = {"minimum": 10.0, "maximum": 40.0, "index": -1.0, "initial_minimum": 30.0, "decay_steps": 4}
    assert [snr_floor(snr, step) for step in (0, 1, 2, 4, 9)] == [30.0, 25.0, 20.0, 10.0, 10.0]
    assert snr_floor(dict(snr, initial_minimum=None), 0) == 10.0
    stream = data.stream()
    stream.data = dict(config["data"], snr=snr)
    batches = config["data"]["batches_per_epoch"]  # 6: epoch 1 starts at step 6, past the decay
    first, later = stream.batch(0, 0)["snr"], stream.batch(1, 0)["snr"]
    assert first.min() >= 30.0 and first.max() <= 40.0
    assert later.min() >= 10.0 and later.min() < 30.0
    assert snr_floor(snr, batches) == 10.0


def test_swap_and_mute_label_noise():
    responses = torch.arange(24, dtype=torch.float64).reshape(3, 2, 4)
    labels = torch.ones(3)
    swap, mute = torch.tensor([True, False, False]), torch.tensor([False, False, True])
    channel = torch.tensor([1, 0, 0])
    out, new = swap_and_mute(responses, labels, swap, mute, channel)
    assert torch.equal(new, torch.tensor([0.0, 1.0, 0.0]))
    assert torch.equal(out[0, 1], responses[1, 1]) and torch.equal(out[0, 0], responses[0, 0])
    assert torch.all(out[2, 0] == 0) and torch.equal(out[2, 1], responses[2, 1])


def test_partial_auroc():
    rng = np.random.default_rng(0)
    background = torch.from_numpy(rng.normal(size=2000))
    assert partial_auroc(background, background + 100, 0.01) == pytest.approx(1.0)
    assert partial_auroc(background, torch.from_numpy(rng.normal(size=2000)), 0.1) == pytest.approx(0.5, abs=0.05)
    signal = torch.from_numpy(rng.normal(1.0, size=2000))
    # full AUROC is the Mann-Whitney statistic
    expected = float((signal[:, None] > background[None, :]).double().mean())
    assert partial_auroc(background, signal, 1.0) == pytest.approx(expected, abs=1e-9)


def test_waveform_bank_reads_rows_from_disk_when_too_big_for_memory(tiny_inputs):
    in_memory = WaveformBank(tiny_inputs["waveforms"], SHARED, memory_gb=4.0)
    on_disk = WaveformBank(tiny_inputs["waveforms"], SHARED, memory_gb=0.0)
    assert in_memory.in_memory is not None and on_disk.in_memory is None
    rows = np.array([5, 1, 5, 0])
    assert np.array_equal(in_memory.rows(rows), on_disk.rows(rows))


def test_training_inputs_of_neither_layout_or_another_rate_name_the_file_and_dataset(tiny_inputs, tmp_path):
    """Issue 24: polarizations are read through WaveformSet, ours or aframe's; anything else is an InputError."""
    plain = tmp_path / "plain.hdf5"
    with h5py.File(plain, "w") as handle:
        handle["waveforms/plus"] = np.zeros((2, 8))
    with pytest.raises(InputError, match=r"plain\.hdf5: length: root attribute missing"):
        WaveformBank(plain, SHARED, memory_gb=1.0)
    with pytest.raises(InputError, match=r"val_waveforms\.hdf5: ledger: this file holds a ResponseSet"):
        WaveformBank(tiny_inputs["validation"], SHARED, memory_gb=1.0)
    other_rate = Shared(IFOS, 2 * SAMPLE_RATE, 16.0, None, 0.5, 1.0, 4.0, 1122)
    with pytest.raises(InputError, match=r"sample_rate: is 256 Hz but --sample-rate is 512"):
        WaveformBank(tiny_inputs["waveforms"], other_rate, memory_gb=1.0)
    with pytest.raises(InputError, match=r"train_waveforms\.hdf5: ledger: this file holds a WaveformSet"):
        read_responses(tiny_inputs["waveforms"], SHARED)
