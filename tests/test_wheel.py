"""The wheel carries templates/ and configs/: a non-editable install runs `init` from anywhere."""

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["aframe_dag", "executables", "pyproject.toml", "README.md", "LICENSE"]

pytestmark = pytest.mark.wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources (so the checkout gets no build/ or egg-info)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", out, source], check=True, capture_output=True)
    (built,) = out.glob("aframe_dag-*.whl")
    return built


def test_wheel_holds_package_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for data in ["aframe_dag/templates/run.sh.j2", "aframe_dag/configs/sandbox.ini", "aframe_dag/configs/tune.ini",
                 "aframe_dag/configs/tiny.ini",
                 "aframe_dag/configs/train.yaml", "aframe_dag/configs/sites.ini"]:
        assert data in names
    assert not [name for name in names if name.startswith("tests/")]


def test_fresh_virtualenv_runs_init(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet",
                    "--no-deps", "--no-index", wheel], check=True, capture_output=True)
    # Dependencies come from this environment, after the fresh site-packages (where the wheel went).
    fresh_site = next((venv / "lib").glob("python3*/site-packages"))
    (fresh_site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run([venv / "bin" / "python", "-c", "import aframe_dag; print(aframe_dag.__file__)"],
                           check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert where.startswith(str(fresh_site))
    run = tmp_path / "run"
    result = subprocess.run([venv / "bin" / "aframe-dag", "init", "tune", "--directory", run],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[tune]" in (run / "run.ini").read_text()
    assert (run / "train.yaml").read_text().startswith("# Training details")
