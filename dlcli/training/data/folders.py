"""Image folders and image files.

`DIR/` is an image folder `DIR/<class>/*.png|jpg` (the class-folder walk: `class_folders`),
resized to `--image-size` (default 32x32) with Pillow; for `predict`, a folder is every image
in it, and an image file is one input. Images keep the mode and size the model was trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dlcli.errors import InputError
from dlcli.training.config import DataConfig
from dlcli.training.data.dataset import Dataset
from dlcli.training.data.images import IMAGE_EXTENSIONS, image_files, image_mode, read_images
from dlcli.training.data.kinds import InputKind, RawInputs, Trained, check_shape
from dlcli.training.data.preprocess import as_model_values

if TYPE_CHECKING:
    import numpy as np

DEFAULT_IMAGE_SIZE = (32, 32)


def class_folders(folder: Path, skipped: list[str] | None = None) -> list[tuple[str, list[Path]]]:
    """(class name, its image files) per class folder that holds images, in name order; hidden
    folders are no classes. Entries that are not image files are named in `skipped`."""
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    per_class = [(d.name, image_files(d, skipped)) for d in classes]
    return [(name, files) for name, files in per_class if files]


def load_image_folder(folder: Path, size: tuple[int, int]) -> Dataset:
    import numpy as np

    if size[0] < 1 or size[1] < 1:
        raise InputError(f"invalid --image-size {size[0]}x{size[1]}: expected positive sizes")
    skipped: list[str] = []
    per_class = class_folders(folder, skipped)
    if not per_class:
        raise InputError(
            f"{folder}: no images found; expected DIR/<class>/*.png|jpg "
            f"({', '.join(IMAGE_EXTENSIONS)})"
        )
    if len(per_class) < 2:
        raise InputError(
            f"{folder}: only one class folder with images ('{per_class[0][0]}'); "
            "a classifier needs at least two"
        )
    paths = [p for _, files in per_class for p in files]
    labels = np.concatenate([np.full(len(files), i) for i, (_, files) in enumerate(per_class)])
    mode = image_mode(paths)
    x = read_images(paths, size, mode, source=str(folder))
    return Dataset(
        x=x,
        y=labels.astype(np.int64),
        class_names=[n for n, _ in per_class],
        name=str(folder),
        image_mode=mode,
        extra={"image_size": list(size), "notes": _skipped_note(skipped)},
        pixel_max=255,
    )


def _skipped_note(skipped: list[str]) -> list[str]:
    if not skipped:
        return []
    shown = "; ".join(skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
    return [f"skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} that are not "
            f"image files: {shown}"]  # fmt: skip


def load(config: DataConfig, source: str, path: Path, seed: int) -> Dataset:
    return load_image_folder(path, config.image_size or DEFAULT_IMAGE_SIZE)


def labelled(
    trained: Trained, source: str, path: Path, label: str | None
) -> tuple[np.ndarray, list[str]]:
    """evaluate --data DIR: the class folders' images, read as the model saw its own."""
    files = [(name, p) for name, found in class_folders(path) for p in found]
    if not files:
        raise InputError(f"{path}: no images found in DIR/<class>/*.png|jpg")
    h, w = trained.data.image_size or DEFAULT_IMAGE_SIZE
    x = read_images([p for _, p in files], (h, w), trained.image_mode or "L")
    if trained.pixel_max is None:  # a model of float arrays: image files read as [0, 1]
        x = as_model_values(x, 255)
    return x, [name for name, _ in files]


def folder_inputs(trained: Trained, path: Path) -> RawInputs:
    """predict DIR: every image in the folder."""
    found = image_files(path)
    if not found:
        raise InputError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
    return RawInputs(images=found)


def image_inputs(trained: Trained, path: Path) -> RawInputs:
    return RawInputs(images=[path])


def read_image_inputs(trained: Trained, images: list[Path]) -> np.ndarray:
    """Image files as the model saw its training images: (N, C, H, W), same mode and size."""
    if len(trained.sample_shape) != 3:
        raise InputError("this model was not trained on images; give .csv or .npz input")
    if trained.image_mode is None:  # e.g. digits: 8x8 ink counts 0..16, not image files
        raise InputError(
            f"this model was trained on '{trained.data.source}' arrays, not on image files; "
            "give its inputs as .npz or CSV rows"
        )
    size = (trained.sample_shape[1], trained.sample_shape[2])
    x = read_images(images, size, trained.image_mode)
    check_shape(trained, x, str(images[0]))
    return x if trained.pixel_max is not None else as_model_values(x, 255)


FOLDER = InputKind(
    "folder",
    load=load,
    labelled=labelled,
    inputs=folder_inputs,
    folder=True,
    takes_image_size=True,
)
IMAGE = InputKind("image", inputs=image_inputs, suffixes=IMAGE_EXTENSIONS)
