"""Regenerate every real-data result in docs/results/ (CPU; see docs/reproducing.md).

    python docs/results/run_all.py [table1|table1_mnist|table1_mnist_autoattack|table1_mnist_report|spheres|madry|cnn|report]...
    (default: all, in order)

Runs write under checkpoints/ (git-ignored) and are skipped when their checkpoint exists; ``report``
renders docs/results/<item>/report.md (+ CSV, PNG) from their results files. All runs happen in this
one process (``advconf.cli.main``) to pay Python/Lightning start-up once; each call is printed as
the equivalent shell command, then its wall time and the machine's load average.
LOGREG_STEPS (default 800) is the schedule of Table 1 on Fashion-MNIST (paper: 50k steps).
``table1_mnist`` is Table 1 as the paper ran it, 50k steps per row, on the real digits of the MNIST
sample (``advconf data mnist-sample``); TABLE1_MNIST_STEPS shortens it for a smoke check.
"""

import csv
import json
import os
import shlex
import sys
import time
from pathlib import Path

from advconf.cli import main
from advconf.sweeps import sweep_rows as read_sweep_rows

REPO = Path(__file__).resolve().parents[2]
LOGREG_STEPS = int(os.environ.get("LOGREG_STEPS", "800"))
TABLE1_CONFIG = "configs/table1_logreg.yaml"
MNIST_SAMPLE = "data/mnist_sample"
MNIST_RUNS = "checkpoints/table1_mnist_sample"
MNIST_REPORT = "docs/results/table1_mnist_sample"
TABLE1_MNIST_STEPS = os.environ.get("TABLE1_MNIST_STEPS")  # unset: the config's 50,000 steps
# Paper Table 1 (FGSM at eps 0.1), in its order; "notrain" is its "N/A 32 NO TRAINING" row.
PAPER_TABLE1 = {
    "4a": (95.8, 66.7), "4b": (96.7, 34.0), "4c": (96.2, 55.9), "4d": (94.7, 52.2), "4e": (95.8, 73.8),
    "4f": (97.0, 18.8), "4g": (95.3, 77.3), "4h": (95.8, 82.8), "4i": (95.8, 84.1), "4j": (95.8, 84.5),
    "8bit": (95.8, 84.8), "notrain": (94.8, 80.1), "4k": (95.0, 81.1), "4l": (96.7, 82.3),
}
# The no-training row again with advconf's former midpoint bias (not in the paper): what the authors' protocol changed.
MIDPOINT = ("notrain_midpoint", ["--model.model.init_args.bias=midpoint"])
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


def advconf(*args: str) -> float:
    """One command, its wall seconds returned; a failure is recorded and the rest still run (the report
    shows what is missing)."""
    command = shlex.join(args)
    print("+ advconf", command, flush=True)
    start = time.monotonic()
    try:
        main(args=list(args))
    except SystemExit as exit_info:
        if exit_info.code not in (0, None):
            FAILED.append(command)
    seconds = time.monotonic() - start
    print(f"+ advconf {args[0]}: {seconds:.0f} s (load average {os.getloadavg()[0]:.1f})", flush=True)
    return seconds


def sweep_rows() -> list[tuple[str, list[str]]]:
    """(ROW, overrides) of configs/table1_sweep.txt, in its order."""
    return [(row, args) for _, row, args in read_sweep_rows(REPO / "configs" / "table1_sweep.txt")]


def fit_and_test(config_args: list[str], run_dir: str, test_args: list[str]) -> None:
    """Fit unless ``run_dir`` has a last checkpoint, then test it, built from the same config and overrides."""
    if not (REPO / run_dir / "ckpt" / "last.ckpt").is_file():
        advconf("fit", *config_args, *QUIET)
    advconf("test", *config_args, "--ckpt_path", f"{run_dir}/ckpt/last.ckpt", *test_args, *QUIET)


def table1() -> None:
    """Table 1 rows (configs/table1_sweep.txt) on Fashion-MNIST 5 vs 7, in checkpoints/fashion_table1/ROW."""
    for row, args in sweep_rows():
        args = [a.replace("table1/", "fashion_table1/").replace("=table1_", "=fashion_table1_") for a in args]
        fit_args = ["--config", "configs/fashion_logreg.yaml", *args, f"--trainer.max_steps={LOGREG_STEPS}"]
        fit_and_test(fit_args, f"checkpoints/fashion_table1/{row}", ["--attack", "fgsm"])
    # "32 bits, no training": the expert-initialised model as it is
    advconf("test", "--config", "configs/fashion_logreg.yaml", "--attack", "fgsm", *QUIET,
            "--trainer.default_root_dir=checkpoints/fashion_table1/notrain")


def mnist_rows() -> list[tuple[str, list[str], bool]]:
    """(ROW, the test command's arguments but the attack, trained?) of Table 1 on the MNIST sample, in
    checkpoints/table1_mnist_sample/ROW: the sweep's rows, then the no-training row both ways."""
    data = ["--config", TABLE1_CONFIG, f"--data.init_args.data_dir={MNIST_SAMPLE}"]
    # QUIET last: the rows' own logger overrides would otherwise rebuild the logger it turns off
    rows = [(row, [*data, *(a.replace("checkpoints/table1/", f"{MNIST_RUNS}/") for a in args), *QUIET], True)
            for row, args in sweep_rows()]
    for row, args in [("notrain", []), MIDPOINT]:
        rows.append((row, [*data, *args, f"--trainer.default_root_dir={MNIST_RUNS}/{row}", *QUIET], False))
    return rows


def mnist_test(row: str, args: list[str], trained: bool, attack: list[str]) -> float:
    checkpoint = ["--ckpt_path", f"{MNIST_RUNS}/{row}/ckpt/last.ckpt"] if trained else []
    return advconf("test", *args, *checkpoint, *attack)


def write_times(path: Path, times: list[tuple[str, str, float]]) -> None:
    """Wall seconds of each call (row, stage), and the total of each stage, as CSV."""
    totals = {stage: sum(s for _, st, s in times if st == stage) for _, stage, _ in times}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "stage", "seconds"])
        writer.writerows([(row, stage, f"{seconds:.1f}") for row, stage, seconds in times])
        writer.writerows([("all", stage, f"{seconds:.1f}") for stage, seconds in totals.items()])
    print(f"{path}: " + ", ".join(f"{stage} {seconds / 60:.1f} min" for stage, seconds in totals.items()), flush=True)


def table1_mnist() -> None:
    """Table 1 as the paper ran it (every row, 50k steps, FGSM at eps 0.1) on the real 3s and 7s of the
    MNIST sample (800 training, 200 test digits); the fits' and tests' wall times into MNIST_REPORT/run_times.csv."""
    if not (REPO / MNIST_SAMPLE / "mnist_sample.json").is_file():
        advconf("data", "mnist-sample", "--out", MNIST_SAMPLE)
    steps = [f"--trainer.max_steps={TABLE1_MNIST_STEPS}"] if TABLE1_MNIST_STEPS else []
    times, load_before = [], os.getloadavg()
    for row, args, trained in mnist_rows():
        if trained and not (REPO / MNIST_RUNS / row / "ckpt" / "last.ckpt").is_file():
            times.append((row, "fit", advconf("fit", *args, *steps)))
        times.append((row, "test fgsm", mnist_test(row, args, trained, ["--attack", "fgsm"])))
    print(f"load average (1, 5, 15 min) before {load_before}, after {os.getloadavg()}", flush=True)
    write_times(REPO / MNIST_REPORT / "run_times.csv", times)


def table1_mnist_autoattack() -> None:
    """The standard AutoAttack cascade at eps 0.1 on every Table 1 model of ``table1_mnist`` (binary
    logistic regression: APGD-T skips itself); wall times into MNIST_REPORT/autoattack_times.csv."""
    times = [(row, "test autoattack", mnist_test(row, args, trained, ["--attack", "autoattack", "--attack.eps", "[0.0, 0.1]"]))
             for row, args, trained in mnist_rows()]
    write_times(REPO / MNIST_REPORT / "autoattack_times.csv", times)


def table1_mnist_report() -> None:
    """The report of ``table1_mnist`` (FGSM; AutoAttack in autoattack/; the confidence section over the
    paper's rows in confidence/) with Fig 4's weight images, and vs_paper.md / .csv: each row next to
    the paper's Table 1."""
    order = [row for row in [*PAPER_TABLE1, MIDPOINT[0]] if (REPO / MNIST_RUNS / row).is_dir()]
    runs = [f"{MNIST_RUNS}/{row}" for row in order]
    advconf("report", *runs, "--out", MNIST_REPORT, "--sections", "table1", "curves", "pictures")
    advconf("report", *runs, "--out", f"{MNIST_REPORT}/autoattack", "--attack", "autoattack", "--sections", "table1")
    # the title claim across the paper's rows: FGSM accuracy against the models' clean confidence
    paper_rows = [f"{MNIST_RUNS}/{row}" for row in order if row in PAPER_TABLE1]
    advconf("report", *paper_rows, "--out", f"{MNIST_REPORT}/confidence", "--sections", "confidence", "--robust-attack", "fgsm")
    measured = {}
    for attack, table in [("fgsm", "table1.csv"), ("autoattack", "autoattack/table1.csv")]:
        with (REPO / MNIST_REPORT / table).open() as f:
            for line in csv.DictReader(f):
                measured.setdefault(line["model"], dict(line))[attack] = line[f"{attack}_accuracy"]
    header = ["row", "bits", "note", "steps", "test (%)", "FGSM 0.1 (%)", "AutoAttack 0.1 (%)", "paper test (%)", "paper FGSM 0.1 (%)"]
    lines = []
    for row in order:
        got = measured.get(row, {})
        fgsm = REPO / MNIST_RUNS / row / "results" / "fgsm.json"
        steps = json.loads(fgsm.read_text()).get("checkpoint_step") if fgsm.is_file() else None
        paper = PAPER_TABLE1.get(row, (None, None))
        lines.append([row, got.get("bits", ""), got.get("note", ""), "0" if steps is None else str(steps),
                      *(percent(got.get(key)) for key in ("clean_accuracy", "fgsm", "autoattack")), *(percent(p, 1) for p in paper)])
    with (REPO / MNIST_REPORT / "vs_paper.csv").open("w", newline="") as out:
        csv.writer(out).writerows([header, *lines])
    markdown = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(line) + " |" for line in lines]
    (REPO / MNIST_REPORT / "vs_paper.md").write_text(
        "# Table 1 on the MNIST sample next to the paper's Table 1\n\n"
        "Measured ([report](report.md), [AutoAttack](autoattack/report.md)): the 200 test digits (3 vs 7) of the MNIST "
        "sample, after the training steps shown (docs/reproducing.md, Table 1). Paper: Table 1 of Galloway et al. "
        "(2018), 50k steps, the full MNIST test set. — : not in the paper.\n\n" + "\n".join(markdown) + "\n"
    )


def percent(value: str | float | None, scale: float = 100.0) -> str:
    """A fraction (or, with ``scale`` 1, a percentage) as a percentage with one decimal; "—" if absent."""
    return "—" if value in (None, "") else f"{float(value) * scale:.1f}"


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


STEPS = {
    "table1": table1, "table1_mnist": table1_mnist, "table1_mnist_autoattack": table1_mnist_autoattack,
    "table1_mnist_report": table1_mnist_report, "spheres": spheres, "madry": madry, "cnn": cnn, "report": report,
}

if __name__ == "__main__":
    os.chdir(REPO)
    for step in sys.argv[1:] or list(STEPS):
        STEPS[step]()
    for command in FAILED:
        print("FAILED: advconf", command, file=sys.stderr)
    sys.exit(1 if FAILED else 0)
