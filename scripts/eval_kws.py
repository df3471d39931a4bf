#!/usr/bin/python3
"""Evaluate a keyword-spotting model file with lmusim, streaming real audio, against PyTorch.

Works for both shipped architectures: the Spiking LMUFormer (``models/slmu_kws.h5``, PyTorch side
:mod:`lmusim.training.slmu`) and the L2MU (``models/l2mu_kws.h5``, :mod:`lmusim.training.l2mu`);
the checkpoint's keys say which. (``scripts/eval_slmu.py`` is the same script under its old name.)

For every clip of a split of the ``scripts/gen_keywords.py`` data set (default: test, the unseen
speakers):

1. **lmusim, true streaming** (``lmusim run MODEL --input *.wav --stream --chunk-ms 10``): the
   audio goes through the C++ front-end in 10 ms chunks and every feature frame enters the model
   as soon as its last sample arrives. Predictions, per-frame logits and SOP/MAC counts come from
   the output file.
2. **PyTorch** (the training implementation, eval mode) on the same
   features (``lmusim.features`` with the model's front-end, the C++ code), in batches of 128:
   every prediction must agree with lmusim's. PyTorch's float32 rounding depends on the batch a
   clip is in, so a clip where the two disagree is run again by PyTorch alone, and both counts are
   reported (``agreement``, ``agreement_with_disagreements_run_alone``). Also PyTorch on torchaudio's features (upstream's front-end; for a PCEN
   model, PCEN computed from them as in training), for the front-end's effect.
3. **Accuracy vs frames**: the test accuracy of the decision available after each input frame.
   The readout for frame n (running mean over frames 0..n) is ready after input frame n + 5
   (the convolutions' look-ahead), so after k input frames the decision is that of frame
   k - 6 (none before frame 6, counted as wrong); the final decision needs the whole clip (128
   frames) plus the 5-frame drain. Reported: the first k from which the accuracy stays within
   1 point of the final one, the sequence-length reduction (128 - k) / 128, and the same in the
   paper's convention (prediction index n, look-ahead not counted; 32.03 % in the paper).

4. **Per condition** (the noisy splits, ``--split test_noisy``: clips whose manifest record has
   ``conditions``): accuracy per noise type x SNR band (5 dB bands), per reverberation (none /
   room), per channel, per tempo and per peak-level band, printed as Markdown tables.

Writes ``OUT/eval_<split>.json`` (accuracies, agreement, per-speaker accuracy, curve, firing
rates, ops per clip, per-condition accuracy) and ``OUT/accuracy_vs_frames.png``.

Usage: ``scripts/eval_kws.py MODEL.h5 --checkpoint best.pth [--data build/data/keywords]``
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the built package (compiled module + training code); scripts/build.sh puts it there
sys.path.insert(0, os.path.join(os.environ.get("LMUSIM_BUILD_DIR", os.path.join(ROOT, "build")), "python"))

import numpy as np  # noqa: E402


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def curve_stats(acc: np.ndarray, final: float, latency: int) -> dict:
    """acc[k-1] = accuracy after k input frames. The first k from which acc stays >= final - 1
    point, in honest input frames and in the paper's prediction-index convention."""
    ok = acc >= final - 0.01
    k = len(acc)
    while k > 1 and ok[k - 2]:
        k -= 1
    frames = len(acc)
    return dict(frames_needed=int(k), reduction=(frames - k) / frames,
                paper_index=int(k - 1 - latency), paper_reduction=(frames - (k - latency)) / frames)


def condition_table(recs, correct) -> dict:
    """Accuracy per condition of the noisy clips: {group: {condition: [right, clips]}}."""
    from collections import OrderedDict
    groups = OrderedDict((g, defaultdict(lambda: [0, 0])) for g in
                         ("noise x SNR", "noise", "SNR", "reverb", "channel", "tempo", "peak level"))
    for r, ok in zip(recs, correct):
        c = r.get("conditions")
        if not c:
            continue
        lo = min(20, 5 * int(c["snr_db"] // 5))
        band = f"{lo}-{lo + 5} dB"
        t = c["tempo"]
        lv = c["level_dbfs"]
        keys = {"noise x SNR": f"{c['noise']} {band}", "noise": c["noise"], "SNR": band,
                "reverb": "room" if c.get("reverb") else "none", "channel": c["channel"],
                "tempo": "0.85-0.95" if t < 0.95 else ("0.95-1.05" if t < 1.05 else "1.05-1.2"),
                "peak level": "-35..-25 dBFS" if lv < -25 else ("-25..-15 dBFS" if lv < -15 else "-15..-3 dBFS")}
        for g, k in keys.items():
            groups[g][k][0] += int(ok)
            groups[g][k][1] += 1
    def order(k):  # text first, then the band's first number ("5-10 dB" before "10-15 dB")
        m = re.match(r"(\D*?)(-?\d+(?:\.\d+)?)", k)
        return (m.group(1), float(m.group(2))) if m else (k, 0.0)
    return {g: {k: d[k] for k in sorted(d, key=order)} for g, d in groups.items() if d}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="lmusim model file (.h5)")
    ap.add_argument("--checkpoint", help="the PyTorch checkpoint it was converted from (.pth)")
    ap.add_argument("--data", default=os.path.join(ROOT, "build/data/keywords"),
                    help="the scripts/gen_keywords.py output (its default --out)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", default=os.path.join(ROOT, "build/eval"))
    ap.add_argument("--lmusim", default=os.environ.get("LMUSIM_BIN", os.path.join(ROOT, "build/apps/lmusim")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="only the first N clips (0: all)")
    ap.add_argument("--weights", choices=("fp32", "bf16", "int8"), default=None,
                    help="lmusim rounds the synaptic weights to this format (docs/weights.md); PyTorch keeps fp32")
    ap.add_argument("--plot", default=None, help="accuracy-vs-frames PNG (default OUT/accuracy_vs_frames.png)")
    args = ap.parse_args(argv)

    import h5py
    import lmusim

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.data, "manifest.json")) as f:
        man = json.load(f)
    recs = [r for r in man["clips"] if r["split"] == args.split]
    if args.limit:
        recs = recs[: args.limit]
    wavs = [os.path.join(args.data, r["path"]) for r in recs]
    y = np.array([r["label"] for r in recs])
    log(f"{len(recs)} {args.split} clips from {args.data}")

    # 1. lmusim, streaming audio
    out_h5 = os.path.join(args.out, f"lmusim_{args.split}.h5")
    t0 = time.time()
    subprocess.run([args.lmusim, "run", args.model, "--input", *wavs, "--stream", "--chunk-ms", "10",
                    "--output", out_h5, "--overwrite", "--threads", str(args.threads), "--quiet",
                    *(["--weights", args.weights] if args.weights else [])], check=True,
                   stdout=subprocess.DEVNULL)
    t_lmusim = time.time() - t0
    with h5py.File(out_h5, "r") as f:
        pred = f["predictions"][:]
        frame_logits = f["frame_logits"][:]
    acc = float((pred == y).mean())
    log(f"lmusim (streaming audio): accuracy {acc:.4f} ({(pred == y).sum()}/{len(y)}) in {t_lmusim:.0f} s")
    report = json.loads(subprocess.run([args.lmusim, "report", out_h5, "--json"], check=True,
                                       capture_output=True, text=True).stdout)

    # 2. PyTorch on the same features, and on torchaudio's
    res = dict(model=os.path.relpath(args.model, ROOT) if args.model.startswith(ROOT) else args.model,
               split=args.split, clips=len(recs), lmusim_accuracy=acc, lmusim_seconds=round(t_lmusim, 1),
               weights=args.weights or "as stored")
    if args.checkpoint:
        import torch
        from lmusim.safe_load import load as safe_load
        from lmusim.training import features as tfeat
        torch.set_num_threads(args.threads)
        ck = safe_load(args.checkpoint, what="checkpoint")
        sd = ck.get("state_dict", ck) if isinstance(ck, dict) else ck
        if any(k.endswith("l2mu_cell.e_x.weight") for k in sd):
            from lmusim.training import l2mu
            p = next(k for k in sd if k.endswith("l2mu_cell.e_x.weight"))[: -len("e_x.weight")]
            M, n_in = sd[p + "e_x.weight"].shape
            H = sd[p + "W_h.weight"].shape[0]
            d = sd[p + "A.weight"].shape[0]
            C = sd[p + "output_transformation.weight"].shape[0]
            net = l2mu.L2MU(n_in=n_in, memory_size=M, order=d, hidden=H, classes=C)
            l2mu.load(net, ck)
        else:
            from lmusim.training.slmu import from_state_dict
            net = from_state_dict(sd)
        net.eval()

        def predict(x):
            outs = []
            with torch.no_grad():
                for i in range(0, len(x), 128):
                    outs.append(net(torch.from_numpy(np.ascontiguousarray(x[i:i + 128]))).argmax(1).numpy())
            return np.concatenate(outs)

        t0 = time.time()
        frontend = lmusim.Model(args.model).frontend  # the model's own (log-mel or PCEN, docs/frontend.md)
        x_ours = np.stack([lmusim.features(w, **frontend) for w in wavs]).astype(np.float32)
        p_ours = predict(x_ours)
        agree = int((p_ours == pred).sum())
        log(f"PyTorch on lmusim's features: accuracy {(p_ours == y).mean():.4f}; agrees with lmusim on "
            f"{agree}/{len(y)} predictions ({time.time() - t0:.0f} s)")
        # PyTorch's float32 results depend on the batch a clip is in (other GEMM blockings round
        # differently, and a membrane at its threshold can flip a spike); lmusim's do not. So a
        # clip where they disagree is run again by PyTorch on its own.
        differ = np.nonzero(p_ours != pred)[0]
        alone = {int(i): int(predict(x_ours[i:i + 1])[0]) for i in differ}
        still = [i for i, p_ in alone.items() if p_ != pred[i]]
        if len(differ):
            log(f"  PyTorch on each of those {len(differ)} clips alone (batch of 1): agrees with lmusim on "
                f"{len(differ) - len(still)}; PyTorch's own prediction changed with the batch on "
                f"{sum(alone[i] != p_ours[i] for i in alone)}")
        x_ta = np.stack(tfeat.wavs_features(wavs, workers=args.threads)).astype(np.float32)
        if frontend["pcen"] is not None:  # as training computes them: from the log-mel features
            x_ta = tfeat.logmel_to_pcen_features(x_ta, **frontend["pcen"], mean=frontend["feature_mean"],
                                                 std2=frontend["feature_std2"])
        p_ta = predict(x_ta)
        log(f"PyTorch on torchaudio's features: accuracy {(p_ta == y).mean():.4f}; "
            f"{int((p_ta != p_ours).sum())} predictions differ from the C++ front-end's; "
            f"max |feature diff| {float(np.abs(x_ta - x_ours).max()):.2e}")
        res.update(torch_accuracy_same_features=float((p_ours == y).mean()), agreement=agree,
                   disagreements=[int(i) for i in differ],
                   torch_alone_predictions={str(i): p_ for i, p_ in alone.items()},
                   agreement_with_disagreements_run_alone=len(y) - len(still),
                   torch_accuracy_torchaudio_features=float((p_ta == y).mean()),
                   frontend_prediction_differences=int((p_ta != p_ours).sum()),
                   frontend_max_abs_diff=float(np.abs(x_ta - x_ours).max()))

    # 3. Accuracy vs frames (honest look-ahead)
    latency = lmusim.load_model(args.model).stream().latency
    n_frames = frame_logits.shape[1]
    per_frame_pred = frame_logits.argmax(axis=2)            # [clips, frames]: decision for frame n
    acc_n = (per_frame_pred == y[:, None]).mean(axis=0)    # by prediction index n
    after_k = np.zeros(n_frames)                            # after k = 1..128 input frames
    for k in range(1, n_frames + 1):
        n = k - 1 - latency
        after_k[k - 1] = acc_n[n] if n >= 0 else 0.0
    final = float(acc_n[-1])
    cs = curve_stats(after_k, final, latency)
    log(f"accuracy vs frames: final {final:.4f}; within 1 point from {cs['frames_needed']} input frames "
        f"(reduction {100 * cs['reduction']:.2f} %; paper convention: index {cs['paper_index']}, "
        f"{100 * cs['paper_reduction']:.2f} %, paper 32.03 %)")
    res.update(latency=latency, final_accuracy=final, accuracy_by_index=[round(float(a), 5) for a in acc_n],
               accuracy_after_input_frames=[round(float(a), 5) for a in after_k], **cs)

    # per speaker, firing rates, ops
    by_spk = defaultdict(list)
    for r, p_, t in zip(recs, pred, y):
        by_spk[r["variant"]].append(p_ == t)
    res["per_speaker_accuracy"] = {k: round(float(np.mean(v)), 4) for k, v in sorted(by_spk.items())}
    res["per_class_accuracy"] = {man["words"][c]: round(float((pred[y == c] == c).mean()), 4)
                                 for c in range(len(man["words"])) if (y == c).any()}
    cond = condition_table(recs, pred == y)
    if cond:
        res["per_condition_accuracy"] = {g: {k: dict(correct=v[0], clips=v[1], accuracy=round(v[0] / v[1], 4))
                                             for k, v in d.items()} for g, d in cond.items()}
        for g, d in cond.items():
            log(f"per condition: {g}")
            print("| condition | accuracy | clips |\n|---|---|---|")
            for k, (ok, n) in d.items():
                print(f"| {k} | {100 * ok / n:.2f} % | {n} |")
    res["report"] = report
    with open(os.path.join(args.out, f"eval_{args.split}.json"), "w") as f:
        json.dump(res, f, indent=1)
    log(f"wrote {os.path.join(args.out, f'eval_{args.split}.json')}")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    k = np.arange(1, n_frames + 1)
    ax.plot(k, 100 * after_k, label="lmusim, true streaming (after k input frames, look-ahead counted)")
    ax.plot(np.arange(1, n_frames + 1), 100 * acc_n, "--", alpha=0.7,
            label="by prediction index n (paper's convention)")
    ax.axhline(100 * (final - 0.01), color="grey", lw=0.8, ls=":")
    ax.axvline(cs["frames_needed"], color="C0", lw=0.8, ls=":")
    ax.axvline(98, color="k", lw=0.6, alpha=0.4)
    ax.text(98.5, 5, "end of audio (98 frames)", fontsize=7, alpha=0.6)
    ax.set_xlabel("frames (10 ms)")
    ax.set_ylabel(f"{args.split} accuracy [%]")
    ax.set_title(f"Accuracy vs frames: within 1 point of {100 * final:.2f} % after {cs['frames_needed']} "
                 f"frames ({100 * cs['reduction']:.1f} % fewer)", fontsize=9)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    png = args.plot or os.path.join(args.out, "accuracy_vs_frames.png")
    fig.savefig(png, dpi=120)
    log(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
