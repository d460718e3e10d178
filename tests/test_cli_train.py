"""`vgg-sweep train` takes W&B agent arguments and reports user errors in one line."""

import json
import re

import pytest

from vgg_sweep.cli import main


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args, fragment", [
    (["--activation=Swish2"], "'--activation'"),
    (["--optimizer=lion"], "one of SGD, Nesterov, Adam, AdamW, Nadam, Adagrad, RMSprop"),
    (["--batch_norm=perhaps"], "true or false"),
    (["--lr=abc"], "--lr"),
    (["--epochs=0"], "--epochs"),
    (["--no_such_option=1"], "No such option"),
    (["--resume"], "--resume needs --run_id"),
])
def test_bad_arguments_one_line_exit_2(args, fragment, capsys):
    code, out, err = run_cli(["train", *args], capsys)
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_help_lists_every_config_field(capsys):
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0
    for option in ("--autoaugment", "--batch_norm", "--weight_decay", "--val_split",
                   "--precision", "--train_subset"):
        assert option in out


def option_metavars(help_text: str) -> dict[str, str]:
    """`--lr NUMBER in [0, 100]   learning rate` -> {"--lr": "NUMBER in [0, 100]"}."""
    found = {}
    for line in help_text.splitlines():
        head = re.split(r"\s{2,}", line.strip())[0]
        match = re.fullmatch(r"(--\w+)(?:, --[\w-]+)? (.+)", head)
        if match:
            found[match[1]] = match[2]
    return found


def test_help_names_values_as_they_are_written(capsys):
    """Choices in their canonical spelling (as the README and the records write them), text
    as PATH, numbers with their range: not `RELU`, `FASHION_MNIST` or `--data_dir A NUMBER`."""
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0
    metavars = option_metavars(out)
    assert metavars["--dataset"] == "[cifar10|mnist|fashion_mnist|synthetic]"
    assert metavars["--activation"] == "[ReLU|LeakyReLU|ELU|Sigmoid|Tanh|SiLU|GELU|Mish]"
    assert metavars["--scheduler"] == "[none|cosine|step|onecycle]"
    assert metavars["--data_dir"] == "PATH"
    assert metavars["--batch_norm"] == "[true|false]"
    assert metavars["--val_split"] == "NUMBER in [0, 0.9]"
    assert metavars["--C"] == "NUMBER in (0, 1e+06]"
    assert metavars["--batch_size"] == "INTEGER in [1, 65536]"
    assert metavars["--train_subset"] == "INTEGER >= 0"
    assert "RELU" not in out and "FASHION_MNIST" not in out and "A NUMBER" not in out


def test_wandb_style_arguments_run_a_trial(tmp_path, capsys):
    args = ["train", "--dataset=synthetic", "--model=vgg6", "--epochs=1",
            "--train_subset=128", "--batch_size=64", "--lr=0.001", "--autoaugment=True",
            "--batch_norm=false", "--activation=gelu", "--optimizer=NAdam",
            "--use_cutout=False", "--weight_decay=0.0005", f"--runs_dir={tmp_path}",
            "--sweep=cli", "--run_id=abc"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "abc finished" in out
    record = json.loads((tmp_path / "cli" / "abc" / "record.json").read_text())
    assert record["config"]["activation"] == "GELU"
    assert record["config"]["optimizer"] == "Nadam"
    assert record["config"]["batch_norm"] is False
    assert record["config"]["autoaugment"] is True
    assert record["config"]["weight_decay"] == 0.0005
    assert record["summary"]["train_size"] == 128


def test_missing_dataset_is_one_line(tmp_path, capsys, monkeypatch):
    import vgg_sweep.data as data

    def offline(name, root, what):
        raise data.UserError(f"{name} not found in {root} and the download failed; put {what}"
                             f" in {root} or pass --data_dir=FOLDER")

    monkeypatch.setattr(data, "_download", offline)
    code, _, err = run_cli(["train", "--dataset=cifar10", f"--data_dir={tmp_path}",
                            f"--runs_dir={tmp_path}"], capsys)
    assert code == 2
    assert "CIFAR10 not found" in err and "--data_dir" in err
    assert len(err.strip().splitlines()) == 1
