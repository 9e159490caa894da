"""Where every file of a run lives: the one place that names the paths of its data, models and results."""

from __future__ import annotations

from dataclasses import dataclass

from ..names import TUNE_JOURNAL

#: What aframe-sv writes beside its sensitive_volume.h5 (its node declares them: file transfer brings them back).
SV_BESIDE = ("sensitive_volume.png", "sensitive_distance.png", "found-missed.csv", "found-missed.hdf5")


@dataclass(frozen=True)
class Layout:
    """Paths of a run's files, from its six directories."""

    train_data: str
    test_data: str
    train_run: str
    condor: str
    results: str
    tmp: str

    @classmethod
    def from_config(cls, config) -> Layout:
        run = config["run"]
        return cls(run["train_data_dir"], run["test_data_dir"], run["train_run_dir"], run["condor_dir"],
                   run["results_dir"], run["tmp_dir"])

    def background(self, kind: str, start: int, duration: int) -> str:
        root = self.train_data if kind == "train" else self.test_data
        return f"{root}/background/background-{start}-{duration}.hdf5"

    def waveform_shard(self, kind: str, index: int) -> str:
        return f"{self.train_data}/waveforms/{kind}-{index:03d}.hdf5"

    def waveforms(self, kind: str) -> str:
        return f"{self.train_data}/{kind}_waveforms.hdf5"

    def injection_shard(self, start: int, duration: int) -> str:
        return f"{self.test_data}/injections/injections-{start}-{duration}.hdf5"

    def rejected_shard(self, start: int, duration: int) -> str:
        return f"{self.test_data}/injections/rejected-{start}-{duration}.hdf5"

    @property
    def injections(self) -> str:
        return f"{self.test_data}/injections.hdf5"

    @property
    def rejected(self) -> str:
        return f"{self.test_data}/rejected-parameters.hdf5"

    @property
    def model(self) -> str:
        return f"{self.train_run}/model.pt"

    def trial(self, index: int) -> str:
        return f"{self.train_run}/trials/trial-{index:03d}"

    @property
    def journal(self) -> str:
        return f"{self.condor}/{TUNE_JOURNAL}"

    @property
    def model_repository(self) -> str:
        return f"{self.results}/model_repo"

    def events(self, index: str) -> str:
        return f"{self.results}/events/{index}.hdf5"

    @property
    def background_events(self) -> str:
        return f"{self.results}/background.hdf5"

    @property
    def foreground_events(self) -> str:
        return f"{self.results}/foreground.hdf5"

    @property
    def zero_lag_events(self) -> str:
        return f"{self.results}/zero-lag.hdf5"

    @property
    def sensitive_volume(self) -> str:
        return f"{self.results}/sensitive_volume.h5"

    @property
    def sensitive_volume_outputs(self) -> tuple[str, ...]:
        """Everything aframe-sv writes: the curves, then its figures and found/missed table beside them."""
        return (self.sensitive_volume, *(f"{self.results}/{name}" for name in SV_BESIDE))

    @property
    def summary(self) -> str:
        return f"{self.results}/summary.json"
