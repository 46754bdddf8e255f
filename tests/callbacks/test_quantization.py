"""The Quantization callback on the real Classifier: settings, checkpoints, pruning, bad bit widths."""

import pytest
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, TensorDataset

from advconf.callbacks.quantization import Quantization
from advconf.errors import AdvconfError
from advconf.models import MLP
from advconf.module import Classifier
from advconf.quant import ClippedActivation, QuantizedActivation, QuantizedLayer

W1A2G6 = dict(weight_bits=1, activation_bits=2, gradient_bits=6)


def loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=g)
    return DataLoader(TensorDataset(x, (x.norm(dim=1) > 1).long()), batch_size=16)


def classifier() -> Classifier:
    torch.manual_seed(0)
    return Classifier(MLP(in_features=2, num_outputs=2, depth=2, width=8), num_classes=2)


def trainer(tmp_path, *callbacks, **kwargs) -> Trainer:
    return Trainer(
        default_root_dir=tmp_path, callbacks=list(callbacks), max_epochs=kwargs.pop("max_epochs", 1),
        logger=False, enable_progress_bar=False, enable_model_summary=False, inference_mode=False, **kwargs,
    )


def outputs(module: Classifier) -> torch.Tensor:
    module.eval()
    with torch.no_grad():
        return module(torch.randn(32, 2, generator=torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("bad", [0, -1, 9, 31, 1.5])
@pytest.mark.parametrize("arg", ["weight_bits", "activation_bits", "gradient_bits"])
def test_bad_bit_width_is_a_config_error_before_training(arg, bad):
    with pytest.raises(AdvconfError, match=f"Quantization {arg}: bit width must be an integer in 1..8 or 32"):
        Quantization(**{arg: bad})


def test_fit_quantises_middle_layer_and_records_settings(tmp_path):
    module = classifier()
    before = module.model.layers[3].weight.detach().clone()
    trainer(tmp_path, Quantization(**W1A2G6)).fit(module, loader())
    layers = module.model.layers
    assert isinstance(layers[3], QuantizedLayer) and not isinstance(layers[0], QuantizedLayer)
    # DoReFa placement: the ReLU into the quantised layer is quantised, the one into the readout clipped.
    assert isinstance(layers[2], QuantizedActivation) and type(layers[5]) is ClippedActivation
    assert not torch.equal(layers[3].weight, before)  # the optimizer sees the swapped layer's parameters
    assert module.settings["quantization"] == {
        **W1A2G6,
        "gradient_bits_during_attacks": 32,
        "keep_first_last": True,
        "layers": ["layers.3"],
        "activations": ["layers.2"],
        "clipped_activations": ["layers.5"],
        "pruned_weights_stay_zero": False,
    }


def fitted_checkpoint(tmp_path, *callbacks) -> tuple[Classifier, str]:
    module = classifier()
    fit = trainer(tmp_path, *callbacks, max_epochs=2)
    fit.fit(module, loader())
    path = str(tmp_path / "model.ckpt")
    fit.save_checkpoint(path)
    return module, path


def test_checkpoint_round_trip_rebuilds_the_same_quantised_model(tmp_path):
    module, path = fitted_checkpoint(tmp_path, Quantization(**W1A2G6))
    fresh = classifier()
    trainer(tmp_path, Quantization(**W1A2G6)).test(fresh, loader(), ckpt_path=path, verbose=False)
    assert isinstance(fresh.model.layers[3], QuantizedLayer)
    assert torch.equal(outputs(fresh), outputs(module))


def test_checkpoint_with_other_bits_is_refused_naming_the_difference(tmp_path):
    _, path = fitted_checkpoint(tmp_path, Quantization(**W1A2G6))
    with pytest.raises(AdvconfError, match="quantization: checkpoint has .*'weight_bits': 1.*config has .*'weight_bits': 2"):
        trainer(tmp_path, Quantization(weight_bits=2, activation_bits=2, gradient_bits=6)).test(
            classifier(), loader(), ckpt_path=path, verbose=False
        )


def test_unquantised_config_refuses_a_quantised_checkpoint(tmp_path):
    _, path = fitted_checkpoint(tmp_path, Quantization(**W1A2G6))
    with pytest.raises(AdvconfError, match="quantization: checkpoint has"):
        trainer(tmp_path).test(classifier(), loader(), ckpt_path=path, verbose=False)
