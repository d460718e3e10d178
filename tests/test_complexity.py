"""MACs and FLOPs against the reference reports (R1, R3, R4), each by its layer formula."""

from __future__ import annotations

import pytest
from torch import nn

from vgg_sweep.complexity import count_macs
from vgg_sweep.models import build_model
from vgg_sweep.train import count_parameters


def conv_macs(c_in: int, c_out: int, side: int, kernel: int = 3) -> int:
    """Cin*Cout*Kh*Kw*Hout*Wout (stride 1, same padding)."""
    return c_in * c_out * kernel * kernel * side * side


def test_vgg6_is_96_1_million_macs_per_cifar_image():
    macs = count_macs(build_model("vgg6", (3, 32, 32), 10), (3, 32, 32))
    # [64, 64, M, 128, 128, M] on 32x32 -> 16x16, then Linear(128 -> 10) after pooling
    by_hand = (conv_macs(3, 64, 32) + conv_macs(64, 64, 32) + conv_macs(64, 128, 16)
               + conv_macs(128, 128, 16) + 128 * 10)
    assert macs["macs"] == by_hand == 96_142_592
    assert round(macs["macs"] / 1e6, 1) == 96.1  # R4
    assert macs["flops"] == 2 * macs["macs"]
    assert round(macs["flops"] / 1e6, 1) == 192.3  # R4


def test_simplecnn_is_161_16_million_flops_by_r3s_formula():
    macs = count_macs(build_model("simplecnn", (3, 32, 32), 10), (3, 32, 32))
    # R3: 2*Cin*Cout*Kh*Kw*Hout*Wout per conv, 2*in*out per linear
    by_hand = (2 * conv_macs(3, 32, 32) + 2 * conv_macs(32, 64, 32)
               + 2 * conv_macs(64, 128, 16) + 2 * conv_macs(128, 128, 16)
               + 2 * 128 * 8 * 8 * 512 + 2 * 512 * 10)
    assert by_hand == 161_163_264
    assert macs["flops"] == by_hand
    assert round(macs["flops"] / 1e6, 2) == 161.16


def test_resnet18_matches_r1_params_and_ptflops_macs():
    model = build_model("resnet18", (3, 32, 32), 10)
    assert count_parameters(model) == {"params": 11_173_962, "params_total": 11_173_962}
    macs = count_macs(model, (3, 32, 32))
    assert round(macs["macs_ptflops"] / 1e6, 1) == 557.8  # ptflops' default count, as R1
    assert round(macs["macs"] / 1e6, 1) == 555.4  # conv + linear weights only


def test_counts_use_the_actual_input_shape():
    macs = count_macs(build_model("vgg6", (1, 28, 28), 10), (1, 28, 28))
    by_hand = (conv_macs(1, 64, 28) + conv_macs(64, 64, 28) + conv_macs(64, 128, 14)
               + conv_macs(128, 128, 14) + 128 * 10)
    assert macs["macs"] == by_hand


def test_bias_adds_are_not_macs():
    with_bn = count_macs(build_model("vgg6", (3, 32, 32), 10, batch_norm=True), (3, 32, 32))
    biased = count_macs(build_model("vgg6", (3, 32, 32), 10, batch_norm=False), (3, 32, 32))
    assert with_bn["macs"] == biased["macs"]
    assert biased["macs_ptflops"] > biased["macs"]


@pytest.mark.parametrize("training", [True, False])
def test_counting_is_silent_and_leaves_the_model_untouched(capsys, training):
    model = build_model("vgg6", (3, 32, 32), 10).train(training)
    before = {name: param.clone() for name, param in model.state_dict().items()}
    count_macs(model, (3, 32, 32))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert model.training is training
    assert all(not module._forward_hooks and not module._forward_pre_hooks
               for module in model.modules())
    assert all((before[name] == param).all() for name, param in model.state_dict().items())


def test_linear_only_model():
    macs = count_macs(nn.Sequential(nn.Flatten(), nn.Linear(12, 5)), (3, 2, 2))
    assert macs == {"macs": 60, "flops": 120, "macs_ptflops": 65}


def test_counted_once_per_architecture(monkeypatch):
    """The trials of a sweep that repeat a model read its count back from the cache (the
    conftest gives each test its own): one ptflops count per architecture and input shape,
    the same numbers, and a damaged cache entry is counted again."""
    from vgg_sweep import complexity
    from vgg_sweep.data import cache_root

    counted = []
    count = complexity._counted
    monkeypatch.setattr(complexity, "_counted",
                        lambda model, shape: counted.append(shape) or count(model, shape))
    first = count_macs(build_model("vgg6", (3, 32, 32), 10), (3, 32, 32))
    assert count_macs(build_model("vgg6", (3, 32, 32), 10), (3, 32, 32)) == first
    assert len(counted) == 1 and first["macs"] == 96_142_592
    gelu = count_macs(build_model("vgg6", (3, 32, 32), 10, activation="GELU"), (3, 32, 32))
    small = count_macs(build_model("vgg6", (1, 28, 28), 10), (1, 28, 28))
    assert len(counted) == 3  # another activation, another input: other architectures
    assert gelu["macs"] == first["macs"] and small["macs"] != first["macs"]
    for entry in (cache_root() / "flops").iterdir():
        entry.write_text("{not json")
    assert count_macs(build_model("vgg6", (3, 32, 32), 10), (3, 32, 32)) == first
    assert len(counted) == 4
