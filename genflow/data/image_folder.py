"""A user's own images: ``data=image_folder data.path=<root>`` in torchvision's ImageFolder layout,

    <root>/<class name>/<any name>.png|.jpg|...

one folder per class (labels 0..K-1 in sorted folder-name order; the names are stored in the checkpoint).
Every image, at any resolution, is resized so that its shorter side is ``image_size`` and
center-cropped to ``image_size`` x ``image_size`` (torchvision's Resize + CenterCrop), converted to
``channels`` = 1 (grey) or 3 (RGB), and held in memory as uint8 like the other image sets
(genflow.data.images: data units [0, 1], the model's [-1, 1]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genflow.data.images import ImageDataModule
from genflow.errors import UserError


class ImageFolderDataModule(ImageDataModule):
    def __init__(self, path: str, image_size: int = 32, channels: int = 3, name: str = "image_folder",
                 hflip: bool = False, dequantize: bool = False, batch_size: int = 128, seed: int = 0, **images):
        super().__init__(name=name, hflip=hflip, dequantize=dequantize, batch_size=batch_size, seed=seed, **images)
        self.path = Path(str(path)).expanduser()
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise UserError(f"data.image_size={image_size!r} must be a positive integer (pixels)")
        if channels not in (1, 3):
            raise UserError(f"data.channels={channels!r} is not valid; choose one of 1 (grey), 3 (RGB)")
        self.image_size, self.channels = int(image_size), int(channels)
        self.class_names: list[str] | None = None

    def load_uint8(self):
        from PIL import Image, UnidentifiedImageError
        from torchvision import transforms
        from torchvision.datasets import ImageFolder

        key = f"data.path={str(self.path)!r}"
        if not self.path.is_dir():
            raise UserError(f"{key} is not a folder; give a folder with one sub-folder of images per class "
                            "(torchvision's ImageFolder layout)")
        try:
            folder = ImageFolder(str(self.path), loader=lambda p: p)  # paths; each image is opened below
        except FileNotFoundError as e:
            raise UserError(f"{key}: {str(e).splitlines()[0]} (expected <path>/<class>/<image>.png)") from None
        resize = transforms.Compose([transforms.Resize(self.image_size), transforms.CenterCrop(self.image_size)])
        mode = "L" if self.channels == 1 else "RGB"
        images = np.empty((len(folder), self.image_size, self.image_size, self.channels), dtype=np.uint8)
        for i, (file, _) in enumerate(folder.samples):
            try:
                with Image.open(file) as image:
                    images[i] = np.asarray(resize(image.convert(mode))).reshape(images.shape[1:])
            except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
                raise UserError(f"{key}: {file} is not a readable image ({type(e).__name__}: "
                                f"{str(e).splitlines()[0] if str(e) else ''})") from None
        self.class_names = list(folder.classes)
        labels = torch.as_tensor(folder.targets, dtype=torch.long)
        return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels, len(folder.classes)
