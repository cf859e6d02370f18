"""Networks for small datasets: a from-scratch CNN that normalises each image, for lib.models' registry.

Why per-image normalisation: on the shapes of issue 16 (random background and
shape colours), every from-scratch network tried here memorised the ~100
training images and read new ones at chance (Small VGG, ResNet-20, LeNet-5;
with or without augmentation). Normalising each colour channel of each image to
zero mean and unit variance (instance normalisation, a LayerNormalization over
height and width) removes the colours' offset and contrast, leaving the shape's
outline; the same Small VGG then reads 30 new images 100% right (seeds 1-3,
bench/small_data_recipe.py). The layer is part of the model, so prediction and
export need nothing extra; it is a stock Keras layer, so safe-mode loading works.

Keras is imported inside the builders (lib.models' rule: listing architectures
never loads TensorFlow). No import of lib.models here: lib.models imports this.
"""

from __future__ import annotations


def _units(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


def build_vgg_small_norm(input_shape, num_classes, dropout=0.3, batchnorm=True, width=1.0):
    """Per-image normalisation, then Small VGG: three blocks of two 3x3 convs, global average pooling."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = layers.LayerNormalization(axis=(1, 2), center=False, scale=False, name="per_image_norm")(inputs)
    for filters in (32, 64, 128):
        for _ in range(2):
            x = layers.Conv2D(_units(filters, width), 3, padding="same", use_bias=not batchnorm)(x)
            if batchnorm:
                x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
        if dropout:
            x = layers.Dropout(dropout / 2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(_units(128, width), activation="relu")(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    # float32 output keeps softmax stable under mixed precision (as lib.models' heads)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg_small_norm")
