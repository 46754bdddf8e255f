"""Pruning: only the chosen conv/linear weights are pruned, and quantised pruned layers load back."""

import pytest
import torch

from advconf.callbacks.pruning import Pruning
from advconf.callbacks.quantization import Quantization
from advconf.errors import AdvconfError
from tests.callbacks.test_quantization import W1A2G6, classifier, fitted_checkpoint, loader, outputs, trainer


def pruning(modules: list[str]) -> Pruning:
    return Pruning(modules, pruning_fn="l1_unstructured", amount=0.5, use_lottery_ticket_hypothesis=False)


def test_only_weights_of_matching_layers_are_pruned(tmp_path):
    module, _ = fitted_checkpoint(tmp_path, pruning(["layers.3"]))
    layers = module.model.layers
    assert (layers[3].weight == 0).float().mean() >= 0.5
    assert (layers[0].weight != 0).all() and (layers[1].weight != 0).all() and (layers[3].bias != 0).all()


def test_quantised_pruned_checkpoint_loads_into_the_same_model(tmp_path):
    module, path = fitted_checkpoint(tmp_path, Quantization(**W1A2G6), pruning(["*"]))
    layer = module.model.layers[3]
    assert (layer.quantized_weight()[layer.weight == 0] == 0).all()
    assert torch.load(path, weights_only=True)["advconf_settings"]["quantization"]["pruned_weights_stay_zero"]
    fresh = classifier()
    trainer(tmp_path, Quantization(**W1A2G6), pruning(["*"])).test(fresh, loader(), ckpt_path=path, verbose=False)
    assert torch.equal(outputs(fresh), outputs(module))


def test_pattern_matching_no_layer_is_an_error(tmp_path):
    with pytest.raises(AdvconfError, match=r"Pruning patterns match no conv/linear layer: \['conv\*'\]"):
        trainer(tmp_path, pruning(["conv*"])).fit(classifier(), loader())


def test_saved_config_with_pruning_loads_again(tmp_path, capsys):
    from tests.helpers import run_cli, tiny_spheres_config

    config = tiny_spheres_config(tmp_path)
    args = ["fit", "--config", config, "--trainer.callbacks+=advconf.callbacks.Pruning",
            "--trainer.callbacks.init_args.modules=[layers.3]", "--trainer.callbacks.init_args.pruning_fn=l1_unstructured"]
    with pytest.raises(SystemExit):
        run_cli([*args, "--print_config"])
    printed = capsys.readouterr().out
    assert "pruning_fn: l1_unstructured" in printed
    saved = tmp_path / "saved.yaml"
    saved.write_text(printed)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", "--config", saved, "--print_config"])
    assert exit_info.value.code == 0
