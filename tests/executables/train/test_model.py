"""The network: parameter parity with aframe's default and a TorchScript export that runs on whitened input."""

import torch

from executables.train.model import build_model, build_resnet, count_parameters, to_torchscript


def test_default_network_has_aframe_parameter_count():
    """Issue 9: ResNet1D [3,4,6,3], GroupNorm 16, at (2 ifos, 3072 samples) has 7.22 M parameters (+-0.1%)."""
    model = build_resnet(2, [3, 4, 6, 3], norm_groups=16)
    assert abs(count_parameters(model) - 7.22e6) <= 0.001 * 7.22e6
    assert model(torch.zeros(1, 2, 3072)).shape == (1, 1)


def test_torchscript_matches_eager_and_takes_any_batch(tmp_path):
    model = build_model({"layers": [1, 1], "norm_groups": 8}, num_ifos=2).eval()
    X = torch.randn(3, 2, 256)
    path = tmp_path / "model.pt"
    torch.jit.save(to_torchscript(model, X[:1]), str(path))
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        assert torch.allclose(loaded(X), model(X), atol=1e-5)
        assert loaded(torch.randn(5, 2, 256)).shape == (5, 1)
