#!/usr/bin/python3
"""The old name of ``scripts/eval_kws.py`` (kept: scripts and docs call it); same options."""
import os
import runpy
import sys

if __name__ == "__main__":
    sys.argv[0] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "eval_kws.py")
    runpy.run_path(sys.argv[0], run_name="__main__")
