"""A node's CPU count: its affinity mask, capped by the OMP_NUM_THREADS the plan sets to its request_cpus."""

import os

from executables.common.cpus import usable_cpus


def test_usable_cpus_follow_the_affinity_mask_and_omp_num_threads(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert usable_cpus() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert usable_cpus() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "16")
    assert usable_cpus() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    assert usable_cpus() == 4
