"""``fit_spheres`` on 2 processes (DDP, gloo, CPU), as a command, since Lightning starts rank 1 by running it again:

    python -m tests.reliability.ddp_fit ROOT [--resume] [--signal MOMENT STEP RANK SIGNAL]

Each rank writes its outcome (the exit status of a fit stopped by a signal, or None) to ``ROOT/exit.RANK``.
"""

import argparse
import os
from pathlib import Path

import torch

from tests.reliability.faults import SignalAt
from tests.reliability.runs import fit_spheres

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--signal", nargs=4, metavar=("MOMENT", "STEP", "RANK", "SIGNAL"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    faults = []
    if args.signal:
        moment, step, rank, name = args.signal
        faults.append(SignalAt(int(step), name, moment, int(rank)))
    outcome = fit_spheres(args.root, *faults, ckpt_path="last" if args.resume else None, devices=2)
    (args.root / f"exit.{os.environ.get('LOCAL_RANK', '0')}").write_text(str(outcome))
