"""Named datasets: mnist, fashion-mnist, cifar10, cifar100, downloaded once into the cache and
read from their original files (`dlcli.datasets`), as uint8 pixels like image folders;
`boston_housing` as float32 features and float32 targets (regression: `--loss mse`).
`Dataset.fixed_test` holds the official test set, which the split keeps as its test part
(validation is carved from the official training set). `imdb` is text: `train lstm` reads it
through its own data hook (`dlcli.training.recurrent.load_data`)."""

from __future__ import annotations

from pathlib import Path

from dlcli.errors import InputError
from dlcli.training.config import DataConfig
from dlcli.training.data.dataset import Dataset
from dlcli.training.data.kinds import InputKind


def is_named(key: str) -> bool:
    from dlcli.datasets.registry import is_named as named

    return named(key)  # a standard dataset's name wins over a folder of that name


def load(config: DataConfig, source: str, path: Path, seed: int) -> Dataset:
    from dlcli.datasets.registry import get

    name = source.strip().lower()
    if get(name).kind == "table":
        if config.image_size is not None:
            raise InputError(
                f"--image-size resizes the images of an image folder; {name} is a table of "
                "numbers: drop --image-size"
            )
        return load_standard_table(name)
    return load_standard_images(name, config.image_size)


def load_standard_table(name: str) -> Dataset:
    """boston_housing from the cache (downloaded on first use): float32 features (N, F) and
    float32 targets (N, T) for regression, named; the official test rows in `fixed_test`."""
    import numpy as np

    from dlcli.datasets.api import load_table

    data = load_table(name)
    y = data.y.reshape(len(data.y), -1)
    return Dataset(
        x=np.ascontiguousarray(data.x, dtype=np.float32),
        y=np.ascontiguousarray(y, dtype=np.float32),
        class_names=[],
        name=name,
        feature_names=list(data.feature_names),
        target_names=list(data.target_names),
        fixed_test=data.test,
    )


def load_standard_images(name: str, image_size: tuple[int, int] | None = None) -> Dataset:
    """mnist, fashion-mnist, cifar10, cifar100 from the cache (downloaded on first use): uint8
    (N, C, H, W) pixels (`pixel_max` 255: the model sees [0, 1], as for image folders); the
    official test set in `fixed_test`."""
    from dlcli.datasets.api import load_images
    from dlcli.datasets.registry import get

    shape = get(name).shape
    if image_size is not None and shape is not None and tuple(image_size) != shape[1:]:
        raise InputError(
            f"--image-size resizes image folders; {name} images are {shape[1]}x{shape[2]} "
            "and are used as they are"
        )
    data = load_images(name)
    size = tuple(int(d) for d in data.x.shape[2:])
    channels = data.x.shape[1]
    return Dataset(
        x=data.x,  # uint8 (N, C, H, W): scaled to [0, 1] per batch, as image files are
        y=data.y,
        class_names=data.class_names,
        name=name,
        image_mode="L" if channels == 1 else "RGB",
        extra={"image_size": list(size)},
        fixed_test=data.test,
        pixel_max=255,
    )


KIND = InputKind("named", load=load, matches=is_named, takes_image_size=True)
