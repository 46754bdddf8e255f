"""Regenerate every real-data result in docs/results/ (CPU, short schedules; see docs/reproducing.md).

    python docs/results/run_all.py [table1|spheres|madry|cnn|report]...   (default: all, in order)

Runs write under checkpoints/ (git-ignored) and are skipped when their checkpoint exists; ``report``
renders docs/results/<item>/report.md (+ CSV, PNG) from their results files. All runs happen in this
one process (``advconf.cli.main``) to pay Python/Lightning start-up once; each call is printed as
the equivalent shell command. LOGREG_STEPS (default 800) is the Table 1 schedule (paper: 50k steps).
"""

import os
import shlex
import sys
from pathlib import Path

from advconf.cli import main

REPO = Path(__file__).resolve().parents[2]
LOGREG_STEPS = int(os.environ.get("LOGREG_STEPS", "800"))
# No W&B run per evaluation: the results files are the record here, and wandb start-up is slow.
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.logger=false"]
MADRY = ["fashion_madry_natural", "fashion_madry_pgd"]
CNNS = ["fashion_vanilla_cnn_fp", "fashion_vanilla_cnn_1bit"]
# Offsets over a test subset: 10 batches of 128 (1280 images).
FIG_ATTACKS = ["--attack", "offset", "--attack", "fooling", "--trainer.limit_test_batches=10"]
# Madry models: 6 batches of 50 (300 images), PGD-20 too, its gradient-masking checks on 100 of them.
MADRY_ATTACKS = ["--attack", "offset", "--attack", "fooling", "--attack", "pgd", "--trainer.limit_test_batches=6",
                 "--attack.masking_examples=100"]
FAILED: list[str] = []


def advconf(*args: str) -> None:
    """One command; a failure is recorded and the rest still run (the report shows what is missing)."""
    command = shlex.join(args)
    print("+ advconf", command, flush=True)
    try:
        main(args=list(args))
    except SystemExit as exit_info:
        if exit_info.code not in (0, None):
            FAILED.append(command)


def fit_and_test(config_args: list[str], run_dir: str, test_args: list[str]) -> None:
    """Fit unless ``run_dir`` has a last checkpoint, then test it, built from the same config and overrides."""
    if not (REPO / run_dir / "ckpt" / "last.ckpt").is_file():
        advconf("fit", *config_args, *QUIET)
    advconf("test", *config_args, "--ckpt_path", f"{run_dir}/ckpt/last.ckpt", *test_args, *QUIET)


def table1() -> None:
    """Table 1 rows (configs/table1_sweep.txt) on Fashion-MNIST 5 vs 7, in checkpoints/fashion_table1/ROW."""
    for line in (REPO / "configs" / "table1_sweep.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        row, *args = line.replace("table1/", "fashion_table1/").replace("=table1_", "=fashion_table1_").split()
        fit_args = ["--config", "configs/fashion_logreg.yaml", *args, f"--trainer.max_steps={LOGREG_STEPS}"]
        fit_and_test(fit_args, f"checkpoints/fashion_table1/{row}", ["--attack", "fgsm"])
    # "32 bits, no training": the expert-initialised model as it is
    advconf("test", "--config", "configs/fashion_logreg.yaml", "--attack", "fgsm", *QUIET,
            "--trainer.default_root_dir=checkpoints/fashion_table1/notrain")


def spheres() -> None:
    """Fig 5: full precision vs 1-bit weights / 2-bit activations (configs of docs/figure5.md).

    Fits only where checkpoints/NAME has no checkpoint yet; evaluates into checkpoints/fig5/NAME so
    that the fit's own run directory is left as it is.
    """
    for name in ["spheres_fp", "spheres_w1a2"]:
        config, ckpt = f"configs/{name}.yaml", f"checkpoints/{name}/ckpt/last.ckpt"
        if not (REPO / ckpt).is_file():
            advconf("fit", "--config", config, *QUIET)
        # PGD-50 at 7 budgets: over 500 of the 2000 test points, masking checks on 100
        advconf("test", "--config", config, "--ckpt_path", ckpt, f"--trainer.default_root_dir=checkpoints/fig5/{name}",
                "--attack", "fgsm", "--attack", "pgd", "--trainer.limit_test_batches=10", "--attack.masking_examples=100", *QUIET)


def madry() -> None:
    """Fig 1 (offset) and Fig 2 (non-examples): natural vs PGD-trained Madry CNN."""
    for name in MADRY:
        fit_and_test(["--config", f"configs/{name}.yaml"], f"checkpoints/{name}", MADRY_ATTACKS)


def cnn() -> None:
    """Fig 6 analogue: the Table-2 CNN with strong L2 vs 1-bit hidden layers."""
    for name in CNNS:
        fit_and_test(["--config", f"configs/{name}.yaml"], f"checkpoints/{name}", FIG_ATTACKS)


def report() -> None:
    """One report per paper item, each in its own folder of docs/results/."""
    advconf("report", "checkpoints/fashion_table1", "--out", "docs/results/table1", "--sections", "table1", "curves", "pictures")
    # Fig 5 pictures from the fits themselves, with docs/figure5.md's extra seeds and variants where run;
    # the attack curves from the evaluations in checkpoints/fig5.
    fits = [d for d in ("checkpoints/spheres_fp", "checkpoints/spheres_w1a2", "checkpoints/fig5_variants") if (REPO / d).is_dir()]
    advconf("report", *fits, "--out", "docs/results/fig5", "--sections", "boundary", "pictures")
    advconf("report", "checkpoints/fig5", "--out", "docs/results/fig5/attacks", "--sections", "table1", "curves")
    started = [f"checkpoints/{name}" for name in MADRY + CNNS if (REPO / "checkpoints" / name).is_dir()]
    advconf("report", *started, "--out", "docs/results/fig1_fig2",
            "--attack", "pgd", "--sections", "table1", "curves", "nonexamples", "pictures")


STEPS = {"table1": table1, "spheres": spheres, "madry": madry, "cnn": cnn, "report": report}

if __name__ == "__main__":
    os.chdir(REPO)
    for step in sys.argv[1:] or list(STEPS):
        STEPS[step]()
    for command in FAILED:
        print("FAILED: advconf", command, file=sys.stderr)
    sys.exit(1 if FAILED else 0)
