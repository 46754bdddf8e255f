import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from advconf.optimizer_step import OptimizerStep


def train(optimizer_class, direct: bool, steps: int = 20, **kwargs) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    optimizer = optimizer_class(model.parameters(), **kwargs)
    stepper = OptimizerStep(optimizer)
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    for _ in range(steps):
        (stepper.zero_grad if direct else optimizer.zero_grad)()
        nn.functional.cross_entropy(model(x), y).backward()
        (stepper.step if direct else optimizer.step)()
    return model, optimizer


@pytest.mark.parametrize("optimizer_class, kwargs", [
    (torch.optim.Adam, {"lr": 1e-2}),
    (torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.1}),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
])
def test_direct_steps_give_bit_identical_weights_and_state(optimizer_class, kwargs):
    wrapped, wrapped_optimizer = train(optimizer_class, direct=False, **kwargs)
    direct, direct_optimizer = train(optimizer_class, direct=True, **kwargs)
    for a, b in zip(wrapped.parameters(), direct.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(wrapped_optimizer.state.values(), direct_optimizer.state.values()):
        assert all(torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])) for k in a)


def count_profiler_ranges(monkeypatch) -> list[str]:
    names = []
    original = torch.autograd.profiler.record_function

    class Counting(original):
        def __init__(self, name, *args, **kwargs):
            names.append(name)
            super().__init__(name, *args, **kwargs)

    monkeypatch.setattr(torch.autograd.profiler, "record_function", Counting)
    return names


def test_without_observers_the_profiler_ranges_are_skipped(monkeypatch):
    names = count_profiler_ranges(monkeypatch)
    train(torch.optim.Adam, direct=True, steps=3, lr=1e-2)
    assert names == []
    train(torch.optim.Adam, direct=False, steps=3, lr=1e-2)  # what the direct calls save
    assert sum("Optimizer.step#Adam.step" in n for n in names) == 3
    assert sum("zero_grad" in n for n in names) == 3


def test_step_hooks_see_every_direct_step():
    seen = []
    handle = register_optimizer_step_post_hook(lambda opt, args, kwargs: seen.append("global"))
    try:
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        optimizer.register_step_pre_hook(lambda opt, args, kwargs: seen.append("pre"))
        stepper = OptimizerStep(optimizer)
        for _ in range(2):
            stepper.zero_grad()
            model(torch.ones(4, 3)).sum().backward()
            stepper.step()
    finally:
        handle.remove()
    assert seen == ["pre", "global"] * 2


def test_a_running_profiler_records_every_step():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    stepper = OptimizerStep(torch.optim.Adam(model.parameters(), lr=1e-2))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for _ in range(2):
            stepper.zero_grad()
            model(torch.ones(4, 3)).sum().backward()
            stepper.step()
    names = [event.name for event in profiler.events()]
    assert names.count("Optimizer.step#Adam.step") == 2
    assert names.count("Optimizer.zero_grad#Adam.zero_grad") == 2


def test_an_optimizer_with_its_own_zero_grad_is_called_as_it_is():
    calls = []

    class KeepsGradients(torch.optim.SGD):
        def zero_grad(self, set_to_none: bool = True) -> None:
            calls.append(set_to_none)
            super().zero_grad(set_to_none=False)

    model = nn.Linear(3, 1)
    stepper = OptimizerStep(KeepsGradients(model.parameters(), lr=0.1))
    model(torch.ones(4, 3)).sum().backward()
    stepper.zero_grad()
    assert calls == [True]
    assert torch.equal(model.weight.grad, torch.zeros_like(model.weight))  # zeroed, not set to None
