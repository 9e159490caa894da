"""Loading run.ini: defaults, interpolation, environment, overrides, site profiles and every kind of bad input."""

import pytest

from aframe_dag.config import load_config, resolved_text
from aframe_dag.config.schema import SECTIONS, STAGES
from aframe_dag.errors import ConfigError, UserError


def test_sandbox_loads_with_aframe_defaults(sandbox_ini, run_env):
    config = load_config(sandbox_ini)
    assert config["data"]["ifos"] == ("H1", "L1")
    assert config["data"]["sample_rate"] == 2048
    assert config["waveforms"]["approximant"] == "IMRPhenomPv2"
    assert config["infer"]["psd_length"] == 64
    assert config["run"]["condor_dir"] == str(run_env / "condor")
    assert config["train"]["config"] == str(run_env / "train.yaml")
    assert config.train["model"]["layers"] == [3, 4, 6, 3]


def test_every_key_has_a_value(sandbox_ini):
    config = load_config(sandbox_ini)
    for section, keys in SECTIONS.items():
        assert set(config[section]) == set(keys)
    for stage in STAGES:
        assert config.stage(stage)["request_cpus"] >= 1


def test_stage_defaults_and_retries_interpolate(sandbox_ini):
    config = load_config(sandbox_ini, ["condor.retries=5", "stage:infer.request_memory=20GB"])
    assert config.stage("train")["request_gpus"] == 1
    assert config.stage("background")["request_gpus"] == 0
    assert config.stage("train")["retries"] == 5
    assert config.stage("infer")["request_memory"] == 20 * 1024


def test_shared_parameters_come_from_one_place(sandbox_ini):
    shared = load_config(sandbox_ini, ["infer.sampling_rate=8"]).shared()
    assert shared["inference_sampling_rate"] == 8
    assert shared["kernel_length"] == 1.5
    assert shared["seed"] == 1122


def test_interpolation_and_environment(sandbox_ini, monkeypatch):
    monkeypatch.setenv("MY_PRIOR", "my_prior")
    text = sandbox_ini.read_text().replace("prior = end_o3_ratesandpops", "prior = ${MY_PRIOR}")
    sandbox_ini.write_text(text)
    config = load_config(sandbox_ini)
    assert config["waveforms"]["prior"] == "my_prior"
    # [testing] prior defaults to ${waveforms:prior}, and [sv] source_prior to ${testing:prior}
    assert config["sv"]["source_prior"] == "my_prior"


def test_environment_value_with_dollar_is_literal(sandbox_ini, monkeypatch):
    monkeypatch.setenv("AFRAME_RESULTS_DIR", "/data/$weird")
    assert load_config(sandbox_ini)["run"]["results_dir"] == "/data/$weird"


def test_missing_environment_variable_names_the_key(sandbox_ini, monkeypatch):
    monkeypatch.delenv("AFRAME_CONDOR_DIR")
    with pytest.raises(ConfigError, match=r"\[run\] condor_dir: environment variable AFRAME_CONDOR_DIR is not set"):
        load_config(sandbox_ini)


def test_site_profiles(sandbox_ini):
    text = sandbox_ini.read_text().replace("site = local", "site = mine")
    sandbox_ini.write_text(text + "\n[site:mine]\nrequire_accounting = false\nmax_idle = 50\n")
    config = load_config(sandbox_ini)
    assert config["condor"]["max_idle"] == 50
    assert not config["condor"]["require_accounting"]
    # a key set in [condor] beats the profile
    assert load_config(sandbox_ini, ["condor.max_idle=7"])["condor"]["max_idle"] == 7


def test_ldg_site_with_accounting(sandbox_ini):
    config = load_config(sandbox_ini, ["condor.site=ldg", "condor.accounting_group=ligo.dev.o4.cbc.allsky.aframe"])
    assert config["condor"]["require_accounting"]


def test_resolved_text_loads_back_identically(sandbox_ini, monkeypatch):
    config = load_config(sandbox_ini, ["tune.enabled=true", "tune.space=optimizer.learning_rate: uniform(0.1, 0.2)",
                                       "condor.requirements=(Machine =!= \"a$$b\")"])
    assert config["condor"]["requirements"] == '(Machine =!= "a$b")'
    resolved = sandbox_ini.with_name("run.ini.resolved")
    resolved.write_text(resolved_text(config, {"aframe-dag": "0.1.0"}))
    again = load_config(resolved)
    assert again.sections == config.sections
    assert resolved_text(again) .splitlines()[1:] == resolved_text(config).splitlines()[1:]


@pytest.mark.parametrize("edit, message", [
    (("[data]", "[data]\nkernel_lenght = 2"),
     r"\[data\] kernel_lenght: unknown key \(did you mean 'kernel_length'\?\)"),
    (("[waveforms]", "[wavefroms]"), r"\[wavefroms\]: unknown section \(did you mean 'waveforms'\?\)"),
    (("sample_rate = 2048", "sample_rate = fast"), r"\[data\] sample_rate: must be a number \(got 'fast'\)"),
    (("num_train = 100000", "num_train = many"), r"\[waveforms\] num_train: must be an integer"),
    (("fduration = 1", "fduration = -1"), r"\[data\] fduration: must be greater than 0"),
    (("spacing = 16", "spacing = 0"), r"\[testing\] spacing: must be greater than 0"),
    (("kernel_length = 1.5", "kernel_length = 2000"), r"\[data\] kernel_length: kernel_length \+ fduration"),
    (("site = local", "site = ldg"), r"\[condor\] accounting_group: must be set for site 'ldg'"),
    (("site = local", "site = lgd"), r"\[condor\] site: no site profile 'lgd' \(did you mean 'ldg'\?\)"),
    (("test_stop = 1244035783", "test_stop = 1240000000"), r"\[data\] test_stop: must be after train_stop"),
    (("shifts = 0, 1", "shifts = 0"), r"\[testing\] shifts: needs one shift per ifo"),
    (("mass_combos = 35:35, 35:20", "mass_combos = 35:35, 20:35"), r"\[sv\] mass_combos: lists the heavier mass"),
    (("[stage:train]", "[stage:trian]"), r"\[stage:trian\]: unknown section \(did you mean 'stage:train'\?\)"),
    (("prior = end_o3_ratesandpops", "prior = ${nowhere:prior}"), r"\[waveforms\] prior: refers to"),
    (("[data]", "[data]\nifos = H1"), r"\[data\] ifos: key appears twice"),
    (("[run]", "[DEFAULT]\nseed = 1\n[run]"), r"\[DEFAULT\]: unknown section"),
])
def test_bad_config_names_file_section_and_key(sandbox_ini, edit, message):
    old, new = edit
    text = sandbox_ini.read_text().replace("# [stage:train]", "[stage:train]")
    text = text.replace("# request_memory", "request_memory")
    assert old in text
    sandbox_ini.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message) as error:
        load_config(sandbox_ini)
    assert str(error.value).startswith(str(sandbox_ini))


@pytest.mark.parametrize("override, error, message", [
    ("data.sample_rate", UserError, "expected section.key=value"),
    ("sample_rate=4", UserError, "expected section.key=value"),
    ("data.sample_rat=4", ConfigError, r"--set data.sample_rat=4: \[data\] sample_rat: unknown key"),
    ("condor.requirements=a$b", ConfigError, r"--set condor.requirements=a\$b: \[condor\] requirements: a lone"),
    ("infer.server=cuda", ConfigError, r"\[infer\] server: must be one of auto, triton, onnxruntime"),
])
def test_bad_override(sandbox_ini, override, error, message):
    with pytest.raises(error, match=message):
        load_config(sandbox_ini, [override])


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match=r"missing.ini: cannot read: No such file"):
        load_config(tmp_path / "missing.ini")
    (tmp_path / "dir.ini").mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "dir.ini")


def test_container_universe_needs_image(sandbox_ini):
    with pytest.raises(ConfigError, match=r"\[condor\] container_image: must be set"):
        load_config(sandbox_ini, ["condor.universe=container"])


def test_remote_training_needs_s3_and_image(sandbox_ini):
    with pytest.raises(ConfigError, match=r"\[kubernetes\] image: must be set"):
        load_config(sandbox_ini, ["train.remote=kubernetes"])
    with pytest.raises(ConfigError, match=r"\[run\] train_data_dir: must be an s3:// URL"):
        load_config(sandbox_ini, ["train.remote=kubernetes", "kubernetes.image=img"])


def test_empty_run_ini_is_a_config_error(run_env, monkeypatch):
    """Issue 20: an empty run.ini ended in 'internal error: ValueError: invalid interpolation syntax'."""
    run_ini = run_env / "run.ini"
    run_ini.write_text("")
    with pytest.raises(ConfigError, match=r"run.ini: \[condor\] accounting_group: must be set for site 'ldg'"):
        load_config(run_ini)
    monkeypatch.delenv("AFRAME_TRAIN_DATA_DIR")
    with pytest.raises(ConfigError, match=r"\[run\] train_data_dir: environment variable AFRAME_TRAIN_DATA_DIR"):
        load_config(run_ini)


def test_a_stray_dollar_names_file_section_and_key(sandbox_ini):
    sandbox_ini.write_text(sandbox_ini.read_text() + "\n[s3]\nprofile = a$b\n")
    with pytest.raises(ConfigError, match=rf"^{sandbox_ini}: \[s3\] profile: a lone '\$'"):
        load_config(sandbox_ini)


def test_environment_in_overrides_and_site_profiles(sandbox_ini, run_env):
    sandbox_ini.write_text(sandbox_ini.read_text().replace("site = local", "site = mine")
                           + "\n[site:mine]\nrequire_accounting = false\nrequirements = $AFRAME_TMPDIR == 100%\n")
    assert load_config(sandbox_ini)["condor"]["requirements"] == f"{run_env}/tmp == 100%"
    config = load_config(sandbox_ini, ["condor.container_image=$AFRAME_TMPDIR/image.sif"])
    assert config["condor"]["container_image"] == f"{run_env}/tmp/image.sif"


def test_keys_still_to_set_are_listed_and_marked_when_allowed(sandbox_ini):
    overrides = ["condor.site=ldg", "condor.universe=container"]
    with pytest.raises(ConfigError, match=r"\[condor\] accounting_group: must be set"):
        load_config(sandbox_ini, overrides)
    config = load_config(sandbox_ini, overrides, allow_missing=True)
    assert list(config.missing) == [("condor", "accounting_group"), ("condor", "container_image")]
    lines = resolved_text(config).splitlines()
    marked = lines.index("accounting_group =") - 1
    assert lines[marked].startswith("# MISSING: must be set for site 'ldg'")
    assert lines[lines.index("container_image =") - 1] == "# MISSING: must be set when universe = container"
    assert not load_config(sandbox_ini, allow_missing=True).missing
