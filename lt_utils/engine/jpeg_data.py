"""Read a data set kept as JPEG files in one folder per class (``cifar10_jpeg``).

The files are read from the zip ``<data dir>/<folder>/<archive>`` (members
``{train,test}/<class>/NNNN.jpg``) or, where there is no zip, from the same tree unpacked in
``<data dir>/<folder>``. Each split is decoded once with PIL into a checked cache file
(:mod:`lt_utils.engine.decoded_cache`); later loads read the cache.

Checksums: the published archive's sha256 and size are recorded in :data:`CIFAR10_JPEG`. An
archive of exactly that size must have that checksum, so a damaged or altered copy of it is
refused by name. Any other archive, or an unpacked folder, must hold the published contents:
each split's images, their labels and their bytes, in order (``JpegCopy.contents_sha256``),
whatever its packing; a copy with images moved between classes, or other images, is refused,
unless it is registered as a copy of one's own (``contents_sha256=None``, under a name of its
own, so that its results get keys of their own). The structure is checked for every archive and
folder: exactly the registered class folders, ``per_class`` images in each, every
zip member intact (its CRC) and every file decoding as a JPEG of the registered size in RGB. A
truncated copy of the published archive has lost its zip directory, and is refused as truncated.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lt_utils.atomic import file_hash
from lt_utils.engine.decoded_cache import Decoded, load_cached
from lt_utils.errors import DamagedFileError, DataUnavailableError

SPLITS = {True: "train", False: "test"}
_FILE = re.compile(r"\d+\.jpe?g")
_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


@dataclass(frozen=True)
class JpegCopy:
    """A data set stored as JPEG files by class; :meth:`read` returns one split."""

    name: str  # registry name (in messages and the cache's file name)
    folder: str  # its folder under the data directory
    archive: str  # the zip's file name in that folder
    classes: tuple[str, ...]  # class folder names, in label order 0, 1, ...
    per_class: dict[str, int] = field(default_factory=lambda: {"train": 5_000, "test": 1_000})  # images per class
    size: tuple[int, int] = (32, 32)  # (height, width) of every image
    sha256: str | None = None  # the published archive's checksum ...
    archive_bytes: int | None = None  # ... and its size: an archive of this size must have that checksum
    # the published copy's contents per split: sha256 over each image's label and file bytes, in order (None: a
    # copy of one's own, which must then be registered under a name of its own, so its results get their own key)
    contents_sha256: dict[str, str] | None = None
    progress: bool = True  # a tqdm bar while decoding

    def read(self, root: Path, train: bool) -> Decoded:
        """Images (uint8, N x 3 x H x W) and labels (int64) of one split, ordered by label then file
        name: from the cache, else decoded from the zip, else from the unpacked folder."""
        split = SPLITS[train]
        folder = Path(root) / self.folder
        archive = folder / self.archive
        if archive.exists():
            digest = self._checked_sha256(archive)
            source_id = f"zip:{digest}"
            decode: Callable[[], Decoded] = partial(self._decode_zip, archive, split, digest != self.sha256)
        elif (folder / split).is_dir():
            files = self._folder_files(folder, split)
            listing = "\n".join(f"{member}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for member, p in files)
            source_id = f"folder:{hashlib.sha256(listing.encode()).hexdigest()}"
            decode = partial(self._decode, files, folder, Path.read_bytes, split)
        else:
            raise DataUnavailableError(
                f"{self.name} is not in {root}: looked for the archive {archive} and for the unpacked folder "
                f"{folder / split}. This copy cannot be downloaded: put {self.archive} into {folder}, or point "
                f"data_dir / $LT_DATA_DIR at a folder that holds {self.folder}/{self.archive}.")
        return load_cached(folder, f"{self.name}-{split}", source_id, decode)

    def _checked_sha256(self, archive: Path) -> str:
        """The archive's sha256, after refusing a damaged copy of the published archive."""
        actual = file_hash(archive)
        if self.sha256 is not None and archive.stat().st_size == self.archive_bytes and actual != self.sha256:
            raise DamagedFileError(f"{archive} is damaged: its sha256 is {actual}, the published {self.archive}'s "
                                   f"is {self.sha256} (same size, different bytes)")
        return actual

    def _check_contents(self, where: Path, split: str, digest: str) -> None:
        """Refuse a split whose contents (each image's label and bytes, in order) are not the published
        copy's: the same structure with images moved between classes, or other images, is another data set."""
        expected = (self.contents_sha256 or {}).get(split)
        if self.contents_sha256 is not None and digest != expected:
            raise DamagedFileError(
                f"{where} is not the published {self.name}: its {split} split's contents (labels and image "
                f"bytes) have the digest {digest}, the published copy's {expected}. A copy of your own is another "
                f"data set: register it under a name of its own (a JpegCopy with contents_sha256=None in "
                f"lt_utils.engine.data.DATASETS), so that its results get keys of their own")

    def _ordered(self, where: Path, split: str, names: list[str]) -> list[str]:
        """``names`` (``<class>/<file>``) checked against the classes and counts; sorted by label, file."""
        counts = dict.fromkeys(self.classes, 0)
        for name in names:
            cls, _, file = name.partition("/")
            if cls not in counts:
                raise DamagedFileError(f"{where}: unknown class folder {split}/{cls} (the classes are "
                                       f"{', '.join(self.classes)})")
            if not _FILE.fullmatch(file):
                raise DamagedFileError(f"{where}: unexpected file {split}/{name} (images are named NNNN.jpg)")
            counts[cls] += 1
        missing = [cls for cls, n in counts.items() if n == 0]
        if missing:
            raise DamagedFileError(f"{where} has no images for class(es) {', '.join(missing)} in {split}/")
        expected = self.per_class[split]
        wrong = [f"{cls} has {n:,}" for cls, n in counts.items() if n != expected]
        if wrong:
            raise DamagedFileError(f"{where}: wrong image counts in {split}/: {', '.join(wrong)}; "
                                   f"each class must have {expected:,}")
        rank = {cls: i for i, cls in enumerate(self.classes)}
        return sorted(names, key=lambda name: (rank[name.partition("/")[0]], name))

    def _decode_zip(self, archive: Path, split: str, check: bool = True) -> Decoded:
        try:
            handle = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError) as error:
            size = archive.stat().st_size
            published = (f"; the published {self.archive} has {self.archive_bytes:,}"
                         if self.archive_bytes and size < self.archive_bytes else "")
            raise DamagedFileError(f"{archive} is truncated or not a zip archive: {size:,} bytes{published}, "
                                   f"and no readable zip directory at its end ({error})") from error
        with handle:
            infos = {info.filename.removeprefix(f"{split}/"): info for info in handle.infolist()
                     if info.filename.startswith(f"{split}/") and not info.is_dir()}
            members = [(f"{split}/{name}", infos[name]) for name in self._ordered(archive, split, list(infos))]
            return self._decode(members, archive, handle.read, split if check else None)

    def _folder_files(self, folder: Path, split: str) -> list[tuple[str, Path]]:
        """The unpacked split's image files, checked and ordered as in the zip."""
        files = {}
        for entry in sorted((folder / split).iterdir()):
            if not entry.is_dir():
                raise DamagedFileError(f"{entry}: unexpected file (only class folders belong in {folder / split})")
            files |= {f"{entry.name}/{path.name}": path for path in entry.iterdir()}
        return [(f"{split}/{name}", files[name]) for name in self._ordered(folder, split, list(files))]

    def _decode(self, members: list[tuple[str, Any]], where: Path, read: Callable[[Any], bytes],
                check_split: str | None = None) -> Decoded:
        """Decode ``members`` (``(member name, handle)``; ``read(handle)`` gives its bytes); with
        ``check_split``, refuse contents that are not the published copy's split (``_check_contents``)."""
        from PIL import Image
        from tqdm import tqdm

        height, width = self.size
        images = np.empty((len(members), height, width, 3), dtype=np.uint8)
        labels = np.empty(len(members), dtype=np.int64)
        rank = {cls: i for i, cls in enumerate(self.classes)}
        contents = hashlib.sha256()
        for i, (member, handle) in enumerate(tqdm(members, desc=f"{self.name}: decoding JPEGs", unit="img",
                                                  disable=not self.progress, mininterval=1.0)):
            try:
                data = read(handle)
            except _UNREADABLE as error:
                raise DamagedFileError(f"{where}: {member} cannot be read ({type(error).__name__}: {error})") from error
            try:
                with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
                    image.load()
                    mode, (w, h) = image.mode, image.size
                    if (mode, h, w) == ("RGB", height, width):
                        images[i] = np.asarray(image)
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
                raise DamagedFileError(f"{where}: {member} is not a decodable JPEG "
                                       f"({type(error).__name__}: {error})") from error
            if (mode, h, w) != ("RGB", height, width):
                raise DamagedFileError(f"{where}: {member} is a {w}x{h} {mode} image; expected {width}x{height} RGB")
            labels[i] = rank[member.split("/")[1]]
            contents.update(labels[i].tobytes() + hashlib.sha256(data).digest())
        if check_split is not None:
            self._check_contents(where, check_split, contents.hexdigest())
        return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

CIFAR10_JPEG = JpegCopy(
    name="cifar10_jpeg", folder="CIFAR-10-JPEG", archive="cifar10-jpeg.zip", classes=CIFAR10_CLASSES,
    sha256="d04893ead3171e906e171cb9bc629b66a9d3f5cd36676564a009658746d75a46", archive_bytes=62_190_935,
    contents_sha256={"train": "d6674eb355633450568b157d818742eb0231892004890ab01e14ea2db232387e",
                     "test": "b871ea8e2c6590a51e2d5d67515ddbb451799610d50d1befb514136819b3094b"})
"""CIFAR-10 re-encoded as JPEG (quality 75, 4:2:0): 5,000 train and 1,000 test images per class."""
