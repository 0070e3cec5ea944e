"""The seed's Keras example on PyTorch: MobileNetV2 with a frozen backbone -> model_to_estimator -> ONNX.

Keras (the seed)::

    keras_mobilenet_v2 = tf.keras.applications.MobileNetV2(input_shape=(160, 160, 3), include_top=False)
    keras_mobilenet_v2.trainable = False
    estimator_model = tf.keras.Sequential([keras_mobilenet_v2, GlobalAveragePooling2D(), Dense(1)])
    est_mobilenet_v2 = tf.keras.estimator.model_to_estimator(keras_model=estimator_model)

Here: torchvision ``mobilenet_v2`` + average pooling + a linear head, trained on the deterministic
image set of ``examples/image_data.py`` (bars and squares in random colours and places: three classes
that carry shape, not colour) through an ``input_fn`` that resizes and normalises like the seed's
``preprocess`` (pixels to [-1, 1]), then evaluated on held-out images and exported.

Freezing only makes sense for a backbone that has learned something. There are no downloads here, so
by default the backbone is randomly initialised and **trained with the head** (a slim one:
``width_mult=0.35``, 32x32 inputs, Adam at 1e-2, 150 steps of 32 images: it learns the classes well
above chance in seconds on a CPU). A frozen random backbone computes features without learned signal
and its head stays near chance (``--freeze`` shows it).

Pretrained weights you already have (e.g. ``mobilenet_v2-b0353104.pth`` copied from a machine with
internet, or a ``.safetensors`` conversion of it) are loaded with ``--weights PATH``: a
``.safetensors`` file through ``safetensors.torch.load_file``, anything else through
``torch.load(PATH, weights_only=True)`` (tensors only, never an arbitrary pickle). The file holds the
full torchvision ``mobilenet_v2`` state_dict; the backbone is its ``features``, frozen as in the seed
(width 1.0, 160x160 inputs, Adam at 1e-3 on the head).

torchvision is optional and never imported by torchestimator. Its PyPI wheels are CUDA builds whose C++ ops do
not load next to a CPU-only torch; ``torchvision_shim.import_torchvision`` defines the two operator schemas its
import needs, so the pure-Python model zoo works there too (see that file for why this is sound).

Run: ``python examples/mobilenet_v2_example.py [--steps 150] [--weights PATH] [--freeze]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_data import CLASS_NAMES, make_images, preprocess
from torchvision_shim import import_torchvision

from torchestimator.model_to_estimator import model_to_estimator
from torchestimator.run_config import RunConfig


def build_model(weights: str | None, width_mult: float, freeze: bool) -> torch.nn.Module:
    """MobileNetV2 features + global average pooling + a linear head over the image classes.

    Args:
        weights: a local torchvision ``mobilenet_v2`` state_dict, or ``None`` for a random initialisation.
        width_mult: MobileNetV2's width multiplier (1.0 for the pretrained weights).
        freeze: freeze the backbone (``keras_mobilenet_v2.trainable = False``): only the head trains.
    """
    from torchvision.models import mobilenet_v2

    full = mobilenet_v2(weights=None, width_mult=width_mult)
    if weights:
        if weights.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(weights)
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        full.load_state_dict(state)
    backbone = full.features
    backbone.requires_grad_(not freeze)
    return torch.nn.Sequential(
        backbone,
        torch.nn.AdaptiveAvgPool2d(1),  # GlobalAveragePooling2D
        torch.nn.Flatten(),
        torch.nn.Linear(full.last_channel, len(CLASS_NAMES)),
    )


def make_input_fn(
    images: np.ndarray, labels: np.ndarray, size: int, batch: int, epochs: int
) -> Callable[[], Iterator[Any]]:
    """Batches of ``({"image": (B, 3, size, size)}, labels)``, preprocessed like the seed."""

    def input_fn() -> Iterator[Any]:
        for _ in range(epochs):
            for i in range(0, len(images), batch):
                yield (
                    {"image": preprocess(images[i : i + batch], size)},
                    torch.as_tensor(labels[i : i + batch]),
                )

    return input_fn


def export_onnx(est: Any, example: torch.Tensor, out_dir: str) -> str:
    """Export with ``est.export_saved_model``; where that cannot take a raw image input yet, the module alone."""
    from torchestimator.export import build_raw_serving_input_receiver_fn

    try:
        return str(est.export_saved_model(out_dir, build_raw_serving_input_receiver_fn({"image": example})))
    except Exception as err:  # the export of raw tensor features is pending in torchestimator.export
        print(
            f"est.export_saved_model: not available for a raw image input yet ({type(err).__name__}: {err})."
        )
        print("Exporting the module's logits with torch.onnx.export instead.")
    path = os.path.join(out_dir, "mobilenet_v2.onnx")
    module = est.model.model.eval()
    batch = torch.export.Dim("batch", min=1)
    torch.onnx.export(
        module, (example,), path, dynamo=True, dynamic_shapes=({0: batch},), external_data=False
    )
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (defaults that depend on ``--weights`` are resolved in :func:`main`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights", default=None, help="a local mobilenet_v2 state_dict (.pth or .safetensors)"
    )
    parser.add_argument(
        "--freeze",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="freeze the backbone (default: frozen with --weights, trained without)",
    )
    parser.add_argument(
        "--size", type=int, default=None, help="input height/width (default 160 with --weights, else 32)"
    )
    parser.add_argument(
        "--width", type=float, default=None, help="width multiplier (default 1.0 with --weights, else 0.35)"
    )
    parser.add_argument(
        "--learning-rate", type=float, default=None, help="Adam's (default 1e-3 with --weights, else 1e-2)"
    )
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--train-images", type=int, default=1500)
    parser.add_argument("--model-dir", default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any] | int:
    args = parse_args(argv)
    pretrained = args.weights is not None
    freeze = pretrained if args.freeze is None else args.freeze
    size = args.size or (160 if pretrained else 32)
    width = args.width or (1.0 if pretrained else 0.35)
    learning_rate = args.learning_rate or (1e-3 if pretrained else 1e-2)
    try:
        torchvision = import_torchvision()
    except Exception as err:
        print(
            f"torchvision does not import here ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}).\n"
            "Its PyPI wheels are CUDA builds that need the matching CUDA torch; on a CPU-only torch install this "
            "example cannot run. torchestimator itself never needs torchvision (tests use a small conv net). "
            "Run this script where `import torchvision` works."
        )
        return 0
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    torch.manual_seed(0)
    train_x, train_y = make_images(args.train_images, size=48, seed=1)
    eval_x, eval_y = make_images(150, size=48, seed=2)  # held out: another seed
    model_dir = args.model_dir or tempfile.mkdtemp(prefix="mobilenet_v2-")
    est = model_to_estimator(
        build_model(args.weights, width, freeze),
        loss="sparse_categorical_crossentropy",
        optimizer="Adam",
        learning_rate=learning_rate,
        metrics=["accuracy"],
        model_dir=model_dir,
        # A frozen pretrained backbone keeps its BatchNorm in inference mode (Keras' rule). A frozen random
        # one (--freeze without --weights) holds initial statistics (mean 0, variance 1) that leave its
        # features near zero: batch statistics keep them in range. A trained backbone's BN trains as usual.
        frozen_batch_norm_inference=pretrained,
        config=RunConfig(save_checkpoints_steps=1000, log_step_count_steps=10),
    )
    frozen = sum(p.numel() for p in est.model.model.parameters() if not p.requires_grad)
    trainable = sum(p.numel() for p in est.model.model.parameters() if p.requires_grad)
    print(
        f"width {width}, {size}x{size} inputs, Adam {learning_rate}: {frozen} frozen, {trainable} trainable "
        f"parameters ({'head only' if freeze else 'backbone and head'}); device {est.config.device or 'auto'}"
    )
    epochs = -(-args.steps * args.batch // len(train_x))
    est.train(make_input_fn(train_x, train_y, size, args.batch, epochs), steps=args.steps)
    metrics = est.evaluate(make_input_fn(eval_x, eval_y, size, args.batch, 1))
    print("eval:", {k: round(float(v), 4) for k, v in metrics.items()})
    print(f"held-out accuracy {float(metrics['accuracy']):.3f} (chance {1 / len(CLASS_NAMES):.3f})")
    first = next(iter(est.predict(make_input_fn(eval_x[:4], eval_y[:4], size, 4, 1))))
    print(
        "first prediction:",
        {k: first[k].tolist() for k in ("class_ids", "probabilities")},
        "label",
        int(eval_y[0]),
    )
    example = preprocess(eval_x[:2], size)
    path = export_onnx(est, example, os.path.join(model_dir, "export"))
    print("exported:", path)
    if path.endswith(".onnx"):
        import onnxruntime as ort

        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        batch = preprocess(eval_x[:4], size)
        onnx_logits = session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0]
        est_logits = np.stack(
            [p["logits"] for p in est.predict(make_input_fn(eval_x[:4], eval_y[:4], size, 4, 1))]
        )
        print(
            "ONNX vs Estimator.predict logits, max abs diff:", float(np.abs(onnx_logits - est_logits).max())
        )
    return metrics


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
