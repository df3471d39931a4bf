"""Shared pieces of the Spiking LMUFormer benchmarks (benchmarks/README.md).

* :func:`prepare_model`: the model under test as an lmusim model file *and* an upstream state
  dict for the PyTorch peers. Default: a random checkpoint calibrated to realistic firing rates
  (``tests/python/slmu_reference.py``'s ``make_state_dict``, as the parity tests use), converted
  with ``lmusim.convert``; or ``--model PATH.pth`` (converted) or ``--model PATH.h5`` (the state
  dict is rebuilt from the model file, which stores every BatchNorm as such).
* :class:`TorchStreamingSLMU`: the PyTorch peer for streaming: the same model evaluated frame by
  frame in a Python loop (LIF membranes carried, LMU memory ``m = A m + B u``, every k3 conv
  buffering its last three input frames, so its output for frame t comes once frame t + 1 is in).
* :func:`torch_blas`: which BLAS PyTorch really calls (Debian's torch resolves ``libblas.so.3``).
* :func:`machine`: CPU model, cores, load, for the record.
* :func:`emit`: one JSON line on stdout (``scripts/bench.sh`` collects them); rows with
  ``"row": true`` make the summary table.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))


def default_build() -> Path:
    return Path(os.environ.get("LMUSIM_BUILD_DIR", ROOT / "build"))


def setup_lmusim_path(build: Path) -> None:
    """Import the compiled package from ``build/python`` unless lmusim is importable already."""
    p = str(Path(build) / "python")
    if p not in sys.path:
        sys.path.insert(0, p)


def settle(seconds: float = 0.3) -> None:
    """Pause before a timed whole-batch run: OpenBLAS's and oneTBB's worker threads spin for a
    while after a parallel call before they sleep, and would otherwise take a core from whichever
    engine is timed next (measured: lmusim's batch-64 run right after PyTorch's at 255-345
    clips/s, against 410-440 alone)."""
    time.sleep(seconds)


def h5_datasets(path) -> dict:
    """Every dataset of an HDF5 file, name -> value (attributes such as timestamps left out)."""
    import h5py
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, o: found.__setitem__(name, o[()]) if isinstance(o, h5py.Dataset) else None)
    return found


def same_datasets(a, b) -> bool:
    """The two HDF5 files hold the same datasets with equal values (two runs that must agree)."""
    da, db = h5_datasets(a), h5_datasets(b)
    return da.keys() == db.keys() and all(np.array_equal(np.asarray(da[k]), np.asarray(db[k])) for k in da)


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Machine and BLAS
# ---------------------------------------------------------------------------------------------

def machine() -> dict:
    cpu = "unknown"
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == "unknown":
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = line
    except OSError:
        pass
    load = os.getloadavg()
    return dict(cpu=cpu, cores=os.cpu_count(), avx512="avx512f" in flags,
                load1=round(load[0], 2), load5=round(load[1], 2))


def torch_blas() -> dict:
    """The BLAS library PyTorch has mapped after a matmul, and its GEMV speed (a check that it is
    not Debian's reference BLAS, which is ~20x slower: benchmarks/README.md, Machine)."""
    import torch
    a = torch.randn(1024, 1024)
    v = torch.randn(1024)
    for _ in range(3):
        a @ v
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        a @ v
    gemv_us = (time.perf_counter() - t0) / n * 1e6
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            m = re.search(r"(/\S*(?:blas|lapack)\S*\.so\S*)", line)
            if m:
                libs.add(os.path.realpath(m.group(1)))
    info = torch.__config__.show()
    blas_info = re.search(r"BLAS_INFO=(\w+)", info)
    return dict(torch=torch.__version__, blas_info=blas_info.group(1) if blas_info else "?",
                blas_libs=sorted(libs), openblas=any("openblas" in l for l in libs),
                gemv_1024_us=round(gemv_us, 1))


def set_threads(n: int) -> dict:
    """PyTorch intra-op threads *and* OpenBLAS's own pthreads to n. Debian's torch calls
    OpenBLAS through libblas.so.3 (BLAS_INFO=generic), so torch.set_num_threads does not reach
    OpenBLAS's thread pool; on a busy machine an idle-spinning second BLAS thread slows small
    GEMVs several-fold. Returns what was set."""
    import ctypes
    import torch
    torch.set_num_threads(n)
    done = None
    with open("/proc/self/maps") as f:
        libs = sorted({m.group(1) for line in f for m in [re.search(r"(/\S*libopenblas\S*\.so\S*)", line)] if m})
    for lib in libs:
        try:
            ctypes.CDLL(lib).openblas_set_num_threads(int(n))
            done = lib.rsplit("/", 1)[-1]
        except (OSError, AttributeError):
            pass
    return dict(torch_threads=torch.get_num_threads(), openblas_threads=n if done else None)


# ---------------------------------------------------------------------------------------------
# The model: lmusim file + upstream state dict
# ---------------------------------------------------------------------------------------------

def _bn_from(group, prefix: str, sd: dict, name: str) -> None:
    import torch
    for ours, theirs in (("mean", "running_mean"), ("var", "running_var"), ("weight", "weight"),
                         ("bias", "bias")):
        sd[f"{name}.{theirs}"] = torch.from_numpy(np.asarray(group[f"{prefix}{ours}"][()], dtype=np.float32))
    sd[f"{name}.num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)


def state_dict_from_model_file(path) -> "OrderedDict":
    """Rebuild the upstream ``slmu_rnn_ms_conv1d`` state dict (no ``module.`` prefix) from an
    lmusim model file written by ``lmusim.convert`` (docs/model_format.md: BatchNorms are stored
    as such, W_h is split into its memory and input columns)."""
    import h5py
    import torch
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    sd: "OrderedDict" = OrderedDict()
    with h5py.File(path, "r") as f:
        N, P = f["nodes"], f["projections"]
        for n in N.values():
            if n.attrs.get("affine", "none") not in ("none", "batch_norm", b"none", b"batch_norm"):
                raise ValueError(f"{path}: node {n.name}: affine {n.attrs['affine']!r}; only batch_norm "
                                 "model files (lmusim.convert) can be turned back into a checkpoint")
        depth = len([k for k in N if re.fullmatch(r"block\.\d+\.attn\.prev_lif", k)])
        pe = "patch_embed."
        sd[pe + "proj_conv.weight"] = t(P[pe + "proj_conv/weights"][()])
        _bn_from(N[pe + "proj_lif"], "bn_", sd, pe + "proj_bn")
        for k in (1, 2, 3):
            sd[pe + f"proj_conv{k}.weight"] = t(P[pe + f"proj_conv{k}/weights"][()])
            _bn_from(N[pe + f"proj_lif{k}"], "bn_", sd, pe + f"proj_bn{k}")
        sd[pe + "rpe_conv.weight"] = t(P[pe + "rpe_conv/weights"][()])
        for i in range(depth):
            a, lp, mp = f"block.{i}.attn.", f"block.{i}.attn.lmu.", f"block.{i}.mlp."
            mem = N[lp + "memory"]
            H = t(mem["H"][()])
            sd[lp + "A"], sd[lp + "B"], sd[lp + "H"] = t(mem["A"][()]), t(mem["B"][()]), H
            sd[lp + "fft_H"] = torch.fft.rfft(H, n=2 * H.shape[1], dim=-1)
            sd[lp + "W_u.weight"] = t(P[lp + "W_u/weights"][()])
            sd[lp + "W_u.bias"] = t(P[lp + "W_u/bias"][()])
            sd[lp + "W_h.weight"] = torch.cat([t(P[lp + "W_h.m/weights"][()]), t(P[lp + "W_h.x/weights"][()])], 1)
            sd[lp + "W_h.bias"] = t(P[lp + "W_h.m/bias"][()])
            _bn_from(N[lp + "u_lif"], "bn_", sd, lp + "bn_u")
            _bn_from(N[lp + "m_lif"], "bn_", sd, lp + "bn_m")
            _bn_from(N[lp + "h_lif"], "bn_", sd, lp + "bn_h")
            _bn_from(N[a + "prev_lif"], "bn_", sd, a + "prev_bn")
            pc = P[a + "proj_conv"]
            sd[a + "proj_conv.weight"] = t(pc["weights"][()])[:, :, None]
            sd[a + "proj_conv.bias"] = t(pc["bias"][()])
            _bn_from(pc, "post_bn_", sd, a + "proj_bn")
            _bn_from(N[mp + "fc1_lif"], "bn_", sd, mp + "fc1_bn")
            sd[mp + "fc1_conv.weight"] = t(P[mp + "fc1_conv/weights"][()])[:, :, None]
            sd[mp + "fc1_conv.bias"] = t(P[mp + "fc1_conv/bias"][()])
            _bn_from(N[mp + "fc2_lif"], "bn_", sd, mp + "fc2_bn")
            sd[mp + "fc2_conv.weight"] = t(P[mp + "fc2_conv/weights"][()])[:, :, None]
            sd[mp + "fc2_conv.bias"] = t(P[mp + "fc2_conv/bias"][()])
        _bn_from(N["head_lif"], "bn_", sd, "head_bn")
        sd["head.weight"] = t(N["head/weight"][()])
        sd["head.bias"] = t(N["head/bias"][()])
    return sd


def prepare_model(model, cache_dir: Path, dim: int = 256, depth: int = 1, seed: int = 0):
    """(model file path, upstream state dict without prefix, description).

    ``model`` None: a random calibrated checkpoint (cached in ``cache_dir``); ``.pth``: an
    upstream checkpoint, converted (cached by content hash); ``.h5``: an lmusim model file."""
    import torch
    from lmusim.convert import convert
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    strip = lambda sd: OrderedDict((k[len("module."):] if k.startswith("module.") else k, v)  # noqa: E731
                                   for k, v in sd.items())
    if model is None:
        ckpt = cache_dir / f"slmu_random_dim{dim}_depth{depth}_seed{seed}.pth"
        if not ckpt.exists():
            import slmu_reference as R
            log(f"making a calibrated random checkpoint (dim {dim}, depth {depth}, seed {seed}) ...")
            torch.save(R.make_state_dict(dim=dim, depth=depth, seed=seed), ckpt)
        h5 = ckpt.with_suffix(".h5")
        if not h5.exists():
            convert(ckpt, h5)
        return h5, strip(torch.load(ckpt, map_location="cpu")), \
            f"random checkpoint calibrated to realistic rates (dim {dim}, depth {depth}, seed {seed})"
    model = Path(model)
    if model.suffix == ".h5":
        return model, state_dict_from_model_file(model), f"model file {model.name}"
    digest = hashlib.sha256(model.read_bytes()).hexdigest()[:16]
    h5 = cache_dir / f"{model.stem}_{digest}.h5"
    if not h5.exists():
        convert(model, h5)
    sd = torch.load(model, map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd and not any(k.endswith(".weight") for k in sd):
        sd = sd["state_dict"]
    return h5, strip(sd), f"checkpoint {model.name}"


def features(n_clips: int, seed: int = 7, frames: int = 128, width: int = 128) -> np.ndarray:
    """Realistic normalised log-mel clips (98 real frames + pad frames), float32 [n, frames, width]."""
    import slmu_reference as R
    return np.asarray(R.random_features(n_clips, frames=frames, seed=seed, n_mels=width), dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# PyTorch peers
# ---------------------------------------------------------------------------------------------

def _training_module():
    """python/lmusim/training/slmu.py (plain torch), imported by path: the build's package
    directory holds only the compiled part of lmusim."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("lmusim_training_slmu",
                                                  ROOT / "python" / "lmusim" / "training" / "slmu.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def torch_batch_models(sd):
    """The two PyTorch whole-clip forwards (FFT memory, eval, no grad): the independent reference
    (tests/python/slmu_reference.py) and the training implementation (python/lmusim/training,
    fused C LIF kernel). Returns name -> callable(x [B, N, F] tensor) -> logits."""
    import torch
    import slmu_reference as R
    T = _training_module()
    ref = R.SpikingLMUFormerRef(sd)
    dims = dict(dim=ref.dim, depth=ref.depth, in_channels=ref.in_channels, n_class=ref.n_class,
                mlp_ratio=ref.hidden / ref.dim, memory_size=ref.memory_size, seq_len=ref.seq_len)
    net = T.SpikingLMUFormer(**dims)
    T.load_upstream(net, sd)
    net.eval()

    def run_ref(x):
        with torch.no_grad():
            return ref.forward(x)["logits"]

    def run_train(x):
        with torch.inference_mode():
            return net(x)

    return OrderedDict([("torch-training-impl", run_train), ("torch-reference", run_ref)]), T.lif_backend()


class _Conv3:
    """A k3, padding-1 conv over a stream of frames: output t once input t + 1 is in."""

    def __init__(self, torch, w):
        self.torch = torch
        self.w = w.permute(0, 2, 1).reshape(w.shape[0], -1).contiguous()  # [Cout, 3*Cin]
        self.zero = torch.zeros(w.shape[1])
        self.restart()

    def restart(self):
        self.buf = [self.zero]  # input frames t-1, t (frame -1 is the zero padding)

    def feed(self, xs, end=False):
        out = []
        buf = self.buf
        for x in xs:
            buf.append(x)
            if len(buf) == 3:
                out.append(self.torch.mv(self.w, self.torch.cat(buf)))
                del buf[0]
        if end and len(buf) == 2:  # the last frame, with zero padding after it
            out.append(self.torch.mv(self.w, self.torch.cat([buf[0], buf[1], self.zero])))
            self.restart()
        return out


class TorchStreamingSLMU:
    """The Spiking LMUFormer evaluated frame by frame in PyTorch (batch 1, eval, no grad).

    State carried between frames: every LIF membrane, the LMU memory (``m = A m + B u``, float32,
    recurrence form), the readout's running sum, and for every k3 conv its last two input frames
    (the look-ahead: a conv's output for frame t needs input t + 1, so each conv adds one frame
    of latency and the head's output for frame t is ready after input frame t + 5, as in lmusim).
    BatchNorms are applied as per-channel scale and shift (eval mode); convs and linears are one
    GEMV per frame (a conv's three taps as one [Cout, 3 Cin] matrix). ``push(frame)`` returns the
    logits that became ready (a list); ``flush()`` ends the clip with the convs' zero padding.
    """

    def __init__(self, sd):
        import torch
        self.torch = torch
        g = lambda k: sd[k].detach().float().contiguous()  # noqa: E731
        eps = 1e-5

        def bn(name):
            a = g(name + ".weight") / torch.sqrt(g(name + ".running_var") + eps)
            return a.contiguous(), (g(name + ".bias") - g(name + ".running_mean") * a).contiguous()

        pe = "patch_embed."
        self.depth = len({int(m.group(1)) for k in sd for m in [re.match(r"block\.(\d+)\.", k)] if m})
        self.convs = [_Conv3(torch, g(pe + n + ".weight"))
                      for n in ("proj_conv", "proj_conv1", "proj_conv2", "proj_conv3", "rpe_conv")]
        self.bns = [bn(pe + n) for n in ("proj_bn", "proj_bn1", "proj_bn2", "proj_bn3")]
        self.blocks = []
        for i in range(self.depth):
            a, lp, mp = f"block.{i}.attn.", f"block.{i}.attn.lmu.", f"block.{i}.mlp."
            self.blocks.append(dict(
                prev_bn=bn(a + "prev_bn"), W_u=g(lp + "W_u.weight"), b_u=g(lp + "W_u.bias"), bn_u=bn(lp + "bn_u"),
                A=g(lp + "A"), B=g(lp + "B")[:, 0].contiguous(), bn_m=bn(lp + "bn_m"),
                W_h=g(lp + "W_h.weight"), b_h=g(lp + "W_h.bias"), bn_h=bn(lp + "bn_h"),
                W_p=g(a + "proj_conv.weight")[:, :, 0].contiguous(), b_p=g(a + "proj_conv.bias"),
                bn_p=bn(a + "proj_bn"), bn_1=bn(mp + "fc1_bn"), W_1=g(mp + "fc1_conv.weight")[:, :, 0].contiguous(),
                b_1=g(mp + "fc1_conv.bias"), bn_2=bn(mp + "fc2_bn"),
                W_2=g(mp + "fc2_conv.weight")[:, :, 0].contiguous(), b_2=g(mp + "fc2_conv.bias")))
        self.head_bn = bn("head_bn")
        self.head_w, self.head_b = g("head.weight"), g("head.bias")
        self.restart()

    def restart(self):
        for c in self.convs:
            c.restart()
        self.v = {}  # LIF membranes by name (absent = 0)
        self.m = [None] * self.depth
        self.xc = []  # x_c frames waiting for the RPE branch (one frame behind)
        self.sum = None
        self.frames_out = 0
        self.spike_counts = {}

    def _lif(self, name, xs, theta=1.0):
        torch = self.torch
        out = []
        for x in xs:
            v = self.v.get(name)
            h = x * 0.5 if v is None else torch.add(v, x - v, alpha=0.5)  # h = v + (x - v) / 2
            s = h >= theta
            self.v[name] = h.masked_fill(s, 0.0)  # hard reset to 0
            out.append(s.float())
        return out

    @staticmethod
    def _affine(ab, xs):
        return [x * ab[0] + ab[1] for x in xs]

    def _run(self, frames, end):
        torch = self.torch
        c, bns = self.convs, self.bns
        s = self._lif("proj_lif", self._affine(bns[0], c[0].feed(frames, end)))
        s = self._lif("proj_lif1", self._affine(bns[1], c[1].feed(s, end)))
        s = self._lif("proj_lif2", self._affine(bns[2], c[2].feed(s, end)))
        xc = c[3].feed(s, end)
        self.xc.extend(xc)
        r = c[4].feed(self._lif("proj_lif3", self._affine(bns[3], xc)), end)
        out = []
        for rf in r:
            x = self.xc.pop(0) + rf  # x0 = x_c + RPE
            for i, b in enumerate(self.blocks):
                p = self._lif(f"b{i}.prev", self._affine(b["prev_bn"], [x]), 0.5)[0]
                u = self._lif(f"b{i}.u", self._affine(b["bn_u"], [torch.addmv(b["b_u"], b["W_u"], p)]))[0]
                m = self.m[i]
                m = b["B"] * u if m is None else torch.addmv(b["B"] * u, b["A"], m)  # m = A m + B u
                self.m[i] = m
                ms = self._lif(f"b{i}.m", self._affine(b["bn_m"], [m]))[0]
                h = self._lif(f"b{i}.h", self._affine(b["bn_h"], [torch.addmv(b["b_h"], b["W_h"], torch.cat([ms, p]))]))[0]
                x = x + self._affine(b["bn_p"], [torch.addmv(b["b_p"], b["W_p"], h)])[0]
                f1 = self._lif(f"b{i}.fc1", self._affine(b["bn_1"], [x]))[0]
                f2 = self._lif(f"b{i}.fc2", self._affine(b["bn_2"], [torch.addmv(b["b_1"], b["W_1"], f1)]))[0]
                x = x + torch.addmv(b["b_2"], b["W_2"], f2)
            so = self._lif("head", self._affine(self.head_bn, [x]))[0]
            self.sum = so if self.sum is None else self.sum + so
            self.frames_out += 1
            out.append(torch.addmv(self.head_b, self.head_w, self.sum / float(self.frames_out)))
        return out

    def push(self, frame):
        """One input frame [F] (tensor); returns the list of logits that became ready."""
        return self._run([frame], False)

    def flush(self):
        """End the clip: the remaining outputs (the convs' zero padding)."""
        return self._run([], True)
