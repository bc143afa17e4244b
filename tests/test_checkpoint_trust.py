"""A checkpoint is data, not code: pickled payloads, `_target_` chains, damaged weights and foreign
classes are refused with one line and nothing runs; genflow's own checkpoints load (with their
weights' checksum verified), older ones load as unverified."""

import os
import stat
from pathlib import Path

import pytest
import torch

from cli_fixtures import genflow_main  # noqa: F401
from genflow.app.checkpoints import AtomicCheckpointIO
from genflow.errors import UserError
from genflow.modules.integrity import weights_digest
from genflow.modules.loading import load_module
from genflow.nets.mlp import MLP

FIXTURES = Path(__file__).parent / "fixtures" / "pre_layout"


class OwnMLP(MLP):
    """A user's own network class (as a --config-dir would name it)."""


class Payload:
    """Unpickling this creates the marker file: what a hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def good(tiny_ckpt):
    return tiny_ckpt


def rewrite(good: Path, out: Path, change) -> Path:
    ckpt = torch.load(good, weights_only=True)
    change(ckpt)
    torch.save(ckpt, out)
    return out


def flip_a_weight_byte(src: Path, out: Path) -> Path:
    """Flip the exponent's top bit of one float of a weight tensor, in the file's bytes."""
    weight = torch.load(src, weights_only=True)["state_dict"]["ema.module.net.body.0.weight"]
    raw = bytearray(src.read_bytes())
    at = raw.find(weight.contiguous().numpy().tobytes())
    assert at > 0
    raw[at + 3] ^= 0x40
    out.write_bytes(bytes(raw))
    return out


def test_a_checkpoint_holds_its_weights_checksum_and_usual_permissions(good):
    ckpt = torch.load(good, weights_only=True)
    assert ckpt["genflow"]["weights_sha256"] == weights_digest(ckpt["state_dict"])
    assert stat.S_IMODE(good.stat().st_mode) == 0o644  # 0666 less the umask 022, not mkstemp's 0600
    module = load_module(good)
    assert module.run_config["data"]["name"] == "moons"


def test_a_pickled_payload_is_refused_and_never_runs(good, tmp_path):
    marker = tmp_path / "PWNED"
    evil = rewrite(good, tmp_path / "evil.ckpt", lambda c: c.update(extra=Payload(marker)))
    with pytest.raises(UserError, match="would run code when loaded .GLOBAL posix.system"):
        load_module(evil)
    with pytest.raises(UserError, match="GLOBAL posix.system"):
        AtomicCheckpointIO().load_checkpoint(evil)  # resume: Lightning reads through the checkpoint IO
    assert not marker.exists()


@pytest.mark.parametrize("where,node,needle", [
    ("net", {"_target_": "os.system", "command": "touch {marker}"}, "asks to build 'os.system' (hyper_parameters.net"),
    ("sampler", {"_target_": "torch.load", "f": {"_target_": "builtins.open", "file": "{marker}", "mode": "w"}},
     "asks to build 'torch.load' (genflow.config.sampler._target_)"),
    ("sampler", {"_target_": "genflow.samplers.ancestral.AncestralSampler",
                 "progress": {"_target_": "pathlib.Path.touch", "self": "{marker}"}}, "'pathlib.Path.touch'"),
    ("data", {"_target_": "genflow.data.toy.ToyDataModule", "_args_": ["{marker}"]}, "instantiate key"),
    ("data", {"_target_": "genflow.data.toy.ToyDataModule", "name": "${oc.env:HOME}"}, "interpolation"),
    ("data", {"_target_": "genflow.data.images.os.system"}, "'genflow.data.images.os.system'"),
    ("data", {"_target_": "genflow.__main__.main"}, "'genflow.__main__.main'"),  # importing it runs the CLI
])
def test_a_target_outside_genflow_in_a_stored_config_is_refused(good, tmp_path, where, node, needle):
    marker = tmp_path / "PWNED"
    node = eval(repr(node).replace("{marker}", str(marker)))  # noqa: S307 (test data)

    def plant(ckpt):
        if where == "net":
            ckpt["hyper_parameters"]["net"] = node
        else:
            ckpt["genflow"]["config"][where] = node

    with pytest.raises(UserError, match="refused") as e:
        load_module(rewrite(good, tmp_path / "chain.ckpt", plant))
    assert needle in str(e.value) and "\n" not in str(e.value)
    assert not marker.exists()


def test_the_module_class_must_be_a_genflow_module(good, tmp_path):
    bad = rewrite(good, tmp_path / "cls.ckpt", lambda c: c["genflow"].update(module="subprocess.Popen"))
    with pytest.raises(UserError, match="names the module class 'subprocess.Popen', which is not a genflow module"):
        load_module(bad)
    bad = rewrite(good, tmp_path / "cls2.ckpt", lambda c: c["genflow"].update(module="genflow.nets.mlp.MLP"))
    with pytest.raises(UserError, match="not a genflow module"):
        load_module(bad)


def test_a_users_own_class_loads_only_when_trusted(good, tmp_path):
    own = f"{__name__}.OwnMLP"
    ckpt = rewrite(good, tmp_path / "own.ckpt", lambda c: c["hyper_parameters"]["net"].update(_target_=own))
    with pytest.raises(UserError, match=rf"pass trust_targets=\[{own}\]"):
        load_module(ckpt)
    assert isinstance(load_module(ckpt, trusted=[own]).denoiser.net, OwnMLP)
    assert isinstance(load_module(ckpt, trusted=[f"{__name__}.*"]).denoiser.net, OwnMLP)


def test_a_flipped_weight_byte_is_refused(good, tmp_path):
    damaged = flip_a_weight_byte(good, tmp_path / "flipped.ckpt")
    with pytest.raises(UserError, match="damaged: its weights do not match their SHA-256 checksum"):
        load_module(damaged)
    with pytest.raises(UserError, match="damaged"):
        AtomicCheckpointIO().load_checkpoint(damaged)


def test_a_checkpoint_without_checksum_loads_as_unverified(caplog):
    with caplog.at_level("INFO", logger="genflow.checkpoint"):
        module = load_module(FIXTURES / "ddpm.ckpt")
    assert module.hparams.data_shape == [2]
    assert "unverified" in caplog.text


def test_the_cli_refuses_a_damaged_or_hostile_checkpoint_in_one_line(good, tmp_path, genflow_main):
    marker = tmp_path / "PWNED"
    cases = [(flip_a_weight_byte(good, tmp_path / "flipped.ckpt"), "damaged"),
             (rewrite(good, tmp_path / "evil.ckpt", lambda c: c.update(extra=Payload(marker))), "GLOBAL posix.system")]
    for path, needle in cases:
        code, _, stderr = genflow_main("sample", f"ckpt={path}", "num_samples=10")
        err = stderr.strip()
        assert code == 2 and needle in err and len(err.splitlines()) == 1, err
        assert "Traceback" not in stderr
    assert not marker.exists() and not list(tmp_path.glob("outputs/*/*/samples.npz"))
