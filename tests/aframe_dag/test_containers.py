"""The node image recipes install this package through its own extras, and container builds run the image's scripts.

The recipes are parsed, not built (no container runtime or registry here): every `pip install` must install only
`.[extras]` with `-c constraints.txt` (or upgrade pip itself), so no second dependency list can drift from
pyproject.toml; what they copy must exist; both must put the same virtualenv first on PATH.
"""

import re
import shlex
from pathlib import Path

import htcondor2
import pytest

from aframe_dag.builder.build import build

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "containers" / "Dockerfile"
APPTAINER = ROOT / "containers" / "aframe-dag.def"
BASE = re.compile(r"nvcr\.io/nvidia/tritonserver:(\$\{TRITON_TAG\}|\{\{ TRITON_TAG \}\})-py3")
PIP_OPTIONS_WITH_VALUE = {"-c", "--constraint", "-r", "--requirement", "-i", "--index-url", "--extra-index-url"}


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def dockerfile_instructions(text):
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def apptainer_sections(text):
    """The header ('' key) and each %section's lines, comments dropped."""
    sections, name = {"": []}, ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.startswith("%"):
            name = line[1:].split()[0]
            sections[name] = []
        else:
            sections[name].append(line.strip())
    return sections


def pip_installs(shell_lines):
    """The argument lists of every `pip install` in some shell commands."""
    installs = []
    for line in shell_lines:
        for command in re.split(r"&&|;|\|\|", line):
            words = shlex.split(command)
            if "pip" in words and words[words.index("pip") + 1:words.index("pip") + 2] == ["install"]:
                installs.append(words[words.index("pip") + 2:])
    return installs


def targets_and_options(arguments):
    """What one `pip install` installs, and the values of its options."""
    targets, options, words = [], {}, iter(arguments)
    for word in words:
        if word in PIP_OPTIONS_WITH_VALUE:
            options[word] = next(words)
        elif not word.startswith("-"):
            targets.append(word)
    return targets, options


def extras_requirements(extras, optional):
    """Every requirement an extra pulls in, following aframe-dag[...] self-references."""
    found = []
    for extra in extras:
        for requirement in optional[extra]:
            inner = re.fullmatch(r"aframe-dag\[([\w,]+)\]", requirement)
            found += extras_requirements(inner.group(1).split(","), optional) if inner else [requirement]
    return found


def docker_recipe():
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    runs = [arguments for kind, arguments in instructions if kind == "RUN"]
    copied = [word for kind, arguments in instructions if kind == "COPY" for word in arguments.split()[:-1]]
    base = [arguments for kind, arguments in instructions if kind == "FROM"]
    path = [arguments for kind, arguments in instructions if kind == "ENV" and arguments.startswith("PATH=")]
    return runs, copied, base, path


def apptainer_recipe():
    sections = apptainer_sections(APPTAINER.read_text())
    header = dict(line.split(":", 1) for line in sections[""])
    copied = [line.split()[0] for line in sections["files"]]
    path = [line for line in sections["environment"] if line.startswith("export PATH=")]
    return sections["post"], copied, [header["From"].strip()], path


@pytest.mark.parametrize("recipe", [docker_recipe, apptainer_recipe], ids=["Dockerfile", "apptainer"])
def test_recipe_installs_only_the_package_extras_with_its_constraints(recipe):
    shell, copied, base, path = recipe()
    optional = pyproject()["project"]["optional-dependencies"]
    installs = [targets_and_options(arguments) for arguments in pip_installs(shell)]
    package = [(targets, options) for targets, options in installs if targets != ["pip"]]
    assert len(package) == 1, f"expected one install of the package, got {installs}"
    (targets, options), = package
    match = re.fullmatch(r"\.\[([\w,]+)\]", targets[0]) if len(targets) == 1 else None
    assert match, f"installs {targets}, not the package's own extras .[...]"
    extras = match.group(1).split(",")
    assert set(extras) <= set(optional) - {"test"}
    assert options.get("-c", options.get("--constraint")) == "constraints.txt"
    assert not {"-r", "--requirement"} & set(options), "a requirements file is a second dependency list"
    names = {re.split(r"[<>=!\[ ;]", requirement)[0] for requirement in extras_requirements(extras, optional)}
    assert {"torch", "tritonclient", "ml4gw", "onnxruntime", "lalsuite", "optuna"} <= names
    assert BASE.fullmatch(base[0]), base
    assert {"pyproject.toml", "constraints.txt", "README.md", "aframe_dag", "executables"} <= set(copied)
    assert all((ROOT / source).exists() for source in copied), copied
    assert len(path) == 1 and "/opt/aframe/bin:" in path[0]


def test_recipes_agree_on_the_triton_tag():
    docker = re.search(r"^ARG TRITON_TAG=(\S+)$", DOCKERFILE.read_text(), re.M)
    apptainer = apptainer_sections(APPTAINER.read_text())["arguments"]
    assert docker and apptainer == [f"TRITON_TAG={docker.group(1)}"]


def test_a_second_dependency_list_would_be_caught():
    """The parser this test relies on sees a package named beside the extras."""
    installs = pip_installs(['python -m pip install -c constraints.txt ".[all]" && pip install numpy'])
    assert [targets_and_options(arguments)[0] for arguments in installs] == [[".[all]"], ["numpy"]]


def test_container_build_runs_the_image_s_scripts_and_the_access_point_s_own(micro_ini, run_env):
    """Jobs run in the image by bare name; PRE scripts and local-universe jobs run on the access point."""
    result = build(micro_ini, ["condor.universe=container", "condor.container_image=/cvmfs/aframe/aframe-dag.sif"],
                   dry_run=True)
    scripts = pyproject()["project"]["scripts"]
    for name, text in result.files.items():
        if name.endswith(".sub"):
            ad = dict(htcondor2.Submit(text).items())
            assert ad["universe"] == "container" and ad["container_image"] == "/cvmfs/aframe/aframe-dag.sif"
            assert ad["executable"] in scripts, (name, ad["executable"])
            assert ad["transfer_executable"] == "false"  # else condor_submit looks for it on the access point
    pre = re.findall(r"^SCRIPT PRE \S+ (\S+)", result.files["aframe.dag"], re.M)
    assert pre and all(Path(p).is_absolute() and Path(p).name == "aframe-node-check" for p in pre)


def test_local_universe_jobs_keep_the_access_point_s_path_in_a_container_build(micro_ini, run_env, monkeypatch):
    monkeypatch.setenv("AFRAME_TRAIN_DATA_DIR", "s3://bucket/data")
    monkeypatch.setenv("AFRAME_TRAIN_RUN_DIR", "s3://bucket/training")
    result = build(micro_ini, ["condor.universe=container", "condor.container_image=/cvmfs/aframe/aframe-dag.sif",
                               "train.remote=kubernetes", "kubernetes.image=img"], dry_run=True)
    ad = dict(htcondor2.Submit(result.files["remote-train.sub"]).items())
    assert ad["universe"] == "local" and "container_image" not in ad
    assert Path(ad["executable"]).is_absolute() and Path(ad["executable"]).name == "aframe-remote-train"
