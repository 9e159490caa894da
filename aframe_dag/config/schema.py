"""Every run.ini key: its type, default, unit and one-line doc. The single source of truth for config."""

from __future__ import annotations

from dataclasses import dataclass

from ..inference import PRECISIONS, SERVERS
from .detectors import INTERFEROMETERS
from .types import (
    Choice,
    File,
    Flag,
    Integer,
    Location,
    Number,
    Numbers,
    Optional,
    Pairs,
    Pattern,
    PerIfo,
    SearchSpace,
    Size,
    Text,
    UrlMap,
    Words,
)


@dataclass(frozen=True)
class Key:
    """One config key; `default` is INI text (it may interpolate), None means the user must set it."""

    type: object
    default: str | None
    doc: str
    unit: str = ""


NAME = Pattern(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?", "name (lower-case letters, digits, '-')")
ACCOUNTING = Pattern(r"[A-Za-z0-9_.-]*", "accounting tag")
POSITIVE = Number(above=0)
SECONDS = Number(above=0)
GPS = Integer(minimum=0)
COUNT = Integer(above=0)

RUN = {
    "name": Key(NAME, "aframe", "Run name: the DAG's batch name in condor_q and the Kubernetes job prefix"),
    "seed": Key(Integer(minimum=0), "1122", "Seed from which every node derives its own (with its node key)"),
    "device": Key(Choice(("cuda", "cpu")), "cuda", "Where GPU stages run; cpu requests no GPUs anywhere"),
    "train_data_dir": Key(Location(allow_s3=True), "$AFRAME_TRAIN_DATA_DIR",
                          "Training background and waveforms (local or s3://)"),
    "test_data_dir": Key(Location(), "$AFRAME_TEST_DATA_DIR", "Testing background and injections"),
    "train_run_dir": Key(Location(allow_s3=True), "$AFRAME_TRAIN_RUN_DIR",
                         "Training checkpoints, model.pt and logs (local or s3://)"),
    "condor_dir": Key(Location(), "$AFRAME_CONDOR_DIR",
                      "The DAG, submit files, logs, done-markers and executor state"),
    "results_dir": Key(Location(), "$AFRAME_RESULTS_DIR", "Exported model, inference events, sensitive volume, report"),
    "tmp_dir": Key(Location(), "$AFRAME_TMPDIR", "Scratch space for node programs"),
    "reuse": Key(Words(r"[^\s,]+", nonempty=False), "",
                 "Condor dirs (absolute, comma-separated) of earlier runs: a node done there with the same node hash "
                 "(same arguments, same data dirs) and intact outputs is marked done here at build"),
}

CONDOR = {
    "site": Key(NAME, "ldg", "Site profile ([site:NAME] or built in: ldg, igwn, osg, local)"),
    "accounting_group": Key(ACCOUNTING, "", "accounting_group of every job, e.g. ligo.dev.o4.cbc.allsky.aframe"),
    "accounting_group_user": Key(ACCOUNTING, "", "accounting_group_user of every job (your albert.einstein name)"),
    "require_accounting": Key(Flag(), "true", "Refuse to build without accounting_group (LVK pools need it)"),
    "universe": Key(Choice(("vanilla", "container")), "vanilla", "HTCondor universe of the node jobs"),
    "container_image": Key(Text(), "", "Image with this package installed (universe = container): a path (e.g. "
                           "on /cvmfs) or an osdf:// URL"),
    "filesystem": Key(Choice(("shared", "transfer")), "shared",
                      "shared: execute nodes see the run directories; transfer: HTCondor moves each node's inputs and "
                      "outputs (IGWN grid, OSPool)"),
    "executable_dir": Key(Text(), "", "Where execute nodes find the node programs (a software area they mount, e.g. "
                          "on /cvmfs) when not in a container; empty: this environment's bin directory"),
    "url_map": Key(UrlMap(), "", "filesystem = transfer: inputs under an access-point prefix are fetched by URL, "
                   "e.g. /home/albert.einstein/data=osdf:///igwn/cit/albert.einstein/data"),
    "requirements": Key(Text(), "", "Extra ClassAd requirements expression for every job"),
    "use_oauth_services": Key(Text(), "", "HTCondor credential services to request, e.g. scitokens"),
    "max_idle": Key(COUNT, "1000", "DAGMan's cap on idle jobs (-maxidle)"),
    "max_gpu_jobs": Key(COUNT, "8", "MAXJOBS of the gpu category: GPU nodes running at once"),
    "retries": Key(Integer(minimum=0), "2", "RETRY count of every node (UNLESS-EXIT 2); stages may override"),
    "max_held_hours": Key(POSITIVE, "24", "A job held this long (not by you), or held again after 3 releases, is "
                          "removed so DAGMan retries or fails its node", "h"),
    "htcondor_version": Key(Pattern(r"\d+(\.\d+){0,2}", "version"), "25.0",
                            "Pool's HTCondor version; before 23.5 GPU memory is asked with require_gpus"),
}

SITE_KEYS = {name: key for name, key in CONDOR.items() if name != "site"}

DATA = {
    "ifos": Key(Words(options=tuple(INTERFEROMETERS)), "H1, L1", "Interferometers"),
    "source": Key(Choice(("simulated", "gwosc", "frames")), "simulated",
                  "Background strain: simulated coloured Gaussian noise, GWOSC open data, or frames"),
    "noise_psd": Key(PerIfo(Pattern(r"[A-Za-z0-9]+", "lalsimulation PSD name")), "aLIGODesignSensitivityT1800044",
                     "lalsimulation PSD (SimNoisePSD<name>) that colours simulated noise, e.g. "
                     "aLIGODesignSensitivityT1800044 for LIGO, AdVDesignSensitivityP1200087 for Virgo"),
    "channels": Key(Optional(Words(r"[A-Z][0-9]:[A-Za-z0-9_-]+")), "",
                    "Strain channels, one per ifo (frames source), e.g. H1:GDS-CALIB_STRAIN, L1:GDS-CALIB_STRAIN, "
                    "V1:Hrec_hoft_16384Hz"),
    "frame_type": Key(Optional(PerIfo(Pattern(r"[A-Za-z0-9_-]+", "frame type"))), "",
                      "Frame types for the frames source: one, which each ifo prefixes (HOFT_C00: H1_HOFT_C00 for "
                      "H1), or one per ifo as gwdatafind names them, e.g. H1_HOFT_C00, L1_HOFT_C00, HoftOnline "
                      "(empty: the best type holding each channel)"),
    "flag": Key(PerIfo(Pattern(r"[A-Za-z0-9_:-]+", "segment flag")), "DATA",
                "Segment flag whose active times are analysed, which each ifo prefixes: GWOSC's DATA, or DQSegDB "
                "flags such as DMT-ANALYSIS_READY:1 for frames (Virgo's: ITF_SCIENCE:1)"),
    "gwosc_host": Key(Text(), "https://gwosc.org", "GWOSC server for open data and its segments"),
    "sample_rate": Key(POSITIVE, "2048", "Strain sample rate", "Hz"),
    "highpass": Key(POSITIVE, "32", "High-pass corner applied when whitening", "Hz"),
    "lowpass": Key(Optional(POSITIVE), "", "Low-pass corner applied when whitening (empty: none)", "Hz"),
    "fduration": Key(SECONDS, "1", "Length of the whitening filter's time-domain response", "s"),
    "kernel_length": Key(SECONDS, "1.5", "Length of the network's input window", "s"),
    "train_start": Key(GPS, "1240579783", "Start of the training span", "GPS s"),
    "train_stop": Key(GPS, "1241443783", "End of the training span, start of the testing span", "GPS s"),
    "test_stop": Key(GPS, "1244035783", "End of the testing span", "GPS s"),
    "max_segment_length": Key(COUNT, "20000", "Segments longer than this are split across files/nodes", "s"),
    "min_train_segment_length": Key(COUNT, "1024", "Shorter training segments are not used", "s"),
    "min_test_segment_length": Key(COUNT, "128", "Shorter testing segments are not used", "s"),
}

WAVEFORMS = {
    "approximant": Key(Pattern(r"[A-Za-z0-9_]+", "approximant"), "IMRPhenomPv2", "lalsimulation approximant"),
    "prior": Key(Pattern(r"[a-z0-9_]+", "prior name"), "end_o3_ratesandpops", "Source prior, by name"),
    "duration": Key(SECONDS, "8", "Length of each stored waveform", "s"),
    "right_pad": Key(Number(minimum=0), "2", "Time from coalescence to the waveform's end", "s"),
    "minimum_frequency": Key(POSITIVE, "20", "Waveform starting frequency", "Hz"),
    "reference_frequency": Key(POSITIVE, "50", "Frequency at which spins are defined", "Hz"),
    "num_train": Key(COUNT, "100000", "Training waveforms (polarizations)"),
    "num_val": Key(COUNT, "20000", "Validation waveforms (projected, above snr_threshold)"),
    "per_node": Key(COUNT, "10000", "Waveforms generated by one node"),
    "snr_threshold": Key(Number(minimum=0), "4", "Validation waveforms below this network SNR are redrawn"),
}

TESTING = {
    "num_injections": Key(COUNT, "500000", "Accepted test injections to place (as aframe's num_signals)"),
    "Tb": Key(SECONDS, "31557600", "Background livetime to analyse with timeslides (one year)", "s"),
    "shifts": Key(Numbers(Number(minimum=0)), "0, 1", "Timeslide step per ifo", "s"),
    "vetoes": Key(Words(r"[A-Z][0-9]:[^,\s]+", nonempty=False), "",
                  "Veto segment files, IFO:path each (segwizard or 'start stop' text, or LIGO_LW XML; relative to "
                  "run.ini; name an ifo twice to join files): their times leave Tb, the FARs and the sensitive volume "
                  "(empty: none)"),
    "spacing": Key(SECONDS, "16", "Time between consecutive injections", "s"),
    "buffer": Key(Number(minimum=0), "16", "No injection this close to a segment edge", "s"),
    "snr_threshold": Key(Number(minimum=0), "4", "Injections below this optimal network SNR are rejected (kept for "
                         "SV); SNRs are against the design PSD of simulated noise, else a Welch PSD of the whole test "
                         "file"),
    "prior": Key(Pattern(r"[a-z0-9_]+", "prior name"), "${waveforms:prior}", "Injection prior, by name"),
}

TRAIN = {
    "config": Key(File(), "train.yaml", "Model, optimiser and trainer settings (Lightning); relative to run.ini"),
    "remote": Key(Choice(("none", "kubernetes")), "none", "Train on this pool, or send training to Kubernetes"),
    "checkpoint_minutes": Key(POSITIVE, "30", "Save last.ckpt this often; the node may then exit 85", "min"),
    "max_wallclock": Key(Number(minimum=0), "0", "Train this long, then save last.ckpt and exit 85 to be requeued by "
                         "HTCondor (0: no limit)", "s"),
    "model": Key(Optional(Location(allow_s3=True)), "",
                 "Trained TorchScript model.pt to export instead of training (plans no training-data, train or tune "
                 "nodes; empty: train one)"),
}

TUNE = {
    "enabled": Key(Flag(), "false", "Tune hyper-parameters (tune-trial nodes + tune-select) instead of one train"),
    "num_trials": Key(COUNT, "16", "Optuna trials"),
    "max_parallel": Key(COUNT, "4", "Trials running at once"),
    "max_epochs": Key(COUNT, "20", "Epoch budget of each trial"),
    "sampler": Key(Choice(("tpe", "random")), "tpe", "Optuna sampler"),
    "space": Key(SearchSpace(), "", "Search space over train.yaml keys, one 'path: distribution(...)' a line"),
}

EXPORT = {
    "model_name": Key(NAME, "aframe", "Model name in the Triton model repository"),
    "tensorrt": Key(Choice(("auto", "true", "false")), "auto",
                    "Also build a TensorRT plan (auto: when TensorRT and a GPU are present)"),
    "tolerance": Key(POSITIVE, "1e-4", "Largest |ONNX - torch| output difference accepted"),
}

INFER = {
    "sampling_rate": Key(POSITIVE, "4", "Rate at which the network is evaluated", "Hz"),
    "batch_size": Key(COUNT, "128", "Windows per inference request"),
    "psd_length": Key(SECONDS, "64", "Background used to estimate each whitening PSD", "s"),
    "fftlength": Key(SECONDS, "2", "FFT length of the whitening PSD estimate", "s"),
    "integration_length": Key(SECONDS, "1.5", "Boxcar integrating network outputs", "s"),
    "cluster_length": Key(SECONDS, "8", "Window within which only the loudest event is kept", "s"),
    "server": Key(Choice(("auto", *SERVERS)), "auto",
                  "Triton server in each node, or in-process onnxruntime, torch (CUDA graphs on cuda) or an "
                  "AOTInductor package compiled per device (auto: the fastest measured, aframe_dag/inference.py)"),
    "precision": Key(Choice(PRECISIONS), "fp32",
                     "Precision of the network: torch and aotinductor run any, triton (TensorRT) fp32 or fp16, "
                     "onnxruntime fp32"),
    "seconds_per_node": Key(SECONDS, "2000000", "Timeslid livetime analysed by one infer node", "s"),
    "triton_image": Key(Text(), "", "Container with tritonserver (empty: tritonserver from PATH)"),
    "tritonserver": Key(Text(), "tritonserver",
                        "Triton server binary run by server = triton (a name looked up on PATH, or a path)"),
    "tensorrt_fp16": Key(Flag(), "false", "Old name kept for old configs: true means precision = fp16"),
}

SV = {
    "mass_combos": Key(Pairs(), "35:35, 35:20, 20:20, 20:10", "Source-frame mass pairs whose sensitive volume is shown",
                       "Msun"),
    "source_prior": Key(Pattern(r"[a-z0-9_]+", "prior name"), "${testing:prior}",
                        "Population the injections are reweighted from"),
    "max_far": Key(POSITIVE, "1000", "Largest false-alarm rate plotted", "1/yr"),
    "unblind": Key(Flag(), "false", "Show zero-lag candidates in the report"),
}

RANGE = Pattern(r"(-?[0-9.]+:-?[0-9.]+)?", "MIN:MAX")

REFERENCE = {
    "matched_filter": Key(Flag(), "false",
                          "Also run a matched-filter search (PyCBC) over the same test background and injections, "
                          "through the same aggregate and sensitive-volume nodes, as the optimal reference"),
    "environment": Key(Optional(File()), "",
                       "Python environment (a directory; relative to run.ini) whose bin/ holds the reference "
                       "programs with PyCBC (its numpy<2.4 pin may clash with this package's: make reference builds "
                       ".venv-reference; empty: beside the other node programs)"),
    "approximant": Key(Pattern(r"[A-Za-z0-9_]+", "approximant"), "IMRPhenomD", "Aligned-spin waveform of the bank"),
    "minimal_match": Key(Number(above=0, maximum=0.999), "0.97", "Minimal match of the template bank"),
    "f_low": Key(POSITIVE, "32", "Low frequency cutoff of the templates and the filter", "Hz"),
    "mass1": Key(RANGE, "", "Bank's detector-frame primary mass range, MIN:MAX (empty: what the injection prior "
                 "draws)", "Msun"),
    "mass2": Key(RANGE, "", "Bank's detector-frame secondary mass range, MIN:MAX (empty: the injection prior's)",
                 "Msun"),
    "spin": Key(RANGE, "", "Bank's aligned spin component range, MIN:MAX (empty: the injection prior's)"),
    "snr_threshold": Key(Number(minimum=0), "4", "Single-detector |SNR| a trigger must exceed"),
    "trigger_window": Key(SECONDS, "1", "Each template's triggers are clustered over this window", "s"),
    "coincidence_margin": Key(Number(minimum=0), "0.005",
                              "Added to each ifo pair's light-travel time to make its coincidence window", "s"),
}

S3 = {
    "endpoint_url": Key(Text(), "", "S3 endpoint (empty: AWS)"),
    "credentials_file": Key(Optional(Location()), "", "AWS credentials file the jobs read (never copied into jobs)"),
    "profile": Key(Pattern(r"[A-Za-z0-9_.-]+", "profile"), "default", "Profile in credentials_file"),
}

KUBERNETES = {
    "image": Key(Text(), "", "Training image with this package installed"),
    "namespace": Key(Text(), "", "Namespace of the training Job (empty: the kubeconfig's)"),
    "kubeconfig": Key(Optional(Location()), "", "kubeconfig file (empty: the default)"),
    "gpus": Key(COUNT, "1", "GPUs of the training pod"),
    "cpus": Key(COUNT, "8", "CPUs of the training pod"),
    "memory": Key(Size(), "32GB", "Memory of the training pod"),
    "gpu_product": Key(Text(), "", "nvidia.com/gpu.product node selector (empty: any)"),
    "gpu_memory": Key(Optional(Size()), "", "Least memory of each GPU, nvidia.com/gpu.memory node affinity (empty: "
                      "any; aframe needs more than 15GB)"),
    "service_account": Key(Text(), "", "Service account of the training pod (empty: the namespace's default)"),
    "timeout": Key(SECONDS, "172800", "Give up on the Job after this long", "s"),
}

SECTIONS = {
    "run": RUN, "condor": CONDOR, "data": DATA, "waveforms": WAVEFORMS, "testing": TESTING, "train": TRAIN,
    "tune": TUNE, "export": EXPORT, "infer": INFER, "sv": SV, "reference": REFERENCE, "s3": S3,
    "kubernetes": KUBERNETES,
}


@dataclass(frozen=True)
class StageDefaults:
    """What a stage's jobs ask of HTCondor unless [stage:NAME] says otherwise."""

    cpus: int
    memory: str
    disk: str = "1GB"
    gpus: int = 0
    gpu_memory: str = "8GB"


STAGES = {
    "background": StageDefaults(1, "4GB", "4GB"),
    "waveforms": StageDefaults(1, "4GB"),
    "waveforms-val": StageDefaults(1, "4GB"),
    "injections": StageDefaults(1, "4GB"),
    "merge": StageDefaults(1, "2GB", "8GB"),
    "train": StageDefaults(8, "32GB", "16GB", gpus=1, gpu_memory="24GB"),
    "tune-trial": StageDefaults(8, "32GB", "16GB", gpus=1, gpu_memory="24GB"),
    "tune-select": StageDefaults(1, "2GB"),
    "remote-train": StageDefaults(1, "1GB"),
    "export": StageDefaults(2, "8GB", "4GB", gpus=1),
    "infer": StageDefaults(4, "16GB", "4GB", gpus=1, gpu_memory="16GB"),
    "aggregate": StageDefaults(1, "8GB", "8GB"),
    "sv": StageDefaults(1, "8GB"),
    "summary": StageDefaults(1, "1GB"),
    "reference-bank": StageDefaults(1, "4GB"),
    "reference-filter": StageDefaults(1, "8GB"),
    "reference-aggregate": StageDefaults(1, "8GB", "8GB"),
    "reference-sv": StageDefaults(1, "8GB"),
}


def stage_keys(defaults: StageDefaults) -> dict[str, Key]:
    """The [stage:NAME] keys, with that stage's defaults."""
    return {
        "request_cpus": Key(COUNT, str(defaults.cpus), "CPUs per job (also OMP_NUM_THREADS)"),
        "request_memory": Key(Size(), defaults.memory, "Memory per job"),
        "request_disk": Key(Size(), defaults.disk, "Scratch disk per job"),
        "request_gpus": Key(Integer(minimum=0), str(defaults.gpus), "GPUs per job with device = cuda"),
        "gpus_minimum_memory": Key(Size(), defaults.gpu_memory, "Least memory of each GPU"),
        "retries": Key(Integer(minimum=0), "${condor:retries}", "RETRY count (UNLESS-EXIT 2)"),
        "priority": Key(Integer(), "0", "DAGMan node priority (higher runs first)"),
        "template": Key(Optional(File()), "", "Submit-file template replacing the built-in one"),
    }


# Parameters that several stages and the training config share: defined once, in run.ini.
SHARED = {
    "ifos": ("data", "ifos"),
    "sample_rate": ("data", "sample_rate"),
    "highpass": ("data", "highpass"),
    "lowpass": ("data", "lowpass"),
    "fduration": ("data", "fduration"),
    "kernel_length": ("data", "kernel_length"),
    "inference_sampling_rate": ("infer", "sampling_rate"),
    "seed": ("run", "seed"),
}
