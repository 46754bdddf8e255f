"""Every shipped preset runs in one `advconf test` on a tiny spheres checkpoint, as a user runs it."""

from tests.helpers import REPO, read_json, run_cli, tiny_spheres_config, wandb_tables

PRESETS = sorted(p.stem for p in (REPO / "configs" / "attacks").glob("*.yaml"))


def test_every_preset_runs_in_one_test_on_a_spheres_checkpoint(tmp_path):
    config = tiny_spheres_config(tmp_path)
    run_cli(["fit", "--config", config, "--trainer.max_epochs", "1"])
    run_dir = tmp_path / "checkpoints" / "tiny"
    args = ["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt"]
    for name in PRESETS:
        args += ["--attack", name]
    # Each override goes to every preset that has the option: one grid for the gradient attacks, and
    # PGD with the 20 steps of eot-pgd's PGD, both attacking every example, so the two can be compared.
    run_cli(args + ["--attack.eps", "[0.0, 1/10, 0.2]", "--attack.steps", "20",
                    "--attack.masking_examples", "50", "--attack.skip_decided", "false"])
    results = {name: read_json(run_dir / "results" / f"{name}.json") for name in PRESETS}
    for name in ("fgsm", "pgd", "pgd-l2", "eot-pgd"):
        assert results[name]["num_examples"] == 200 and results[name]["masking_examples"] == 50, name
        # spheres have no valid-input box: the large-budget check does not apply and is not reported
        assert set(results[name]["masking"]) == {"accuracy_not_monotone", "one_step_stronger", "noise_stronger",
                                                 "zero_gradients"}, name
        assert not any(flag["fired"] for flag in results[name]["masking"].values()), (name, results[name]["masking"])
        assert {"ece", "detection_auroc"} <= set(results[name]["results"][0]), name
    assert results["eot-pgd"]["attack"]["params"]["gradient_samples"] == 10
    assert results["pgd"]["eps"] == [0.0, 0.1, 0.2]
    # the spheres MLP is deterministic in eval mode: averaging equal gradients changes nothing
    assert results["eot-pgd"]["results"] == results["pgd"]["results"]
    assert set(results["offset"]["results"]) == {"added", "subtracted"}
    assert results["offset"]["box"] is None  # spheres coordinates are not clipped
    # spheres have no image shape: scores for both classes, no grid
    assert [row["target"] for row in results["non-examples"]["non_examples"]] == [0, 1]
    assert results["non-examples"]["attack"]["params"]["steps"] == 20
    assert not (run_dir / "results" / "non-examples.png").exists()
    assert wandb_tables(run_dir, "offset") and wandb_tables(run_dir, "pgd/masking")
