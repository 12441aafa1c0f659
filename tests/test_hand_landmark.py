"""The hand_landmark backbone: MediaPipe's landmark CNN rebuilt in PyTorch from its .tflite."""

import sys

import numpy as np
import pytest
import torch

from cliphand.hand import load_hand_model
from cliphand.model import build_model, load_config
from cliphand.model.checkpoint import hand_identity, model_from_state


def test_the_rebuilt_network_computes_what_tflite_computes():
    pytest.importorskip("mediapipe", reason="the weights come with the detect extra")
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="the reference runtime is a dev extra")
    from cliphand.model.hand_landmark import (
        HandLandmarkFeatures,
        hand_landmark_file,
        load_hand_landmark_weights,
        read_tflite_layers,
    )

    path = hand_landmark_file()
    net = HandLandmarkFeatures().eval()
    load_hand_landmark_weights(net, path)
    # Smooth colour fields, so that the network's activations are not those of white noise.
    rng = np.random.default_rng(0)
    image = np.stack([np.kron(rng.random((7, 7)), np.ones((32, 32))) for _ in range(3)], -1).astype(np.float32)

    interpreter = litert.Interpreter(str(path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None])
    interpreter.invoke()
    outputs = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    landmarks = next(o for o in outputs if o.shape == (1, 63) and np.abs(o).max() > 1)  # pixels, not metres

    with torch.no_grad():
        features = net(torch.from_numpy(image).permute(2, 0, 1)[None])
    assert [f.shape[1:] for f in features] == [(24, 56, 56), (40, 28, 28), (112, 14, 14), (1152, 7, 7)]
    heads = [(w, b) for name, w, b in read_tflite_layers(path) if name == "FULLY_CONNECTED" and w.shape[0] == 63]
    pooled = features[-1].mean((2, 3)).numpy()
    errors = [np.abs(pooled @ w.T + b - landmarks).max() for w, b in heads]
    assert min(errors) < 1e-3 * np.abs(landmarks).max(), errors


def test_a_hand_landmark_checkpoint_loads_without_mediapipe(monkeypatch):
    config = load_config("mobile_v10")
    model = build_model(config, pretrained=False)
    hand = hand_identity(load_hand_model("openhand"))
    state = {"config": config.to_dict(), "model": model.state_dict(), "hand_model": hand}
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe now fails
    loaded = model_from_state(state, "test.pt")
    image = torch.rand(2, 3, config.image_size, config.image_size)
    with torch.no_grad():
        assert torch.allclose(loaded(image)["joints"], model.eval()(image)["joints"], atol=1e-6)


def test_pretrained_weights_without_mediapipe_fail_with_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(ImportError, match=r"cliphand\[detect\]"):
        build_model(load_config("mobile_v10"))
