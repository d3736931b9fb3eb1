"""`vras quickstart`: generate ShapesWorld classification data, train a small CNN with `model.fit`, and
print its validation accuracy (what `make run` does first; a couple of minutes on two CPU cores)."""

from __future__ import annotations

NAME = "quickstart"
HELP = "generate ShapesWorld data, train a small classifier with model.fit and print its validation accuracy"

# Registered classification models tried in this order; the first that exists is used.
PREFERRED_MODELS = ("resnet_cifar", "resnet20")


def add_arguments(parser):
    parser.add_argument("--num", type=int, default=8000, help="training images (default 8000)")
    parser.add_argument("--num-val", type=int, help="validation images (default num // 5)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="auto",
                        help="a registered classification model, 'small_cnn', or 'auto' (default: "
                             f"the first of {', '.join(PREFERRED_MODELS)} that is registered, else small_cnn)")
    parser.add_argument("--save", help="save the trained model to this .keras file")


def small_cnn(*, input_shape=(32, 32, 3), num_classes=6, width=16):
    """A four-block conv net (conv_norm_act blocks, global pooling, softmax) for the quick start."""
    import keras

    from vras_keras.layers.conv_norm_act import conv_norm_act, image_input

    inputs, x = image_input(input_shape)
    for i, mult in enumerate((1, 2, 4, 8)):
        x = conv_norm_act(x, width * mult, 3, name=f"block{i + 1}a")
        x = conv_norm_act(x, width * mult, 3, strides=2 if i < 3 else 1, name=f"block{i + 1}b")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def build_model(name: str, input_shape, num_classes):
    from vras_keras import models

    if name == "auto":
        available = set(models.list_models("classification"))
        name = next((m for m in PREFERRED_MODELS if m in available), "small_cnn")
    if name == "small_cnn":
        return small_cnn(input_shape=input_shape, num_classes=num_classes)
    return models.get(name, input_shape=input_shape, num_classes=num_classes)


def run(args) -> int:
    import time

    import keras

    from vras_keras.data import datasets

    if args.num < 1 or args.epochs < 1:
        raise ValueError(f"--num and --epochs must be >= 1, received {args.num} and {args.epochs}")
    num_val = max(1, args.num // 5) if args.num_val is None else args.num_val
    size = args.image_size
    keras.utils.set_random_seed(args.seed)
    print(f"ShapesWorld classification: {args.num} training / {num_val} validation images of {size}x{size}, "
          f"{datasets.num_classes('classification')} classes ({', '.join(datasets.class_names('classification'))})")
    train = datasets.load(
        "classification", split="train", num_samples=args.num, image_size=size, seed=args.seed
    ).cache()
    train = train.shuffle(min(args.num, 10_000), seed=args.seed).batch(args.batch_size)
    val = datasets.load("classification", split="val", num_samples=num_val, image_size=size, seed=args.seed,
                        batch_size=args.batch_size).cache()
    model = build_model(args.model, (size, size, 3), datasets.num_classes("classification"))
    print(f"model: {model.name}, {model.count_params():,} parameters")
    steps = -(-args.num // args.batch_size) * args.epochs
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.time()
    history = model.fit(train, validation_data=val, epochs=args.epochs, shuffle=False,
                        verbose=2)  # shuffle=False: the dataset shuffles itself
    accuracy = history.history["val_accuracy"][-1]
    print(f"trained {args.epochs} epochs in {time.time() - start:.0f} s")
    print(f"validation accuracy: {accuracy:.3f} (chance: {1 / datasets.num_classes('classification'):.3f})")
    if args.save:
        model.save(args.save)
        print(f"saved the model to {args.save}")
    return 0
