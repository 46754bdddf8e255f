import lightning.pytorch as pl
import pytest
import torch

from advconf.callbacks.expert_init import ExpertInitialisation
from advconf.data import MNISTDataModule
from advconf.errors import AdvconfError
from advconf.models import LogisticRegression
from advconf.module import Classifier
from tests.data.formats import write_mnist


def fit_one_frozen_step(model, data_dir, callbacks):
    module = Classifier(model, optimizer=lambda params: torch.optim.SGD(params, lr=0.0))
    dm = MNISTDataModule("mnist", str(data_dir), classes=[3, 7], val_size=0, batch_size=8)
    trainer = pl.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=callbacks)
    trainer.fit(module, datamodule=dm)
    return dm


def test_callback_sets_weights_to_mean_seven_minus_mean_three_of_the_training_split(tmp_path):
    write_mnist(tmp_path, n_train=100, n_test=20)
    model = LogisticRegression(expert_init=True)
    dm = fit_one_frozen_step(model, tmp_path, [ExpertInitialisation()])
    x, y = dm.train_set.images.float() / 255, dm.train_set.labels  # label 1 is class 7
    expected = x[y == 1].mean(0).flatten() - x[y == 0].mean(0).flatten()
    torch.testing.assert_close(model.linear.weight[0], expected)


def test_callback_leaves_randomly_initialised_models_alone(tmp_path):
    write_mnist(tmp_path, n_train=100, n_test=20)
    model = LogisticRegression(expert_init=False)
    before = model.linear.weight.clone()
    fit_one_frozen_step(model, tmp_path, [ExpertInitialisation()])
    torch.testing.assert_close(model.linear.weight, before)


def test_forgetting_the_callback_stops_training_with_a_hint(tmp_path):
    write_mnist(tmp_path, n_train=100, n_test=20)
    with pytest.raises(AdvconfError, match="ExpertInitialisation"):
        fit_one_frozen_step(LogisticRegression(expert_init=True), tmp_path, [])


def test_test_run_without_checkpoint_evaluates_the_expert_initialised_model(tmp_path):
    """The paper's "32-bit, no training" row: `advconf test` straight from the config."""
    write_mnist(tmp_path, n_train=100, n_test=20)
    model = LogisticRegression(expert_init=True)
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[ExpertInitialisation()])
    trainer.test(Classifier(model), datamodule=MNISTDataModule("mnist", str(tmp_path), classes=[3, 7]), verbose=False)
    assert bool(model.initialised)


def test_works_after_quantization_swapped_the_layer(tmp_path):
    """Callback order does not matter: Quantization traces the model before the data is read."""
    from advconf.callbacks.quantization import Quantization

    write_mnist(tmp_path, n_train=100, n_test=20)
    model = LogisticRegression(expert_init=True)
    fit_one_frozen_step(model, tmp_path, [Quantization(weight_bits=1, keep_first_last=False), ExpertInitialisation()])
    assert bool(model.initialised) and model.linear.weight.abs().sum() > 0


def test_a_quantised_expert_model_with_midpoint_bias_puts_its_boundary_half_way_between_the_class_means(tmp_path):
    from advconf.callbacks.quantization import Quantization

    write_mnist(tmp_path, n_train=100, n_test=20)
    model = LogisticRegression(expert_init=True, bias="midpoint")
    # Quantization listed after the initialisation: the bias must still come from the 1-bit weights.
    dm = fit_one_frozen_step(model, tmp_path, [ExpertInitialisation(), Quantization(weight_bits=1, keep_first_last=False)])
    x, y = dm.train_set.images.float() / 255, dm.train_set.labels
    midpoint = (x[y == 0].mean(0) + x[y == 1].mean(0)) / 2
    model.eval()
    with torch.no_grad():
        assert model(midpoint.unsqueeze(0)).item() == pytest.approx(0.0, abs=1e-4)
        w_q = model.linear.weight.sign() * model.linear.weight.abs().mean()  # the 1-bit weights
        logits = model(x)
    # the quantised boundary separates the classes far better than the full-precision bias would
    assert ((logits[:, 0] > 0).long() == y).float().mean() > 0.7
    assert not torch.allclose(w_q, model.linear.weight)
