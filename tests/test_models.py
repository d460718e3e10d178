"""Every model, activation, optimizer and scheduler by name; shapes on CIFAR and MNIST."""

import pytest
import torch

from vgg_sweep.config import choices, make_config
from vgg_sweep.models import build_model
from vgg_sweep.optim import build_optimizer, build_scheduler
from vgg_sweep.registry import ACTIVATIONS, MODELS, OPTIMIZERS, SCHEDULERS


@pytest.mark.parametrize("name", [name for name, entry in MODELS.items()
                                  if entry.family == "cnn"])
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
def test_model_output_shape(name, shape):
    model = build_model(name, shape, 10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, *shape)).shape == (2, 10)


@pytest.mark.parametrize("activation", choices("activation"))
def test_activation_is_used(activation):
    model = build_model("vgg6", (3, 32, 32), 10, activation=activation)
    kinds = {type(m).__name__ for m in model.modules()}
    assert type(ACTIVATIONS[activation].load()()).__name__ in kinds


def test_vgg6_layout_and_size():
    with_bn = build_model("vgg6", (3, 32, 32), 10, batch_norm=True)
    convs = [m for m in with_bn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128]
    no_bn = build_model("vgg6", (3, 32, 32), 10, batch_norm=False)
    params = sum(p.numel() for p in no_bn.parameters())
    assert params == 1792 + 36928 + 73856 + 147584 + 1290  # R4: about 262 k
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in no_bn.modules())


def test_resnet18_adapted_stem_and_size():
    model = build_model("resnet18", (3, 32, 32), 10)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, torch.nn.Identity)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962  # R1


def test_cifar_resnet_depths():
    sizes = {name: sum(p.numel() for p in build_model(name, (3, 32, 32), 10).parameters())
             for name in ("resnet20", "resnet32", "resnet56")}
    # He et al. 2016, Table 6: 0.27 M, 0.46 M, 0.85 M parameters.
    assert round(sizes["resnet20"] / 1e6, 2) == 0.27
    assert round(sizes["resnet32"] / 1e6, 2) == 0.46
    assert round(sizes["resnet56"] / 1e6, 2) == 0.85


@pytest.mark.parametrize("optimizer", choices("optimizer"))
def test_every_optimizer_steps(optimizer):
    model = torch.nn.Linear(4, 2)
    before = model.weight.detach().clone()
    opt = build_optimizer(make_config({"optimizer": optimizer, "lr": 0.1}), model.parameters())
    model(torch.ones(3, 4)).sum().backward()
    opt.step()
    assert not torch.equal(before, model.weight)


def test_nesterov_is_nesterov_sgd():
    params = [torch.zeros(1, requires_grad=True)]
    opt = build_optimizer(make_config({"optimizer": "Nesterov"}), params)
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["nesterov"]
    assert opt.defaults["momentum"] == 0.9


@pytest.mark.parametrize("scheduler", choices("scheduler"))
def test_every_scheduler_changes_lr_as_named(scheduler):
    config = make_config({"scheduler": scheduler, "epochs": 6, "lr": 0.1})
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = build_scheduler(config, opt, steps_per_epoch=5)
    if scheduler == "none":
        assert sched is None
        return
    rates = []
    for _ in range(6 * (5 if scheduler == "onecycle" else 1)):
        opt.step()
        sched.step()
        rates.append(opt.param_groups[0]["lr"])
    assert min(rates) < 0.1 * 0.5


def test_momentum_reaches_exactly_the_optimizers_that_use_it():
    for name, entry in OPTIMIZERS.items():
        opt = build_optimizer(make_config({"optimizer": name, "momentum": 0.5}),
                              [torch.zeros(1, requires_grad=True)])
        assert (opt.defaults.get("momentum") == 0.5) == entry.uses_momentum, name


@pytest.mark.parametrize("scheduler", [name for name, entry in SCHEDULERS.items()
                                       if entry.build is not None])
def test_a_resumed_schedule_advances_per_batch_or_per_epoch_as_registered(scheduler):
    config = make_config({"scheduler": scheduler, "epochs": 6, "lr": 0.1})
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = build_scheduler(config, opt, steps_per_epoch=5, epochs_done=2)
    assert sched.last_epoch == 2 * (5 if SCHEDULERS[scheduler].steps_per_batch else 1)
