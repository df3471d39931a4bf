"""lmusim: an event-driven simulator for spiking networks, from Python.

NumPy in, NumPy out; the engine is C++ (``lmusim._core``) and releases the GIL while it runs.

Networks::

    net = lmusim.Network(dt=0.1)
    net.add_continuous_lif("neurons", 4000, v_init=v0)
    net.connect_sparse("exc", "neurons", "neurons", indptr, indices, weights, delay=1, port=0)
    sim = lmusim.Simulation(net, threads=2)
    sim.run(10000, record=True)
    steps, neurons, streams = sim.spikes("neurons")

Models (the Spiking LMUFormer)::

    lmusim.convert("best_model.pth", "model.h5")       # upstream PyTorch checkpoint -> model file
    model = lmusim.load_model("model.h5")
    result = model.run(features)                        # [frames, 128] or [clips, frames, 128]
    result.logits, result.frame_logits, result.spike_counts, result.ops
    stream = model.stream()
    ready = stream.push(frames)                         # outputs that became ready
    ready = stream.flush()

Audio (16 kHz mono WAV; the Kaldi-compatible log-mel front-end of docs/lmuformer.md §1.2, or PCEN
on top of it, docs/frontend.md: each model file names its own)::

    result = model.run(["yes.wav", "no.wav"])            # WAV paths: features computed in C++
    x = lmusim.features("yes.wav", **model.frontend)     # [128, 128] the model's features
    stream.push_audio(samples_chunk)                     # any chunk size; frames enter as they complete
    stream.finish_audio()                                # pad to 128 frames, then flush

Checkpoints (docs/checkpoint.md): the complete state, so that a run continues exactly::

    sim.save_state("ck.h5"); sim2.load_state("ck.h5")      # Simulation: same network, streams
    stream.save_state("s.h5"); model.stream().load_state("s.h5")

The checkpoint converter (:mod:`lmusim.convert`) needs torch but not the compiled module; every
other entry point needs ``lmusim._core`` (built by CMake or ``pip install``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

try:  # written from the top-level VERSION file by CMake (build/python) and by setup.py (pip install)
    from ._version import __version__
except ImportError:  # the source tree itself (PYTHONPATH=python): read that file
    from pathlib import Path as _Path
    __version__ = (_Path(__file__).resolve().parents[2] / "VERSION").read_text().strip()

try:
    from . import _core
    from ._core import (  # noqa: F401  (re-exported)
        Error,
        FileError,
        Network,
        NetworkError,
        Simulation,
        cuba_network,
        cuba_v_init,
        derive_seed,
        fixed_probability,
    )
except ImportError as _e:  # the converter works without the compiled module
    _core = None
    _core_import_error = _e

    class Error(ValueError):
        """lmusim's error (the compiled module is not available)."""

    class FileError(Error):
        """A file could not be read or written (the compiled module is not available)."""

    class NetworkError(Error):
        """The network description is invalid (the compiled module is not available)."""

from ._outputs import check_outputs  # noqa: E402  (after Error and FileError)

__all__ = [
    "Error", "FileError", "NetworkError", "Network", "Simulation", "fixed_probability", "cuba_network",
    "cuba_v_init", "derive_seed", "load_model", "Model", "RunResult", "Stream", "convert", "read_h5",
    "read_recording", "read_output", "report", "energy_presets", "hardware_profiles", "plot_report", "read_wav", "features",
    "load_nir", "NirModel", "export_nir",
]


def _require_core():
    if _core is None:
        raise ImportError(
            "lmusim's compiled module is not available: build it (scripts/build.sh, then "
            "PYTHONPATH=build/python) or pip install the package (README)") from _core_import_error


def _as_float32(x, name: str, ndim: tuple) -> np.ndarray:
    """A C-contiguous float32 copy or view of `x`, converting only when that is safe."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise Error(f"{name}: dtype {a.dtype} is not numeric; expected float32 (or a real number type)")
    if a.ndim not in ndim:
        raise Error(f"{name}: shape {a.shape} has {a.ndim} dimensions, expected {' or '.join(map(str, ndim))}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.all(np.isfinite(a)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise Error(f"{name}: value {a[bad]} at index {bad} is not finite")
    return a


@dataclass
class RunResult:
    """What a model run returns, per clip."""
    logits: np.ndarray                 # [clips, classes], after the last frame
    frame_logits: np.ndarray           # [clips, frames, classes], after each frame
    spike_counts: Dict[str, np.ndarray]  # population -> [clips, neurons]
    ops: Dict[str, Dict[str, np.ndarray]]  # projection -> {"events", "sops", "macs", "dense", "elementwise"} [clips]
    node_ops: Dict[str, Dict[str, np.ndarray]]  # node -> the same keys: own products, element-wise work
    latency: int                       # output for frame t after input frame t + latency
    seconds: float
    class_names: list = field(default_factory=list)
    #: NIR graphs: what reached each Output node at each step, name -> [clips, steps, size]
    outputs: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(axis=1)

    def firing_rates(self) -> Dict[str, np.ndarray]:
        """Fraction of neuron-frames that spiked, per population and clip."""
        frames = self.frame_logits.shape[1]
        return {k: v.sum(axis=1) / (v.shape[1] * frames) for k, v in self.spike_counts.items()}


class Stream:
    """Frame-by-frame streaming with persistent state (one clip per stream)."""

    def __init__(self, core_stream, class_names, model_path: Optional[str] = None, normalisation: Optional[dict] = None):
        self._s = core_stream
        self.class_names = class_names
        self._audio = None  # the streaming front-end, created by the first push_audio()
        self._norm = normalisation or {}  # the model's front-end (Model.frontend)
        self._model_path = model_path
        self._model_sha256 = None

    @property
    def latency(self) -> int:
        """The output for frame t becomes ready after input frame t + latency."""
        return self._s.latency

    @property
    def frames_pushed(self) -> int:
        return self._s.frames_pushed

    def push(self, frames):
        """Push any number of frames: [width], [n, width] (one stream) or [n, streams, width].

        Returns (frame_indices [k], logits [k, streams, classes]) for the outputs that became ready.
        """
        a = _as_float32(frames, "frames", (1, 2, 3))
        w, s = self._s.width, self._s.streams
        if a.ndim == 1:
            a = a[None, None, :]
        elif a.ndim == 2:
            if s != 1:
                raise Error(f"frames: shape {a.shape}; with {s} streams pass [n, {s}, {w}]")
            a = a[:, None, :]
        if a.shape[1:] != (s, w):
            raise Error(f"frames: shape {a.shape}, expected [n, {s}, {w}]")
        return self._s.push(np.ascontiguousarray(a))

    def flush(self):
        """End the clip: the remaining outputs (the convolutions' zero padding)."""
        return self._s.flush()

    def push_audio(self, samples, sample_rate: int = 16000):
        """Push a chunk of audio (1-D, any length, one stream): every 25 ms frame that completes
        goes through the model's front-end (log-mel or PCEN, docs/frontend.md) into the model at
        once. Returns what :meth:`push` returns for those frames (possibly nothing yet)."""
        if self._s.streams != 1:
            raise Error(f"push_audio: the stream has {self._s.streams} streams; audio needs one")
        a = _as_float32(samples, "samples", (1,))
        if self._audio is None:
            self._audio = _core.FbankStream(sample_rate, **self._norm)
        rows = self._audio.push(a)
        if len(rows) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 1, len(self.class_names)), dtype=np.float32)
        return self.push(rows)

    def finish_audio(self):
        """End the audio clip: the front-end's padding frames (to 128), then :meth:`flush`.
        Returns (frame_indices, logits) of every output that became ready."""
        if self._audio is None:
            raise Error("finish_audio: no audio was pushed")
        rows, self._audio = self._audio.finish(), None
        parts = [self.push(rows)] if len(rows) else []
        parts.append(self.flush())
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def restart(self):
        """Start a new clip in every stream (all state reset)."""
        self._s.restart()
        self._audio = None

    def spike_counts(self) -> Dict[str, np.ndarray]:
        return self._s.spike_counts()

    def _sha256(self) -> str:
        if self._model_sha256 is None:
            self._model_sha256 = ""
            if self._model_path is not None:
                import hashlib
                h = hashlib.sha256()
                with open(self._model_path, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
                self._model_sha256 = h.hexdigest()
        return self._model_sha256

    def save_state(self, path, overwrite: bool = False) -> None:
        """Write the session's complete state (every stream, mid-clip) to an HDF5 checkpoint that
        names the model by its file's SHA-256 (docs/checkpoint.md). The audio front-end's state is
        not included: save between audio clips, or push feature frames. An existing file is
        replaced only with ``overwrite=True``, the model file never (docs/hardening.md)."""
        if self._audio is not None:
            raise Error("save_state: the audio front-end holds part of a clip, which checkpoints do not "
                        "include; save before push_audio or after finish_audio")
        check_outputs([path], [self._model_path], overwrite)
        self._s.save_state(str(path), self._sha256(), overwrite)

    def load_state(self, path) -> int:
        """Continue from a checkpoint of :meth:`save_state` for the same model, stream count and
        memory mode: the next :meth:`push` gives exactly what the saved session would have. Returns
        the frames pushed so far; raises :class:`FileError` if the file does not fit."""
        self._audio = None
        return int(self._s.load_state(str(path), self._sha256()))


class Model:
    """A model file loaded for running (see :func:`load_model`)."""

    def __init__(self, path: str, memory_mode: Optional[str] = None, weights: Optional[str] = None):
        _require_core()
        self.path = str(path)
        self._file = _core.load_model(self.path)
        if memory_mode is not None:
            self._file.set_memory_mode(memory_mode)
        if weights is not None:
            self._file.set_weights(weights)
        self.network = self._file.network
        self.class_names = list(self._file.class_names)
        self.input_width = self.network.node_size(self._file.input_node)

    @property
    def frontend(self) -> dict:
        """The audio front-end the model was trained with, as keyword arguments of :func:`features`:
        ``feature_mean``, ``feature_std2`` and ``pcen`` (None: log-mel; a dict: PCEN, docs/frontend.md)."""
        return dict(feature_mean=self._file.feature_mean, feature_std2=self._file.feature_std2, pcen=self._file.pcen)

    def run(self, features, batch: int = 16, threads: int = 0, stream: bool = False, output: Optional[str] = None,
            record_spikes: bool = False, per_frame_counts: bool = False, overwrite: bool = False) -> RunResult:
        """Run clips: features [frames, width] (one clip) or [clips, frames, width], or a WAV
        path or list of WAV paths (16 kHz mono; the model's front-end, log-mel or PCEN, 128 frames
        per clip).

        ``stream=True`` feeds the frames one at a time (same results); ``output`` writes the same
        HDF5 file as ``lmusim run --output``: never the model or an input WAV, and an existing
        file only with ``overwrite=True`` (docs/hardening.md).
        """
        paths = []
        if isinstance(features, (str, os.PathLike)) or (
                isinstance(features, (list, tuple)) and features and isinstance(features[0], (str, os.PathLike))):
            paths = [features] if isinstance(features, (str, os.PathLike)) else list(features)
        if output:
            check_outputs([output], [self.path, *paths], overwrite)
        if paths:
            features = np.stack([globals()["features"](p, **self.frontend) for p in paths])
        a = _as_float32(features, "features", (2, 3))
        if a.ndim == 2:
            a = a[None]
        clips, frames, width = a.shape
        if width != self.input_width:
            raise Error(f"features: {width} channels, expected {self.input_width}")
        if clips == 0 or frames == 0:
            raise Error(f"features: empty input (shape {a.shape})")
        d = _core.run_clips(self._file, a, clips, frames, batch=batch, threads=threads, stream=stream,
                            output=str(output) if output else "", record_spikes=record_spikes,
                            per_frame_counts=per_frame_counts, overwrite=overwrite)
        return RunResult(d["logits"], d["frame_logits"], dict(d["spike_counts"]), dict(d["ops"]), dict(d["node_ops"]),
                         int(d["latency"]), float(d["seconds"]), self.class_names)

    def stream(self, streams: int = 1, threads: int = 0) -> Stream:
        """A streaming session; see :class:`Stream`."""
        return Stream(_core.Stream(self._file, streams, threads), self.class_names, self.path, self.frontend)

    def __repr__(self):
        return f"<lmusim.Model {self.path}: {len(self.network.nodes)} nodes, {len(self.class_names)} classes>"


def read_wav(path):
    """A mono PCM16 or float32 WAV file -> (samples float32 [n] in [-1, 1), sample rate)."""
    _require_core()
    return _core.read_wav(str(path))


def features(audio, sample_rate: int = 16000, frames: int = 128, feature_mean: Optional[float] = None,
             feature_std2: Optional[float] = None, pcen: Optional[dict] = None) -> np.ndarray:
    """Normalised log-mel features [frames, 128] of one clip (docs/lmuformer.md §1.2, Kaldi-compatible, as
    ``lmusim features``): ``audio`` is a WAV path or 1-D samples at ``sample_rate`` (16 kHz only).
    ``frames``: pad or cut to this many (0: as many as the audio gives). ``pcen``: a dict of PCEN
    parameters (``smooth``, ``alpha``, ``delta``, ``root``, ``eps``; docs/frontend.md) turns PCEN on
    between the log-mel energies and the normalisation. A model's own front-end:
    ``features(audio, **model.frontend)``."""
    _require_core()
    if isinstance(audio, (str, os.PathLike)):
        audio, sample_rate = read_wav(audio)
    return _core.fbank_features(_as_float32(audio, "audio", (1,)), sample_rate, frames, feature_mean, feature_std2,
                                pcen)


def load_model(path, memory_mode: Optional[str] = None, weights: Optional[str] = None) -> Model:
    """Load and validate a model file (docs/model_format.md). ``memory_mode``: impulse or recurrence.
    ``weights``: fp32 (as stored), bf16 or int8 rounds the synaptic weights before running
    (per-output-channel int8 scale; counts unchanged; docs/weights.md)."""
    return Model(path, memory_mode, weights)


class NirModel:
    """A NIR graph file lowered onto lmusim's kinds (see :func:`load_nir`, docs/nir.md)."""

    def __init__(self, path, dt: float, discretization: str = "euler", reset: str = "zero", readout: str = "sum"):
        _require_core()
        self.path = str(path)
        self.dt = float(dt)
        self.discretization = discretization
        self.reset = reset
        self.readout = readout
        d = _core.load_nir(self.path, self.dt, discretization, reset, False, readout)
        self._file = d["file"]
        self._spike_file = None  # the same graph with a spiking Input node, made on first use
        self.network = self._file.network
        self.version: str = d["version"]
        self.input_node: str = d["inputs"][0]
        self.output_nodes: List[str] = list(d["outputs"])
        self.input_shape: tuple = tuple(d["input_shape"])
        self.nodes: list = list(d["nodes"])   # (name, NIR type, shape, what it became)
        self.edges: list = list(d["edges"])   # (source, target, closes a cycle)
        self.notes: List[str] = list(d["notes"])

    def run(self, x, batch: int = 16, threads: int = 0, stream: bool = False, output: Optional[str] = None,
            record_spikes: bool = False, per_frame_counts: bool = False, overwrite: bool = False) -> RunResult:
        """Run input ``x`` float32 [steps, *input_shape] (one clip) or [clips, steps, *input_shape];
        returns a :class:`RunResult` whose ``outputs`` holds every Output node's values per step
        and whose ``spike_counts`` holds every spiking node's counts. ``output`` writes the file of
        ``lmusim run GRAPH.nir --output`` (never over the graph file; an existing file only with
        ``overwrite=True``)."""
        if output:
            check_outputs([output], [self.path], overwrite)
        a = np.asarray(x)
        shape = self.input_shape
        stripped = shape
        while len(stripped) > 1 and stripped[0] == 1:  # (1, 1, 12) may be given as (12,)
            stripped = stripped[1:]
        if tuple(a.shape[-len(shape):]) != shape and tuple(a.shape[-len(stripped):]) == stripped:
            shape = stripped
        r = len(shape)
        if a.ndim == r + 1:
            a = a[None]
        if a.ndim != r + 2 or tuple(a.shape[2:]) != shape:
            raise Error(f"input: shape {np.shape(x)}, expected [steps, {', '.join(map(str, self.input_shape))}] or "
                        f"[clips, steps, {', '.join(map(str, self.input_shape))}]")
        clips, steps = a.shape[:2]
        a = _as_float32(a.reshape(clips, steps, -1), "input", (3,))
        if clips == 0 or steps == 0:
            raise Error(f"input: empty (shape {np.shape(x)})")
        mf = self._file
        if np.all((a == 0) | (a == 1)):  # binary data: the Input node emits spikes (event-driven, SOPs)
            if self._spike_file is None:
                self._spike_file = _core.load_nir(self.path, self.dt, self.discretization, self.reset, True,
                                                  self.readout)["file"]
            mf = self._spike_file
        d = _core.run_clips(mf, a, clips, steps, batch=batch, threads=threads, stream=stream,
                            output=str(output) if output else "", record_spikes=record_spikes,
                            per_frame_counts=per_frame_counts, overwrite=overwrite, value_nodes=self.output_nodes)
        return RunResult(d["logits"], d["frame_logits"], dict(d["spike_counts"]), dict(d["ops"]), dict(d["node_ops"]),
                         int(d["latency"]), float(d["seconds"]), [], dict(d["node_values"]))

    def __repr__(self):
        return (f"<lmusim.NirModel {self.path}: {len(self.nodes)} NIR nodes, dt {self.dt:g} s, "
                f"{self.discretization}, reset {self.reset}>")


def load_nir(path, dt: float, discretization: str = "euler", reset: str = "zero", readout: str = "sum") -> NirModel:
    """Load a NIR graph file (docs/nir.md) to run with step ``dt`` seconds; ``discretization``
    euler (dt/tau) or exact (1 - exp(-dt/tau)); ``reset`` zero (v <- v_reset, NIR's definition)
    or subtract (v <- v - v_threshold); ``readout``: the run's logits are the first Output node's
    values summed over the steps (``sum``: spike counts) or at the last step (``last``)."""
    return NirModel(path, dt, discretization, reset, readout)


def export_nir(network, out_path, lossy: bool = False, overwrite: bool = False) -> dict:
    """Write a network (an lmusim network file, or a :class:`Network` / :class:`NirModel`, saved to
    a temporary file first) as a NIR graph (docs/nir.md, "Writing NIR"). Returns the counts and
    the list of what was lost (with ``lossy=True``; without it, what NIR cannot say raises
    :class:`Error` naming the node or projection)."""
    import tempfile
    from .nir_export import export_nir as _export
    if isinstance(network, NirModel):
        network = network.network
    if isinstance(network, (str, os.PathLike)):
        return _export(network, out_path, lossy=lossy, overwrite=overwrite)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "network.h5")
        network.save(path)
        return _export(path, out_path, lossy=lossy, overwrite=overwrite)


def convert(ckpt_path, out_path, memory_mode: str = "impulse", overwrite: bool = False, input_kind: str = "spikes"):
    """Convert an upstream PyTorch checkpoint into a model file (needs torch; see docs/converter.md)."""
    from .convert import convert as _convert
    return _convert(ckpt_path, out_path, memory_mode=memory_mode, overwrite=overwrite, input_kind=input_kind)


def report(path, energy_model: str = "horowitz45-fp32", include_elementwise: bool = False,
           hardware: Optional[str] = None) -> dict:
    """Energy and activity per layer of a recording or clip output file, as `lmusim report --json`.

    ``energy_model``: a preset name (see :func:`energy_presets`) or a JSON file (docs/energy.md).
    ``hardware``: a hardware profile (see :func:`hardware_profiles`) or a JSON file; adds the
    ``"hardware"`` section (energy per layer split into SOPs, MACs, neuron updates, spikes, memory).
    """
    import json
    _require_core()
    return json.loads(_core.report_json(str(path), energy_model, include_elementwise, str(hardware or "")))


def hardware_profiles() -> list:
    """The hardware profiles: energy per synaptic operation, neuron update, spike, MAC, weight byte
    [pJ], weight bits and format, and their sources (docs/energy.md)."""
    _require_core()
    return list(_core.hardware_profiles())


def energy_presets() -> list:
    """The named energy models with their per-operation costs [pJ] and sources."""
    _require_core()
    return list(_core.energy_presets())


def plot_report(path, out_png, energy_model: str = "horowitz45-fp32", include_elementwise: bool = False, clip: int = 0,
                overwrite: bool = False):
    """Draw firing rates, energy per layer and per-frame activity of one clip to a PNG (never
    over ``path``; an existing ``out_png`` only with ``overwrite=True``)."""
    import json
    import tempfile
    from .plot import plot
    check_outputs([out_png], [path, energy_model], overwrite)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(report(path, energy_model, include_elementwise), fh)
    try:
        plot(fh.name, str(path), str(out_png), clip, overwrite=overwrite)
    finally:
        os.unlink(fh.name)


def read_h5(path) -> dict:
    """An lmusim HDF5 file as nested dicts of NumPy arrays (via h5py): every group a dict, every
    dataset an array (or scalar), the root's attributes under ``"attrs"``. Reads recordings
    (docs/recording_format.md) and clip output files (docs/output_format.md) alike."""
    import h5py

    def walk(g):
        out = {}
        for k, v in g.items():
            out[k] = walk(v) if isinstance(v, h5py.Group) else v[()]
        return out

    with h5py.File(path, "r") as f:
        data = walk(f)
        data["attrs"] = {k: v for k, v in f.attrs.items()}
    return data


# The names by file kind, both public: aliases of read_h5.
read_recording = read_h5  #: a recording (``lmusim cuba|run --record``, ``Simulation.run(record_file=)``)
read_output = read_h5  #: a clip output file (``lmusim run --output``, ``Model.run(output=)``)
