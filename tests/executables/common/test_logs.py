"""Tests for executables/common/logs.py: the stderr format and the progress lines."""

import fcntl
import io
import logging
import os
import re
import select
import struct
import sys
import termios

import pytest

from executables.common.logs import Progress, format_duration, setup_logging

pytestmark = pytest.mark.usefixtures("restore_logging")

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|DEBUG) aframe\.test: (.*)$")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_setup_logging_format_level_and_idempotence(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    setup_logging(verbose=False)
    setup_logging(verbose=False)
    log = logging.getLogger("aframe.test")
    log.debug("hidden")
    log.info("shown")
    setup_logging(verbose=True)
    log.debug("now shown")
    lines = stream.getvalue().splitlines()
    assert [LINE.match(line).groups() for line in lines] == [("INFO", "shown"), ("DEBUG", "now shown")]


def test_setup_logging_follows_the_current_stderr(monkeypatch):
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging(verbose=False)
    monkeypatch.setattr(sys, "stderr", second)
    setup_logging(verbose=False)
    logging.getLogger("aframe.test").info("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.04, "0.0s"), (3.04, "3.0s"), (59.9, "59.9s"), (123, "2m03s"), (3723, "1h02m03s")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_progress_lines_with_rate_and_eta(caplog):
    clock = FakeClock()
    log = logging.getLogger("aframe.test.progress")
    caplog.set_level(logging.INFO, logger=log.name)
    with Progress(1000, "waveforms", logger=log, every=10, clock=clock) as progress:
        clock.now += 5
        progress.update(100)
        clock.now += 5
        progress.update(100)
        clock.now += 5
        progress.update(100)
        clock.now += 5
        progress.update(300)
        clock.now += 5
    assert [record.getMessage() for record in caplog.records] == [
        "waveforms: 200/1000 (20.0%), 20.0/s, ETA 40.0s",
        "waveforms: 600/1000 (60.0%), 30.0/s, ETA 13.3s",
        "waveforms: 600/1000 in 25.0s, 24.0/s",
    ]
    progress.close()
    assert len(caplog.records) == 3


def test_progress_before_any_time_passed():
    clock = FakeClock()
    progress = Progress(10, clock=clock, logger=logging.getLogger("aframe.test.progress"))
    assert progress.line() == "samples: 0/10 (0.0%), 0.0/s, ETA ?"


def test_progress_uses_tqdm_on_a_terminal(monkeypatch, caplog):
    pytest.importorskip("tqdm")
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a new pty is 0 columns wide
    with open(terminal, "w") as tty:
        monkeypatch.setattr(sys, "stderr", tty)
        log = logging.getLogger("aframe.test.progress")
        caplog.set_level(logging.INFO, logger=log.name)
        with Progress(10, "samples", logger=log, every=0) as progress:
            for _ in range(10):
                progress.update()
        tty.flush()
        drawn = b""
        while select.select([controller], [], [], 0.5)[0]:
            chunk = os.read(controller, 65536)
            drawn += chunk
            if b"10/10" in drawn:
                break
    os.close(controller)
    assert b"10/10" in drawn
    assert [record.getMessage() for record in caplog.records] == [caplog.records[-1].getMessage()]
    assert caplog.records[-1].getMessage().startswith("samples: 10/10 in ")
