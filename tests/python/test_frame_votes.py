"""scripts/frame_votes.py: the decision of the mean over frames split by the word's position,
on hand-made per-frame outputs whose answers are worked out by hand."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
from lmusim.training import kws  # noqa: E402

spec = importlib.util.spec_from_file_location(
    "frame_votes", Path(__file__).resolve().parents[2] / "scripts" / "frame_votes.py")
fv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fv)

B, D, A = kws.FRAME_BEFORE, kws.FRAME_FREE, kws.FRAME_AFTER


def test_frame_vote_table_by_hand():
    # clip 0 (label 0, babble): a strong wrong vote before the word, a right one during, wrong after
    # clip 1 (label 1, white): right everywhere but before; clip 2 (label 1, babble): wrong during
    z = np.array([[[0, 9], [5, 0], [0, 1]],
                  [[3, 0], [0, 2], [0, 4]],
                  [[0, 1], [1, 0], [0, 3]]], dtype=np.float32)
    y = np.array([0, 1, 1])
    codes = np.array([[B, D, A], [B, D, A], [D, D, A]])
    t = fv.frame_vote_table(z, y, codes, np.array(["babble", "white", "babble"]))
    assert list(t) == ["babble", "white", "all"]
    bab, white, both = t["babble"], t["white"], t["all"]
    # clip 0: mean (5/3, 10/3) -> 1 wrong; without before (5/2, 1/2) -> 0 right; during 0 right; after 1 wrong
    # clip 2: mean (1/3, 4/3) -> 1 right; without before: the same frames; during (1/2, 1/2) -> 0 wrong (first
    # maximum); after right
    assert (bab["clips"], bab["all"], bab["without_before"], bab["only_during"], bab["only_after"]) == \
        (2, 0.5, 1.0, 0.5, 0.5)
    # clip 1: mean (1, 2) -> right; every subset right
    assert (white["all"], white["without_before"], white["only_during"], white["only_after"]) == (1, 1, 1, 1)
    assert both["all"] == pytest.approx(2 / 3) and both["without_before"] == 1.0
    # single frames: before 0/2 right; during: clip 0 frame 1 right, clip 1 frame 1 right, clip 2 frames 0 right,
    # frame 1 wrong -> 3/4; after: clip 0 wrong, clips 1 and 2 right -> 2/3
    assert (both["frame_acc_before"], both["frame_acc_during"]) == (0.0, 0.75)
    assert both["frame_acc_after"] == pytest.approx(2 / 3)
    assert np.isnan(fv.frame_vote_table(z[2:], y[2:], codes[2:], np.array(["x"]))["x"]["frame_acc_before"])
