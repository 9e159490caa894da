"""`aframe-dag init`: a run directory's run.ini, train.yaml and run.sh from the shipped configs."""

from __future__ import annotations

import configparser
import os
import re
from importlib import resources
from pathlib import Path

import yaml

from ..builder.templating import environment
from ..config.checks import node_log_refusal
from ..config.load import site_profiles
from ..config.schema import CONDOR
from ..config.types import Flag
from ..errors import UserError, did_you_mean
from ..names import DAG_FILE
from .inifile import set_value

KINDS = ("sandbox", "tune")
S3_URL = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?")


def _shipped(name: str) -> str:
    return (resources.files("aframe_dag") / "configs" / name).read_text()


def run_directories(directory: Path, s3_bucket: str | None) -> dict[str, str]:
    """The AFRAME_* directories of a run: all under DIR, training data and runs on S3 when asked."""
    remote = s3_bucket.rstrip("/") if s3_bucket else None
    return {
        "AFRAME_TRAIN_DATA_DIR": f"{remote}/data/train" if remote else str(directory / "data" / "train"),
        "AFRAME_TEST_DATA_DIR": str(directory / "data" / "test"),
        "AFRAME_TRAIN_RUN_DIR": f"{remote}/training" if remote else str(directory / "training"),
        "AFRAME_CONDOR_DIR": str(directory / "condor"),
        "AFRAME_RESULTS_DIR": str(directory / "results"),
        "AFRAME_TMPDIR": str(directory / "tmp"),
    }


def _overlay(text: str, overlay: str) -> str:
    """Set every key of an overlay config in the text (sections added where missing)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(overlay)
    for section in parser.sections():
        for key, value in parser[section].items():
            text = set_value(text, section, key, value)
    return text


def run_ini_text(kind: str, name: str, site: str, device: str, s3_bucket: str | None, tiny: bool = False) -> str:
    """The shipped config for `kind`, set up for this site, device and storage (and laptop-sized if tiny)."""
    text = _shipped("sandbox.ini") + (_shipped("tune.ini") if kind == "tune" else "")
    if tiny:
        text = _overlay(text, _shipped("tiny.ini"))
    text = set_value(text, "run", "name", name)
    text = set_value(text, "run", "device", device)
    text = set_value(text, "condor", "site", site)
    if s3_bucket:
        text = set_value(text, "train", "remote", "kubernetes")
        text += (
            "\n[s3]\n"
            "# Empty endpoint: AWS. For another S3 service (e.g. Nautilus) give its URL.\n"
            "endpoint_url =\n"
            "credentials_file = $HOME/.aws/credentials\n"
            "profile = default\n"
            "\n[kubernetes]\n"
            "# An image with aframe-dag[train] installed; training cannot start without it.\n"
            "image =\n"
            "namespace =\n"
        )
    return text


def _profile(site: str) -> dict[str, str]:
    """The built-in profile --site names (a new run.ini has no [site:NAME] of its own yet)."""
    profiles = site_profiles()
    if site not in profiles:
        raise UserError(f"--site '{site}': no such site profile{did_you_mean(site, profiles)}; choose "
                        + ", ".join(profiles))
    return profiles[site]


def _backup_name(path: Path) -> Path:
    number = 1
    while path.with_name(f"{path.name}.~{number}~").exists():
        number += 1
    return path.with_name(f"{path.name}.~{number}~")


def _from_aframe(run_ini: str, train_yaml: str, translation) -> tuple[str, str]:
    """run.ini and train.yaml texts with the values mapped from an aframe config set."""
    from .lightning_yaml import apply_train

    for (section, key), value in translation.run_ini.items():
        run_ini = set_value(run_ini, section, key, value)
    sources = ", ".join(str(p) for p in (translation.source, translation.train_source) if p)
    header = f"# Mapped from aframe's {sources} by `aframe-dag init --from-aframe`.\n"
    if translation.train:
        tree = apply_train(yaml.safe_load(train_yaml), translation.train)
        train_yaml = header + yaml.safe_dump(tree, sort_keys=False, default_flow_style=None)
    return header + run_ini, train_yaml


def init_run(kind: str, directory, s3_bucket: str | None = None, site: str = "ldg", device: str = "cuda",
             name: str | None = None, force: bool = False, tiny: bool = False, aframe=None) -> dict[str, Path]:
    """Write run.ini, train.yaml and run.sh into DIR; existing files are kept (with force: backed up).

    `aframe` (a from_aframe.Translation) overrides the shipped values with those of an aframe config."""
    if kind not in KINDS:
        raise UserError(f"unknown run kind '{kind}': choose {' or '.join(KINDS)}")
    _profile(site)
    if s3_bucket is not None and not S3_URL.fullmatch(s3_bucket):
        raise UserError(f"--s3-bucket '{s3_bucket}': expected s3://bucket[/prefix]")
    directory = Path(directory).expanduser().absolute()
    if directory.exists() and not directory.is_dir():
        raise UserError(f"--directory {directory}: exists and is not a directory")
    name = name or re.sub(r"[^a-z0-9-]+", "-", directory.name.lower()).strip("-")[:40] or "aframe"
    directories = run_directories(directory, s3_bucket)
    run_ini = run_ini_text(kind, name, site, device, s3_bucket, tiny)
    train_yaml = _shipped("train_tiny.yaml" if tiny else "train.yaml")
    if aframe is not None:
        run_ini, train_yaml = _from_aframe(run_ini, train_yaml, aframe)
    files = {
        directory / "run.ini": run_ini,
        directory / "train.yaml": train_yaml,
        directory / "run.sh": environment().get_template("run.sh.j2").render(
            name=name, kind=kind, directories=directories, run_ini=directory / "run.ini",
            condor_dir=directories["AFRAME_CONDOR_DIR"],
            dag=Path(directories["AFRAME_CONDOR_DIR"]) / DAG_FILE,
        ),
    }
    existing = [path for path in files if path.exists()]
    if existing and not force:
        names = ", ".join(path.name for path in existing)
        raise UserError(f"{directory}: {names} already exist; nothing written (use --force to replace them, "
                        "keeping backups)")
    directory.mkdir(parents=True, exist_ok=True)
    temporaries = {}
    try:
        for path, text in files.items():
            temporary = path.with_name(f".{path.name}.init-{os.getpid()}")
            temporary.write_text(text)
            temporary.chmod(0o755 if path.suffix == ".sh" else 0o644)
            temporaries[path] = temporary
        for path in existing:
            os.link(path, _backup_name(path))
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
    return {"run.ini": directory / "run.ini", "train.yaml": directory / "train.yaml", "run.sh": directory / "run.sh"}


def tmp_warning(files: dict[str, Path], site: str) -> str | None:
    """Why `build` will refuse the run init just wrote (its condor dir under /tmp on a pool site), or None."""
    condor_dir = run_directories(files["run.ini"].parent, None)["AFRAME_CONDOR_DIR"]
    refusal = node_log_refusal(condor_dir, site)
    if refusal is None:
        return None
    return (f"{condor_dir} {refusal}: `aframe-dag build` will refuse this run; give a --directory outside /tmp, or "
            "--site local to run it only with `aframe-dag run`")


def next_steps(files: dict[str, Path], site: str) -> list[str]:
    """What to do after init: set the accounting group where the site needs one, source run.sh, build."""
    steps = [f"source {files['run.sh']}", f"aframe-dag build {files['run.ini']}"]
    if Flag().parse(_profile(site).get("require_accounting", CONDOR["require_accounting"].default)):
        steps.insert(0, f"set [condor] accounting_group in {files['run.ini']} (site '{site}' requires it: LDG pools "
                        "refuse jobs without one)")
    return steps
