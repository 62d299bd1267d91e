"""CLI: one-line errors with exit code 2, train -> runs -> attack round trip."""

import json

import pytest

from hessianlab.cli import main

TRAIN = ["train", "--model", "mlp", "--dataset", "synthetic", "--subset", "128", "--test-subset", "64",
         "--batch-size", "32", "--lr", "0.1", "--no-target", "--max-epochs", "2", "--width", "0.25", "--quiet"]


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "--out", "x", "--batch-size", "0", "--dataset", "synthetic"], "batch_size"),
        (["train", "--out", "x", "--lr-schedule", "cosine", "--dataset", "synthetic"], "lr_schedule"),
        (["train", "--out", "x", "--model", "vgg", "--dataset", "synthetic"], "model"),
        (["train", "--out", "x", "--dataset", "nonexistent"], "nonexistent"),
        (["train", "--out", "x", "--batch-size", "abc"], "batch-size"),
        (["train", "--out", "x", "--dataset", "synthetic", "--adversarial", "bogus"], "attack"),
        (["eigs-not-a-command"], "invalid choice"),
    ],
)
def test_user_mistakes_are_one_line_exit_2(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(argv))
    assert info.value.code == 2
    assert needle in _one_error_line(capsys)


def test_missing_mnist_names_the_fix(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("HESSIANLAB_DATA", raising=False)
    code = main(["--data-dir", str(tmp_path / "empty"), "train", "--out", str(tmp_path / "r"), "--dataset", "mnist"])
    assert code == 2
    line = _one_error_line(capsys)
    assert "mnist" in line and "download" in line


def test_train_runs_attack_roundtrip(capsys, tmp_path):
    out = tmp_path / "runs" / "a"
    assert main([*TRAIN, "--out", str(out)]) == 0
    # a second start without --resume is refused; with --resume it reports the finished run
    assert main([*TRAIN, "--out", str(out)]) == 2
    assert "--resume" in _one_error_line(capsys)
    assert main([*TRAIN, "--out", str(out), "--resume"]) == 0
    assert main(["runs", str(tmp_path / "runs")]) == 0
    table = capsys.readouterr().out
    assert "a" in table and "finished" in table
    assert main(["attack", str(out), "--method", "fgsm,pgd", "--eps", "0,0.1", "--split", "test", "--steps", "3"]) == 0
    results = json.loads((out / "results.json").read_text())["attack"]
    fgsm = results["fgsm/test/eps=0.0,0.1/samples=all"]  # the key holds every setting
    assert fgsm["eps"] == [0.0, 0.1]
    assert fgsm["accuracy"][0] == fgsm["clean_accuracy"]  # eps = 0 is the identity
    assert results["pgd/test/eps=0.0,0.1/samples=all/steps=3"]["attack"]["steps"] == 3
    # a different config in the same folder is refused
    assert main([*TRAIN[:-1], "--seed", "7", "--quiet", "--out", str(out)]) == 2
    assert "another config" in _one_error_line(capsys)


def test_attack_on_non_run_dir(capsys, tmp_path):
    assert main(["attack", str(tmp_path)]) == 2
    assert "not a run directory" in _one_error_line(capsys)


def test_fallback_to_mnist1d_switches_conv_models_to_mlp(caplog, tmp_path, monkeypatch):
    import hessianlab.data.registry as registry

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("HESSIANLAB_DATA", raising=False)
    monkeypatch.setattr(registry, "SYSTEM_DIRS", (tmp_path / "none",))
    code = main(["train", "--model", "lenet5", "--subset", "200", "--test-subset", "100", "--max-epochs", "1",
                 "--quiet", "--out", str(tmp_path / "r")])
    assert code == 0
    err = caplog.text
    assert "falling back to mnist1d" in err and "using mlp" in err
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert cfg["dataset"] == "mnist1d" and cfg["model"] == "mlp"
