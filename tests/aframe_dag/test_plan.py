"""The plan: the sandbox's shape, edges from declared files, hashes that follow changes, invariants over configs."""


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aframe_dag.config import load_config
from aframe_dag.errors import ConfigError
from aframe_dag.plan import plan

TUNE = ["tune.enabled=true", "tune.space=optimizer.learning_rate: loguniform(1e-4, 1e-2)"]


def counts(workflow):
    return {stage: len(nodes) for stage, nodes in workflow.by_stage().items()}


def test_sandbox_shape(sandbox_ini):
    workflow = plan(load_config(sandbox_ini))
    assert counts(workflow) == {
        "background": 44 + 130, "waveforms": 10, "merge": 4, "waveforms-val": 2, "injections": 130, "train": 1,
        "export": 1, "infer": 19, "aggregate": 1, "sv": 1, "summary": 1,
    }
    assert len(workflow.nodes) < 2000  # the default sandbox stays in the low thousands
    assert workflow.totals["livetime"] >= 31557600
    assert workflow.totals["injections"] >= 500000
    names = [node.name for node in workflow.nodes]
    assert len(set(names)) == len(names)
    assert names[-1] == "summary" and workflow.final.name == "summary"


def test_edges_follow_files(sandbox_ini):
    workflow = plan(load_config(sandbox_ini))
    parents = workflow.parents
    last_train = [n.name for n in workflow.nodes if n.name.startswith("background-train-")][-1]
    assert parents["waveforms-val-000"] == (last_train,)
    assert set(parents["waveforms-train-merge"]) == {f"waveforms-train-{k:03d}" for k in range(10)}
    assert "waveforms-train-merge" in parents["train"] and "waveforms-val-merge" in parents["train"]
    assert len([p for p in parents["train"] if p.startswith("background-train-")]) == 44
    assert parents["export"] == ("train",)
    assert {"export", "injections-merge"} <= set(parents["infer-0000"])
    assert parents["sv"] == ("aggregate", "rejected-merge")
    assert parents["summary"] == ()


def test_plan_is_deterministic(sandbox_ini):
    assert plan(load_config(sandbox_ini)) == plan(load_config(sandbox_ini))


def hashes(workflow):
    return {node.name: node.hash for node in workflow.nodes}


def test_changing_sv_changes_only_sv(sandbox_ini):
    before = hashes(plan(load_config(sandbox_ini)))
    after = hashes(plan(load_config(sandbox_ini, ["sv.max_far=100"])))
    assert {name for name in before if before[name] != after[name]} == {"sv"}


def test_changing_train_yaml_reruns_training_and_what_follows(sandbox_ini):
    before = hashes(plan(load_config(sandbox_ini)))
    train = sandbox_ini.with_name("train.yaml")
    train.write_text(train.read_text().replace("learning_rate: 0.000585", "learning_rate: 0.001"))
    after = hashes(plan(load_config(sandbox_ini)))
    changed = {name for name in before if before[name] != after[name]}
    assert {"train", "export", "aggregate", "sv"} <= changed
    assert not [name for name in changed if name.startswith(("background", "waveforms", "injections"))]


def test_tune_plans_trials_and_select(sandbox_ini):
    workflow = plan(load_config(sandbox_ini, TUNE + ["tune.num_trials=5"]))
    assert counts(workflow)["tune-trial"] == 5 and "train" not in counts(workflow)
    assert set(workflow.parents["tune-select"]) == {f"tune-trial-{k:03d}" for k in range(5)}
    assert workflow.parents["export"] == ("tune-select",)
    trial = next(node for node in workflow.nodes if node.name == "tune-trial-002")
    assert "--param" in trial.arguments and "optimizer.learning_rate=loguniform:1e-4:1e-2" in trial.arguments
    assert workflow.stages["tune-trial"].category == "tune" and workflow.limits["tune"] == 4


def test_remote_training_plans_a_launcher(sandbox_ini, monkeypatch):
    monkeypatch.setenv("AFRAME_TRAIN_DATA_DIR", "s3://bucket/run/data/train")
    monkeypatch.setenv("AFRAME_TRAIN_RUN_DIR", "s3://bucket/run/training")
    workflow = plan(load_config(sandbox_ini, ["train.remote=kubernetes", "kubernetes.image=ghcr.io/x/aframe:1"]))
    node = next(node for node in workflow.nodes if node.name == "remote-train")
    assert workflow.stages["remote-train"].local
    assert node.outputs == ("s3://bucket/run/training/model.pt",)
    assert "--job-name" in node.arguments and f"aframe-{workflow.name}-train" in node.arguments


def test_cpu_runs_request_no_gpus(sandbox_ini):
    cuda = plan(load_config(sandbox_ini))
    cpu = plan(load_config(sandbox_ini, ["run.device=cpu"]))
    assert cuda.stages["train"].request_gpus == 1 and cuda.stages["infer"].category == "gpu"
    assert all(stage.request_gpus == 0 and stage.category is None for stage in cpu.stages.values())
    assert all("--device" in node.arguments for node in cpu.nodes if not node.final)


def test_only_gpu_stages_are_told_cuda(sandbox_ini):
    """A node told cuda exits 2 without a GPU, so CPU stages of a cuda run are told cpu."""
    workflow = plan(load_config(sandbox_ini))
    device = {node.stage: node.arguments[node.arguments.index("--device") + 1]
              for node in workflow.nodes if "--device" in node.arguments}
    assert {stage for stage, value in device.items() if value == "cuda"} == {"train", "export", "infer"}


def test_unreachable_tb_is_a_config_error(sandbox_ini):
    with pytest.raises(ConfigError, match=r"\[testing\]: Tb or num_injections cannot be reached"):
        plan(load_config(sandbox_ini, ["testing.Tb=1e12"]))


def test_real_data_needs_segments(sandbox_ini):
    with pytest.raises(ConfigError, match=r"\[data\] source: the gwosc source needs the segments"):
        plan(load_config(sandbox_ini, ["data.source=gwosc"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    train_length=st.integers(2000, 90000), test_length=st.integers(3000, 90000),
    max_segment=st.integers(1100, 30000), per_node=st.integers(50, 5000), num_train=st.integers(1, 20000),
    tb_fraction=st.floats(0.1, 3.0), injections=st.integers(1, 3000), seconds_per_node=st.integers(1000, 200000),
    tune=st.booleans(), device=st.sampled_from(["cuda", "cpu"]),
)
def test_invariants_over_small_configs(sandbox_ini, train_length, test_length, max_segment, per_node, num_train,
                                       tb_fraction, injections, seconds_per_node, tune, device):
    start = 1240000000
    overrides = [
        f"data.train_start={start}", f"data.train_stop={start + train_length}",
        f"data.test_stop={start + train_length + test_length}", f"data.max_segment_length={max_segment}",
        f"waveforms.per_node={per_node}", f"waveforms.num_train={num_train}", f"waveforms.num_val={num_train}",
        f"testing.Tb={tb_fraction * test_length:.0f}", f"testing.num_injections={injections}",
        f"infer.seconds_per_node={seconds_per_node}", f"run.device={device}",
    ] + (TUNE if tune else [])
    try:
        workflow = plan(load_config(sandbox_ini, overrides))
    except ConfigError as error:  # a span too short for the targets is refused, by name
        assert "cannot be reached" in str(error) or "segment" in str(error)
        return
    names = [node.name for node in workflow.nodes]
    assert len(set(names)) == len(names)
    position = {name: index for index, name in enumerate(names)}
    for node in workflow.nodes:
        assert all(position[parent] < position[node.name] for parent in workflow.parents[node.name])
    assert [node.final for node in workflow.nodes].count(True) == 1
    assert workflow.totals["livetime"] >= tb_fraction * test_length - 0.5
    assert workflow.totals["injections"] >= injections
    planned = sum(float(n.arguments[n.arguments.index("--expected-livetime") + 1])
                  for n in workflow.nodes if n.stage == "infer")
    assert planned == pytest.approx(workflow.totals["livetime"])
    # names and hashes are a pure function of the config
    again = plan(load_config(sandbox_ini, overrides))
    assert again.nodes == workflow.nodes
