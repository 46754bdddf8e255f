"""The throttled progress bar: at most one redraw per interval (batches and the training bar's own redraws),
always the last batch and the closing state, installed by the CLI."""

from lightning.pytorch.callbacks import TQDMProgressBar

from advconf.callbacks.progress_bar import ThrottledProgressBar
from advconf.cli import progress_bar


def test_redraws_at_most_once_per_interval_and_always_on_the_last_batch(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("advconf.callbacks.progress_bar.time.monotonic", lambda: clock[0])
    bar = ThrottledProgressBar(min_interval=0.5)
    drawn = []
    for batch in range(1, 11):  # 0.125 s per batch: one redraw in every four batches
        drawn.append(bar._should_update(batch, 10))
        clock[0] += 0.125
    assert [b for b, d in zip(range(1, 11), drawn) if d] == [1, 5, 9, 10]


def test_keeps_the_refresh_rate_of_lightnings_bar(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("advconf.callbacks.progress_bar.time.monotonic", lambda: clock[0])
    bar = ThrottledProgressBar(refresh_rate=4, min_interval=0.0)
    assert [b for b in range(1, 10) if bar._should_update(b, 9)] == [4, 8, 9]


def test_the_cli_installs_it_unless_the_bar_is_off_or_chosen():
    assert isinstance(progress_bar({}, set())[0], ThrottledProgressBar)
    assert isinstance(progress_bar({"enable_progress_bar": True}, {"advconf.callbacks.FiniteCheck"})[0], TQDMProgressBar)
    assert progress_bar({"enable_progress_bar": False}, set()) == []
    assert progress_bar({}, {"lightning.pytorch.callbacks.RichProgressBar"}) == []


def test_a_fit_through_the_cli_draws_with_the_throttled_bar(tmp_path, capsys, monkeypatch):
    from tests.helpers import run_cli, tiny_spheres_config

    asked = []
    should_update = ThrottledProgressBar._should_update
    monkeypatch.setattr(ThrottledProgressBar, "_should_update", lambda self, *a: asked.append(a) or should_update(self, *a))
    config = tiny_spheres_config(tmp_path)
    run_cli(["fit", "--config", config, "--trainer.max_epochs", "1", "--trainer.logger", "false",
             "--trainer.enable_progress_bar", "true"])
    captured = capsys.readouterr()
    assert "Epoch 0: 100%" in captured.out + captured.err
    assert (20, 20) in asked  # 1,000 training examples in batches of 50


def test_the_training_bar_redraws_at_most_once_per_interval_and_draws_its_final_state_on_close(monkeypatch):
    import io

    clock = [100.0]
    monkeypatch.setattr("advconf.callbacks.progress_bar.time.monotonic", lambda: clock[0])
    out = io.StringIO()
    bar = ThrottledProgressBar(min_interval=0.5)
    monkeypatch.setattr("sys.stdout", out)
    tqdm = bar.init_train_tqdm()
    drawn = []
    tqdm.reset(total=3)
    for step in range(1, 4):  # at 100.0, 100.3, 100.6 s, each with the redraws Lightning asks for per epoch
        before = out.getvalue()
        tqdm.n = step
        tqdm.refresh()
        tqdm.set_description(f"Epoch {step}")
        tqdm.set_postfix({"loss": step})
        drawn.append(out.getvalue() != before)
        clock[0] += 0.3
    assert drawn == [False, False, True]  # the reset drew at 100.0; the next draw is due at 100.5
    assert "Epoch 3" not in out.getvalue()  # named within the interval of the last draw
    tqdm.close()  # drawn all the same
    assert "Epoch 3" in out.getvalue()
