"""The keyword-spotting training loop shared by ``scripts/train_slmu.py`` (Spiking LMUFormer)
and ``scripts/train_l2mu.py`` (L2MU): cached features of the ``scripts/gen_keywords.py`` data,
augmentation, the epoch loop with validation, per-epoch checkpoints, ``resume.pt`` and the final
test evaluation (``results.json``).  An *architecture* (:class:`Arch`) supplies the model, its
command-line options and how its checkpoints are written and read.

* Features (docs/lmuformer.md §1.2, :mod:`lmusim.training.features`) are computed once per
  split and cached under ``--cache`` (``feats_<split>.npy`` float32 [clips, 128, 128]
  + ``labels_<split>.npy`` + ``paths_<split>.json``).
* Loss: cross-entropy on the clip logits (``--loss ce``, default) or BCEWithLogits on one-hot
  targets (``--loss bce``); ``--frame-loss W`` adds W times :func:`frame_loss` on the frames
  before and after the word (positions from the manifest, :func:`word_frame_codes`).
* Optimiser: Adam(``--lr``, betas (0.95, 0.999), weight_decay 0); MultiStepLR stepped once per
  epoch (``--milestones``, ``--gamma``); optional gradient-norm clipping (``--clip``).
* Training augmentation on the cached features: one frequency and one time mask (SpecAugment;
  masked cells take the normalised value of a zero log-mel cell), additive U[0,1)*r/10 noise
  (r ~ U[0,1) per clip), a circular time roll by randint(-R, R) frames, and optionally
  (``--warp``) a formant scaling (vocal tract length perturbation) by re-sampling the mel axis.
* Splits: ``--train-splits``, ``--val-splits`` and ``--test-splits`` (comma lists of manifest
  splits, default ``train`` / ``validation`` / ``test``) are concatenated for training and for
  choosing the best checkpoint, and each test split is reported separately; e.g.
  ``--train-splits train,train_noisy --val-splits validation,validation_noisy --test-splits
  test,test_noisy`` trains on the clean and the noisy data of ``scripts/gen_keywords.py``.
  ``--train-fractions`` (with ``--train-subset N``) draws each epoch's N clips from the training
  splits in fixed proportions (e.g. ``0.5,0.5``) instead of uniformly from their union.
* Every epoch: validation accuracy (eval mode), ``checkpoints/epoch_NNN.pth``, ``best_model.pth``
  when validation improves, and ``resume.pt`` (model, optimiser, scheduler, RNG states, history)
  for ``--resume``; everything written to a temporary name and renamed, so a stopped run loses
  at most the epoch in progress.
* At the end: the best checkpoint's validation and test accuracy, per-class test accuracy and
  per-population firing rates on the test set, written to ``results.json``.

Logs go to stdout and ``OUT/log.txt``.  ``--time-batches N`` only times N training batches
(and one validation pass) and prints the projected epoch / run time.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter, OrderedDict
from typing import Any, Dict, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from . import features as feat

SPLITS = ("train", "validation", "test")


class Logger:
    def __init__(self, path: str):
        self.f = open(path, "a", buffering=1)

    def __call__(self, *a):
        s = " ".join(str(x) for x in a)
        line = time.strftime("%H:%M:%S ") + s
        print(line, flush=True)
        self.f.write(line + "\n")


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def load_splits(data_dir: str, cache: str, splits, log, workers: int = 2, frontend: str = "logmel"):
    """Features, labels and records of several splits, concatenated (one split: no copy)."""
    parts = [load_split(data_dir, cache, s, log, workers, frontend) for s in splits]
    if len(parts) == 1:
        return parts[0]
    return (np.concatenate([np.asarray(p[0]) for p in parts]),
            np.concatenate([p[1] for p in parts]), [r for p in parts for r in p[2]])


def _split_list(text: str):
    out = [s.strip() for s in text.split(",") if s.strip()]
    if not out:
        raise SystemExit(f"empty split list {text!r}")
    return out


#: Per-frame target kinds of :func:`word_frame_codes`.
FRAME_FREE, FRAME_BEFORE, FRAME_AFTER = 0, 1, 2


def word_frame_codes(recs, frames: int = feat.TARGET_LENGTH, margin: int = 8,
                     shift: int = 160, win: int = 400) -> np.ndarray:
    """Which output frames of each clip come before and after its word, from the manifest's
    ``offset`` and ``speech_samples`` (``params`` of clean clips, ``conditions`` of noisy ones):
    int8 [clips, frames], ``FRAME_BEFORE`` where no input frame up to ``margin`` frames later
    (the model's look-ahead, with room to spare) reaches the word's first sample,
    ``FRAME_AFTER`` where the frame starts after its last sample, ``FRAME_FREE`` elsewhere and for
    clips without positions.  Input frame t covers samples [t*shift, t*shift + win)."""
    out = np.zeros((len(recs), frames), dtype=np.int8)
    t = np.arange(frames)
    for i, r in enumerate(recs):
        pos = r.get("conditions") or r.get("params") or {}
        if "offset" not in pos or "speech_samples" not in pos:
            continue
        start, end = int(pos["offset"]), int(pos["offset"]) + int(pos["speech_samples"])
        out[i, (t + margin) * shift + win <= start] = FRAME_BEFORE
        out[i, t * shift >= end] = FRAME_AFTER
    return out


def frame_loss(frame_logits: torch.Tensor, y: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Per-frame loss of ``--frame-loss``: before the word a causal model cannot know it, so the
    frame's output should be uniform over the classes (KL(uniform || softmax), i.e. the frame casts
    no vote in the mean over frames that decides); after the word it has heard all of it, so the
    frame should name it (cross-entropy).  Each part is the mean over its frames of the batch.
    ``frame_logits`` [B, N, C], ``y`` [B], ``codes`` [B, N] of :func:`word_frame_codes`."""
    logp = F.log_softmax(frame_logits, dim=-1)
    loss = frame_logits.new_zeros(())
    before = codes == FRAME_BEFORE
    if before.any():
        loss = loss - logp[before].mean(dim=-1).mean() - float(np.log(frame_logits.shape[-1]))
    after = codes == FRAME_AFTER
    if after.any():
        yy = y.view(-1, 1).expand(codes.shape)[after]
        loss = loss + F.nll_loss(logp[after], yy)
    return loss


def load_split(data_dir: str, cache: str, split: str, log, workers: int = 2, frontend: str = "logmel"):
    """Cached features/labels of one split (computed on first use). ``frontend="pcen"``: the PCEN
    features (docs/frontend.md), computed from the cached log-mel ones and cached as
    ``feats_pcen_<split>.npy``."""
    if frontend == "pcen":
        x, y, recs = load_split(data_dir, cache, split, log, workers)
        ppath = os.path.join(cache, f"feats_pcen_{split}.npy")
        if os.path.exists(ppath) and os.path.getmtime(ppath) >= os.path.getmtime(os.path.join(cache, f"feats_{split}.npy")):
            return np.load(ppath, mmap_mode="r"), y, recs
        t0 = time.time()
        out = np.lib.format.open_memmap(ppath + ".tmp.npy", mode="w+", dtype=np.float32, shape=x.shape)
        for i in range(0, len(x), 2000):
            out[i:i + 2000] = feat.logmel_to_pcen_features(x[i:i + 2000])
        out.flush()
        del out
        os.replace(ppath + ".tmp.npy", ppath)
        log(f"  {split}: PCEN features in {time.time() - t0:.0f} s -> {ppath}")
        return np.load(ppath, mmap_mode="r"), y, recs
    if frontend != "logmel":
        raise SystemExit(f"unknown front-end {frontend!r}")
    os.makedirs(cache, exist_ok=True)
    fpath = os.path.join(cache, f"feats_{split}.npy")
    lpath = os.path.join(cache, f"labels_{split}.npy")
    ppath = os.path.join(cache, f"paths_{split}.json")
    with open(os.path.join(data_dir, "manifest.json")) as f:
        man = json.load(f)
    recs = [r for r in man["clips"] if r["split"] == split]
    paths = [r["path"] for r in recs]
    if os.path.exists(fpath) and os.path.exists(ppath):
        with open(ppath) as f:
            if json.load(f) == paths:
                return np.load(fpath, mmap_mode="r"), np.load(lpath), recs
        log(f"cache {ppath} does not match the manifest; recomputing")
    t0 = time.time()
    log(f"computing features of {len(paths)} {split} clips ({workers} workers)")
    x = feat.wavs_features(paths, root=data_dir, workers=workers, progress=True)
    y = np.array([r["label"] for r in recs], dtype=np.int64)
    np.save(fpath + ".tmp.npy", x)
    os.replace(fpath + ".tmp.npy", fpath)
    np.save(lpath, y)
    with open(ppath, "w") as f:
        json.dump(paths, f)
    log(f"  {split}: {x.shape} in {time.time() - t0:.0f} s -> {fpath}")
    return np.load(fpath, mmap_mode="r"), y, recs


def _warp_index(alpha: torch.Tensor, n_mels: int) -> torch.Tensor:
    """Fractional source mel-bin index per (clip, target bin) for formant scaling by ``alpha``:
    the warped spectrum is S'(f) = S(f / alpha) (vocal tract length perturbation), evaluated at
    the centre frequencies of the 128 HTK-mel filters of docs/lmuformer.md §1.2 (20 Hz .. 8 kHz)."""
    lo, hi = 1127.0 * np.log1p(20.0 / 700.0), 1127.0 * np.log1p(8000.0 / 700.0)
    step = (hi - lo) / (n_mels + 1)
    centre_mel = lo + step * torch.arange(1, n_mels + 1, dtype=torch.float64)
    centre_hz = 700.0 * torch.expm1(centre_mel / 1127.0)
    src_hz = centre_hz.view(1, -1) / alpha.double().view(-1, 1)
    src_mel = 1127.0 * torch.log1p(src_hz / 700.0)
    return ((src_mel - lo) / step - 1.0).clamp(0, n_mels - 1).float()


def augment(x: torch.Tensor, gen: torch.Generator, freqm: int, timem: int, noise: bool,
            roll: int, warp: float = 0.0, pad: float = feat.PAD_VALUE, codes: torch.Tensor = None):
    """Training augmentation on normalised features x [B, N, F] (may work in place): optional
    formant scaling (``warp``: factor uniform in [1-warp, 1+warp], linear interpolation across
    mel bins), then upstream's SpecAugment, noise and roll (docs/lmuformer.md §1.3). Masked cells
    take ``pad``, the front-end's padding value.  With ``codes`` (per-frame target kinds [B, N] of
    :func:`word_frame_codes`) returns ``(x, codes)``, the codes rolled with the frames and the
    frames that wrapped around set to ``FRAME_FREE``; the random draws are the same either way."""
    b, n, f = x.shape
    if warp > 0:
        alpha = 1.0 + (torch.rand(b, generator=gen) * 2 - 1) * warp
        src = _warp_index(alpha, f)  # [B, F]
        i0 = src.floor().long()
        i1 = (i0 + 1).clamp(max=f - 1)
        w = (src - i0).view(b, 1, f)
        x = torch.gather(x, 2, i0.view(b, 1, f).expand(b, n, f)) * (1 - w) \
            + torch.gather(x, 2, i1.view(b, 1, f).expand(b, n, f)) * w
    if freqm > 0:
        w = torch.randint(0, freqm + 1, (b,), generator=gen)
        s = (torch.rand(b, generator=gen) * (f - w)).long()
        idx = torch.arange(f).view(1, f)
        mask = (idx >= s.view(b, 1)) & (idx < (s + w).view(b, 1))
        x.masked_fill_(mask.view(b, 1, f), pad)
    if timem > 0:
        w = torch.randint(0, timem + 1, (b,), generator=gen)
        s = (torch.rand(b, generator=gen) * (n - w)).long()
        idx = torch.arange(n).view(1, n)
        mask = (idx >= s.view(b, 1)) & (idx < (s + w).view(b, 1))
        x.masked_fill_(mask.view(b, n, 1), pad)
    if noise:
        amp = torch.rand(b, 1, 1, generator=gen) / 10
        x.add_(torch.rand(x.shape, generator=gen) * amp)
    if roll > 0:
        sh = torch.randint(-roll, roll, (b,), generator=gen)
        src = torch.arange(n).view(1, n) - sh.view(b, 1)
        idx = src % n
        x = torch.gather(x, 1, idx.view(b, n, 1).expand(b, n, f))
        if codes is not None:
            codes = torch.gather(codes, 1, idx).masked_fill((src < 0) | (src >= n), FRAME_FREE)
    return x if codes is None else (x, codes)


@torch.no_grad()
def evaluate(model, x, y, batch: int = 256):
    """Accuracy and predictions of the model in eval mode."""
    model.eval()
    preds = []
    for i in range(0, len(y), batch):
        xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))
        preds.append(model(xb).argmax(dim=1))
    p = torch.cat(preds).numpy()
    return float((p == y).mean()), p


# ---------------------------------------------------------------------------------------------
# Architectures and the loop
# ---------------------------------------------------------------------------------------------

class Arch:
    """What the loop needs of a model family; subclasses override every method."""

    #: the training script's name (log lines, --help)
    name = "model"
    #: defaults of the shared options that differ per architecture
    defaults: Mapping[str, Any] = {}

    def add_arguments(self, ap: argparse.ArgumentParser) -> None:
        """The architecture's own options (sizes, neuron parameters)."""

    def build(self, args) -> torch.nn.Module:
        raise NotImplementedError

    def describe(self, model) -> str:
        return json.dumps(getattr(model, "config", {}))

    def checkpoint(self, model, args) -> Any:
        """The object saved as ``best_model.pth`` / ``epoch_NNN.pth`` (what the converter reads)."""
        raise NotImplementedError

    def load(self, model, obj) -> None:
        """Inverse of :meth:`checkpoint`."""
        raise NotImplementedError

    def firing_rates(self, model, feats: torch.Tensor) -> Dict[str, float]:
        raise NotImplementedError

    def frame_logits(self, model, x: torch.Tensor) -> torch.Tensor:
        """Each frame's output [B, N, C], whose mean over frames is ``model(x)`` (``--frame-loss``)."""
        raise SystemExit(f"--frame-loss is not available for {self.name}")

    def loss(self, logits: torch.Tensor, y: torch.Tensor, args) -> torch.Tensor:
        """The training loss of a batch (the prediction is always the logits' argmax): by default
        cross-entropy (``--loss ce``) or BCE on one-hot targets (``--loss bce``)."""
        if args.loss == "bce":
            return F.binary_cross_entropy_with_logits(logits, F.one_hot(y, logits.shape[1]).float())
        return F.cross_entropy(logits, y)


def _atomic_save(obj, path: str) -> None:
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


def main(arch: Arch, argv=None, description: str = "") -> int:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", default="build/data/keywords")
    ap.add_argument("--cache", default="build/train/cache")
    ap.add_argument("--out", default=f"build/train/{arch.name}_kws")
    arch.add_arguments(ap)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2.5e-3)
    ap.add_argument("--milestones", default="5:5", help="'START:STEP' (every STEP epochs from "
                    "START, upstream 10:10) or a comma list")
    ap.add_argument("--gamma", type=float, default=0.7, help="MultiStepLR gamma (upstream 0.85)")
    ap.add_argument("--loss", choices=["ce", "bce", "count_mse"], default="ce",
                    help="count_mse (spiking outputs): mean squared error between each output's spikes per "
                         "step and a target rate (--correct-rate for the label, --incorrect-rate elsewhere)")
    ap.add_argument("--correct-rate", type=float, default=0.5)
    ap.add_argument("--incorrect-rate", type=float, default=0.02)
    ap.add_argument("--frame-loss", type=float, default=0.0,
                    help="add this weight times a per-frame loss from the manifest's word positions: uniform "
                         "outputs before the word, the label after it (0: off; --loss ce only)")
    ap.add_argument("--frame-margin", type=int, default=8,
                    help="frames of look-ahead allowed for when finding the frames before the word")
    ap.add_argument("--clip", type=float, default=0.0, help="clip the gradient norm to this (0: off)")
    ap.add_argument("--freqm", type=int, default=24)
    ap.add_argument("--timem", type=int, default=24)
    ap.add_argument("--no-noise", action="store_true")
    ap.add_argument("--roll", type=int, default=10)
    ap.add_argument("--warp", type=float, default=0.0,
                    help="formant-scaling augmentation: factor in [1-W, 1+W] (0: off)")
    ap.add_argument("--train-subset", type=int, default=0,
                    help="use a random subset of this many training clips per epoch (0: all)")
    ap.add_argument("--train-splits", default="train",
                    help="comma list of manifest splits trained on (e.g. train,train_noisy)")
    ap.add_argument("--val-splits", default="validation",
                    help="comma list of splits whose union picks the best checkpoint")
    ap.add_argument("--test-splits", default="test",
                    help="comma list of splits evaluated (each separately) at the end")
    ap.add_argument("--train-fractions", default=None,
                    help="with --train-subset: fraction of each epoch's clips drawn from each "
                         "training split (comma list, same order as --train-splits)")
    ap.add_argument("--frontend", choices=("logmel", "pcen"), default="logmel",
                    help="the features: normalised log-mel (default, upstream's) or PCEN (docs/frontend.md; the "
                         "architecture's checkpoints state it for python3 -m lmusim.convert)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", default=None,
                    help="start from the weights of this checkpoint (fresh optimiser and schedule), "
                         "e.g. to fine-tune on new data")
    ap.add_argument("--resume-lr", type=float, default=None,
                    help="with --resume: set the learning rate to this value")
    ap.add_argument("--time-batches", type=int, default=0)
    ap.set_defaults(**arch.defaults)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    os.makedirs(os.path.join(args.out, "checkpoints"), exist_ok=True)
    log = Logger(os.path.join(args.out, "log.txt"))
    log("args:", json.dumps(vars(args)))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    pad_value = feat.PAD_VALUE if args.frontend == "logmel" else feat.PCEN_PAD_VALUE
    train_splits = _split_list(args.train_splits)
    val_splits = _split_list(args.val_splits)
    test_splits = _split_list(args.test_splits)
    tr_parts = [load_split(args.data, args.cache, s, log, frontend=args.frontend) for s in train_splits]
    tr_sizes = [len(p[1]) for p in tr_parts]
    xtr_t = torch.from_numpy(np.concatenate([np.asarray(p[0]) for p in tr_parts]))  # in memory
    ytr = np.concatenate([p[1] for p in tr_parts])
    codes_tr = None
    if args.frame_loss > 0:
        if args.loss != "ce":
            raise SystemExit("--frame-loss needs --loss ce")
        codes_tr = torch.from_numpy(word_frame_codes([r for p in tr_parts for r in p[2]],
                                                     frames=xtr_t.shape[1], margin=args.frame_margin))
        kinds = np.bincount(codes_tr.numpy().ravel(), minlength=3) / codes_tr.numel()
        log(f"--frame-loss {args.frame_loss}: {kinds[FRAME_BEFORE]:.1%} of the training frames before "
            f"their word, {kinds[FRAME_AFTER]:.1%} after it")
    del tr_parts
    fractions = None
    if args.train_fractions:
        fractions = [float(v) for v in args.train_fractions.split(",")]
        if len(fractions) != len(train_splits) or not args.train_subset:
            raise SystemExit("--train-fractions needs --train-subset and one fraction per "
                             "training split")
    xva, yva, rva = load_splits(args.data, args.cache, val_splits, log, frontend=args.frontend)
    va_split = np.array([r["split"] for r in rva])
    tests = OrderedDict((s, load_split(args.data, args.cache, s, log, frontend=args.frontend)) for s in test_splits)
    log(f"train {len(ytr)} ({'+'.join(map(str, tr_sizes))}: {args.train_splits}), validation "
        f"{len(yva)} ({args.val_splits}), test " + ", ".join(f"{s} {len(t[1])}" for s, t in tests.items()))

    model = arch.build(args)
    n_par = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"model {arch.name} {arch.describe(model)}: {n_par:,} trainable parameters")
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                           betas=(0.95, 0.999), weight_decay=0)
    if ":" in args.milestones:
        a, b = (int(v) for v in args.milestones.split(":"))
        milestones = list(range(a, args.epochs + 1, b))
    else:
        milestones = [int(v) for v in args.milestones.split(",") if v]
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=args.gamma)
    gen = torch.Generator().manual_seed(args.seed + 1)

    start_epoch, best_acc, best_epoch, history = 1, -1.0, 0, []
    resume_path = os.path.join(args.out, "resume.pt")
    if args.resume and os.path.exists(resume_path):
        st = torch.load(resume_path, map_location="cpu")
        arch.load(model, st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        # the schedule of this invocation wins (e.g. a resumed run extended with more epochs)
        sched.milestones = Counter(milestones)
        sched.gamma = args.gamma
        if args.resume_lr is not None:
            for g in opt.param_groups:
                g["lr"] = args.resume_lr
        gen.set_state(st["gen"])
        torch.set_rng_state(st["torch_rng"])
        start_epoch, best_acc, best_epoch = st["epoch"] + 1, st["best_acc"], st["best_epoch"]
        history = st["history"]
        log(f"resumed after epoch {st['epoch']} (best validation {best_acc:.4f} at epoch "
            f"{best_epoch})")
    elif args.init:
        arch.load(model, torch.load(args.init, map_location="cpu"))
        log(f"initialised from {args.init}")

    def train_batches(order, limit=0):
        model.train()
        tot_loss, tot_ok, tot_n, t0 = 0.0, 0, 0, time.time()
        nb = (len(order) + args.batch - 1) // args.batch
        for bi in range(nb):
            if limit and bi >= limit:
                break
            idx = order[bi * args.batch:(bi + 1) * args.batch]
            xb = xtr_t[idx].clone()
            yb = torch.from_numpy(ytr[idx.numpy()])
            if codes_tr is None:
                xb = augment(xb, gen, args.freqm, args.timem, not args.no_noise, args.roll, args.warp, pad_value)
                logits = model(xb)
                loss = arch.loss(logits, yb, args)
            else:
                xb, cb = augment(xb, gen, args.freqm, args.timem, not args.no_noise, args.roll, args.warp,
                                 pad_value, codes=codes_tr[idx].long())
                per_frame = arch.frame_logits(model, xb)
                logits = per_frame.mean(dim=1)
                loss = arch.loss(logits, yb, args) + args.frame_loss * frame_loss(per_frame, yb, cb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            tot_loss += float(loss) * len(idx)
            tot_ok += int((logits.argmax(1) == yb).sum())
            tot_n += len(idx)
            if (bi + 1) % 20 == 0 or bi + 1 == nb:
                el = time.time() - t0
                log(f"  batch {bi + 1}/{nb} loss {tot_loss / tot_n:.4f} acc {tot_ok / tot_n:.4f}"
                    f" ({el / (bi + 1):.2f} s/batch, epoch eta {el / (bi + 1) * (nb - bi - 1):.0f} s)")
        return tot_loss / max(tot_n, 1), tot_ok / max(tot_n, 1), time.time() - t0

    def epoch_order():
        """The training clips of one epoch, in order (random)."""
        if fractions is None:
            order = torch.randperm(len(ytr), generator=gen)
            return order[:args.train_subset] if args.train_subset else order
        parts, start = [], 0
        for n, f in zip(tr_sizes, fractions):
            k = min(n, int(round(f * args.train_subset)))
            parts.append(start + torch.randperm(n, generator=gen)[:k])
            start += n
        order = torch.cat(parts)
        return order[torch.randperm(len(order), generator=gen)]

    def validate():
        """Accuracy over the union of the validation splits, and per split."""
        acc, p = evaluate(model, xva, yva)
        per = OrderedDict((s, float((p[va_split == s] == yva[va_split == s]).mean()))
                          for s in val_splits)
        return acc, per

    if args.time_batches:
        order = torch.randperm(len(ytr), generator=gen)
        n_ep = min(len(ytr), args.train_subset or len(ytr))
        _, _, dt = train_batches(order[:n_ep], args.time_batches)
        per_batch = dt / args.time_batches
        t0 = time.time()
        evaluate(model, xva, yva)
        tv = time.time() - t0
        ep = per_batch * ((n_ep + args.batch - 1) // args.batch) + tv
        log(f"TIMING {arch.name} {arch.describe(model)} batch {args.batch}: {per_batch:.2f} s/batch,"
            f" validation {tv:.0f} s, epoch ~{ep:.0f} s ({ep / 60:.1f} min), {args.epochs} epochs "
            f"~{ep * args.epochs / 60:.0f} min")
        return 0

    for epoch in range(start_epoch, args.epochs + 1):
        order = epoch_order()
        lr = opt.param_groups[0]["lr"]
        log(f"epoch {epoch}/{args.epochs} lr {lr:.3g}")
        tl, ta, dt = train_batches(order)
        sched.step()
        t0 = time.time()
        va, va_per = validate()
        tv = time.time() - t0
        ck = arch.checkpoint(model, args)
        _atomic_save(ck, os.path.join(args.out, "checkpoints", f"epoch_{epoch:03d}.pth"))
        improved = va > best_acc
        if improved:
            best_acc, best_epoch = va, epoch
            _atomic_save(ck, os.path.join(args.out, "best_model.pth"))
        history.append(OrderedDict(epoch=epoch, lr=lr, train_loss=tl, train_acc=ta, val_acc=va,
                                   train_s=round(dt, 1), val_s=round(tv, 1), batch=args.batch,
                                   clips=len(order), freqm=args.freqm, timem=args.timem,
                                   warp=args.warp,
                                   **({"val_acc_per_split": va_per} if len(va_per) > 1 else {})))
        _atomic_save(dict(model=ck, optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                          gen=gen.get_state(), torch_rng=torch.get_rng_state(), epoch=epoch,
                          best_acc=best_acc, best_epoch=best_epoch, history=history,
                          args=vars(args)), resume_path)
        per_txt = (" (" + ", ".join(f"{s} {a:.4f}" for s, a in va_per.items()) + ")"
                   if len(va_per) > 1 else "")
        log(f"epoch {epoch} done: train loss {tl:.4f} acc {ta:.4f}, validation acc {va:.4f}"
            f"{per_txt}{' (best)' if improved else ''}, {dt:.0f} s train + {tv:.0f} s validation")

    # final evaluation of the best checkpoint
    arch.load(model, torch.load(os.path.join(args.out, "best_model.pth"), map_location="cpu"))
    va, va_per = validate()
    test_acc = OrderedDict()
    for s, (x_, y_, _) in tests.items():
        test_acc[s] = evaluate(model, x_, y_)[0]
    xte, yte, _ = tests[test_splits[0]]
    te, pte = evaluate(model, xte, yte)
    per_class = OrderedDict((w, float((pte[yte == k] == k).mean()))
                            for k, w in enumerate(feat.CLASS_NAMES))
    rates = arch.firing_rates(model, torch.from_numpy(np.ascontiguousarray(xte)))
    res = OrderedDict(config=getattr(model, "config", {}), trainable_parameters=n_par, args=vars(args),
                      best_epoch=best_epoch, validation_acc=va, test_acc=te,
                      validation_acc_per_split=va_per, test_acc_per_split=test_acc,
                      test_per_class=per_class, test_firing_rates=rates,
                      train_time_s=round(sum(h["train_s"] + h["val_s"] for h in history), 1),
                      history=history)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    log(f"best epoch {best_epoch}: validation acc {va:.4f}, TEST acc {te:.4f}"
        + ("".join(f"; {s} {a:.4f}" for s, a in test_acc.items()) if len(test_acc) > 1 else ""))
    for k, v in rates.items():
        log(f"  firing rate {k:28s} {v:.4f}")
    log("DONE")
    return 0


__all__ = ["SPLITS", "Logger", "load_split", "load_splits", "augment", "evaluate", "Arch", "main"]
