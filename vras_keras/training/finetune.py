"""Fine-tuning a pretrained classifier: frozen batch-norm statistics and a staged unfreeze.

A classification model from `vras_keras.models` has five backbone stages, the layers up to each pyramid
level (stem = C1, C2, ..., C5; `model.pyramid_layers` names the last layer of each), then its head.
`set_trainable_stages(model, k)` trains the head and the last `k` stages (torchvision's
`trainable_backbone_layers`: 0 = head only, 5 = everything); `freeze_batch_norm(model)` puts every
BatchNormalization in inference mode for good (`trainable = False` in Keras 3 means: moving statistics
used and not updated, gamma/beta fixed), which keeps the pretrained statistics when fine-tuning on a few
hundred images in small batches.

`vras train` runs `TrainConfig.finetune.stages` one after another (training/trainer.py), each with a fresh
optimizer at its own learning rate; see configs/finetune.yaml.
"""

from __future__ import annotations

import keras

NUM_STAGES = 5


def _stage_of_layers(model) -> dict:
    pyramid_layers = getattr(model, "pyramid_layers", None)
    levels = sorted((pyramid_layers or {}).items(), key=lambda item: int(item[0][1:]))
    if len(levels) < NUM_STAGES:
        raise ValueError(
            f"model {model.name!r}: finetune.stages[*].trainable_stages needs a classification model with five "
            f"pyramid levels (model.pyramid_layers), found {sorted(pyramid_layers or {})}; use a vras_keras "
            "classification builder (resnet*, vgg*, densenet*) or trainable_stages: 5"
        )
    ends = {name: stage for stage, (_, name) in enumerate(levels[-NUM_STAGES:], start=1)}
    stage, stages = 1, {}
    for layer in model.layers:
        stages[layer.name] = stage
        if layer.name in ends:
            stage = ends[layer.name] + 1
    return stages  # NUM_STAGES + 1: the head


def set_trainable_stages(model, trainable_stages: int, *, freeze_bn: bool = True) -> list[str]:
    """Train the head and the last `trainable_stages` (0..5) backbone stages; returns the trainable layers."""
    if not 0 <= trainable_stages <= NUM_STAGES:
        raise ValueError(f"trainable_stages must be in 0..{NUM_STAGES}, received {trainable_stages!r}")
    stages = _stage_of_layers(model) if trainable_stages < NUM_STAGES else {}
    first_trained = NUM_STAGES + 1 - trainable_stages
    trained = []
    for layer in model.layers:
        layer.trainable = stages.get(layer.name, NUM_STAGES + 1) >= first_trained
        if freeze_bn and isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        if layer.trainable and layer.weights:
            trained.append(layer.name)
    return trained


def freeze_batch_norm(model) -> int:
    """Every BatchNormalization of `model` in inference mode, not updated; returns how many."""
    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            count += 1
    return count
