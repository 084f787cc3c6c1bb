#!/usr/bin/env python3
"""Convert a PyTorch ``pytorch_model.bin`` state dict to model.safetensors, safely.

A ``.bin`` written by ``torch.save`` (PyTorch >= 1.6) is a zip archive:

* ``<prefix>/data.pkl``  -- a pickle of the state dict; each tensor is
  ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``
  and each storage a persistent id ``("storage", torch.FloatStorage, key,
  location, numel)``;
* ``<prefix>/data/<key>`` -- the raw bytes of each storage;
* ``<prefix>/version`` (and, in newer files, ``byteorder``).

Unpickling arbitrary data can run arbitrary code, so this converter never
uses the normal unpickler: :class:`RestrictedUnpickler` resolves only the
handful of globals a state dict needs (OrderedDict, the tensor/parameter
rebuild functions, storage types, dtypes), each replaced by a harmless
stand-in written here; any other global is rejected by name before anything
is called.  torch is not needed.  Tensors are rebuilt with numpy from
(storage, offset, size, stride), made contiguous, and written with their
dtypes kept (F32/F16/BF16/I64/...) through safetensors_io.

Usage: convert_pytorch_bin.py IN.bin OUT.safetensors
"""

from __future__ import annotations

import argparse
import collections
import io
import lzma
import math
import os
import pickle
import pickletools
import reprlib
import sys
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import safetensors_io  # noqa: E402  (sibling module)

# The storages read and the tensors rebuilt from them may take at most this
# many times the file's size, plus MEMORY_SLACK bytes: torch.save stores
# storages uncompressed, and tied weights view one storage twice, while a
# hostile file could deflate a huge storage into a few kilobytes or view one
# storage from thousands of tensors (or with stride 0 and a huge size).
MEMORY_FACTOR = 4
MEMORY_SLACK = 64 << 20

# Pickle header of the legacy (non-zip, PyTorch < 1.6) format: protocol 2,
# then the magic number 0x1950a86a20f9469cfc6c as a LONG1.
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


class ConvertError(Exception):
    """The input cannot be converted; the message names the file and reason."""


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60


def _reason(error: BaseException) -> str:
    """An exception's message for ours (its type when it has none), at most
    300 characters."""
    return (str(error) or type(error).__name__)[:300]


def _show(value: object) -> str:
    """A short repr of a value from the pickle, for messages; never fails
    (values may be nested thousands deep, or ints of thousands of digits)."""
    try:
        return _SHORT.repr(value)
    except Exception:  # noqa: BLE001
        return f"<a {type(value).__name__}>"


@dataclass(frozen=True)
class ElementType:
    """A tensor element type: safetensors name and numpy storage dtype."""

    name: str
    numpy: np.dtype


ELEMENT_TYPES = {name: ElementType(name, dtype)
                 for name, dtype in safetensors_io.DTYPES.items()}

# torch storage classes -> element type ("U8" for untyped byte storages).
STORAGE_TYPES = {
    "FloatStorage": "F32", "DoubleStorage": "F64", "HalfStorage": "F16",
    "BFloat16Storage": "BF16", "LongStorage": "I64", "IntStorage": "I32",
    "ShortStorage": "I16", "CharStorage": "I8", "ByteStorage": "U8",
    "BoolStorage": "BOOL", "UntypedStorage": "U8",
}

# torch dtype objects (pickled as globals torch.<name>) -> element type.
TORCH_DTYPES = {
    "float32": "F32", "float": "F32", "float64": "F64", "double": "F64",
    "float16": "F16", "half": "F16", "bfloat16": "BF16", "int64": "I64",
    "long": "I64", "int32": "I32", "int": "I32", "int16": "I16", "short": "I16",
    "int8": "I8", "uint8": "U8", "bool": "BOOL",
}


# ---------------------------------------------------------------------------
# Stand-ins for the objects a state-dict pickle refers to
# ---------------------------------------------------------------------------

class _NoState:
    """Refuses pickle's BUILD opcode, which would otherwise set attributes."""

    __slots__ = ()

    def __setstate__(self, state):
        raise pickle.UnpicklingError(
            f"BUILD on a {type(self).__name__} is not allowed in a state dict")


class StorageType(_NoState):
    """Marker for a torch storage class such as torch.FloatStorage."""

    __slots__ = ("torch_name", "element")

    def __init__(self, torch_name: str, element: str):
        object.__setattr__(self, "torch_name", torch_name)
        object.__setattr__(self, "element", element)


class DType(_NoState):
    """Marker for a torch dtype object such as torch.float16."""

    __slots__ = ("element",)

    def __init__(self, element: str):
        object.__setattr__(self, "element", element)


class Storage(_NoState):
    """A storage read from the archive: a flat numpy array of its elements.

    ``charge(nbytes, what)`` counts memory against the archive's budget."""

    __slots__ = ("key", "data", "element", "charge")

    def __init__(self, key: str, data: np.ndarray, element: str, charge=None):
        self.key, self.data, self.element = key, data, element
        self.charge = charge


class Tensor(_NoState):
    """A rebuilt tensor: contiguous numpy data plus its safetensors dtype name."""

    __slots__ = ("data", "element")

    def __init__(self, data: np.ndarray, element: str):
        self.data, self.element = data, element


class StateDict(collections.OrderedDict):
    """OrderedDict whose pickled attributes (e.g. ``_metadata``) are kept aside.

    ``torch.save(model.state_dict())`` pickles the dict's ``_metadata``
    attribute with BUILD; only a plain dict of attributes is accepted and it
    is stored in ``pickled_attributes``, never set on the object.
    """

    def __setstate__(self, state):
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise pickle.UnpicklingError("BUILD on OrderedDict with a non-dict state")
        self.pickled_attributes = dict(state)


def _check_int(what: str, value: object, minimum: int = 0) -> int:
    """An int (not bool) >= minimum, or UnpicklingError."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise pickle.UnpicklingError(
            f"{what} must be an integer >= {minimum}, got {_show(value)}")
    return value


def _check_int_tuple(what: str, value: object) -> tuple[int, ...]:
    """A tuple of non-negative ints, or UnpicklingError."""
    if not isinstance(value, (tuple, list)):
        raise pickle.UnpicklingError(f"{what} must be a tuple, got {type(value).__name__}")
    return tuple(_check_int(what, v) for v in value)


def strided_copy(flat: np.ndarray, offset: int, size: tuple[int, ...],
                 stride: tuple[int, ...], charge=None) -> np.ndarray:
    """Elements of ``flat`` at offset + sum(i_k * stride_k), as a new C array.

    Bounds are checked before numpy looks at memory, and the copy's size is
    passed to ``charge(nbytes, what)`` (which raises when over budget) before
    it is made.
    """
    if len(size) != len(stride):
        raise pickle.UnpicklingError(
            f"tensor size {_show(size)} and stride {_show(stride)} have different lengths")
    numel = math.prod(size)
    if numel == 0:
        return np.zeros(size, dtype=flat.dtype)
    if charge is not None:
        charge(numel * flat.dtype.itemsize, f"a tensor of size {_show(size)}")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= flat.size:
        raise pickle.UnpicklingError(
            f"tensor (offset {_show(offset)}, size {_show(size)}, stride {_show(stride)})"
            f" reaches element {_show(last)} but its storage holds {flat.size}")
    item = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=size, strides=tuple(s * item for s in stride), writeable=False)
    return np.array(view, order="C", copy=True)


def _rebuild(storage: object, offset: object, size: object, stride: object,
             element: str | None = None) -> Tensor:
    """Common part of the tensor rebuild functions."""
    if not isinstance(storage, Storage):
        raise pickle.UnpicklingError(
            f"tensor storage must come from the archive, got {type(storage).__name__}")
    flat, kind = storage.data, storage.element
    if element is not None and element != kind:
        flat_bytes = flat.view(np.uint8)
        target = ELEMENT_TYPES[element].numpy
        usable = flat_bytes.size - flat_bytes.size % target.itemsize
        flat, kind = flat_bytes[:usable].view(target), element
    data = strided_copy(flat, _check_int("storage offset", offset),
                        _check_int_tuple("tensor size", size),
                        _check_int_tuple("tensor stride", stride), storage.charge)
    return Tensor(data, kind)


def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                      backward_hooks=None, metadata=None) -> Tensor:
    """Stand-in for torch._utils._rebuild_tensor_v2."""
    return _rebuild(storage, storage_offset, size, stride)


def rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                      dtype, metadata=None) -> Tensor:
    """Stand-in for torch._utils._rebuild_tensor_v3 (dtype given separately)."""
    if not isinstance(dtype, DType):
        raise pickle.UnpicklingError(f"tensor dtype must be a torch dtype, got {_show(dtype)}")
    return _rebuild(storage, storage_offset, size, stride, dtype.element)


def rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None) -> Tensor:
    """Stand-in for torch._utils._rebuild_parameter(_with_state): the tensor itself."""
    if not isinstance(data, Tensor):
        raise pickle.UnpicklingError(
            f"parameter data must be a tensor, got {type(data).__name__}")
    return data


def _allowed_globals() -> dict[tuple[str, str], object]:
    """Every (module, name) a state-dict pickle may name, with its stand-in."""
    allowed: dict[tuple[str, str], object] = {
        ("collections", "OrderedDict"): StateDict,
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter,
    }
    for name, element in STORAGE_TYPES.items():
        allowed[("torch", name)] = StorageType(name, element)
    allowed[("torch.storage", "UntypedStorage")] = StorageType("UntypedStorage", "U8")
    for name, element in TORCH_DTYPES.items():
        allowed[("torch", name)] = DType(element)
    return allowed


ALLOWED_GLOBALS = _allowed_globals()


# ---------------------------------------------------------------------------
# The archive and the restricted unpickler
# ---------------------------------------------------------------------------

class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only state-dict globals and archive storages."""

    def __init__(self, data: bytes, archive: "TorchArchive"):
        super().__init__(io.BytesIO(data))
        self.archive = archive

    def find_class(self, module: str, name: str):
        """Return the stand-in for an allowed global; reject anything else."""
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing global {module}.{name}: not something a state dict needs"
                " (the file may be malicious; nothing was executed)") from None

    def persistent_load(self, pid):
        """Resolve ('storage', type, key, location, numel) from the archive."""
        if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id {_show(pid)}")
        _, storage_type, key, location, numel = pid
        if not isinstance(storage_type, StorageType):
            raise pickle.UnpicklingError(f"persistent id names no storage type: {_show(pid)}")
        if not isinstance(key, str) or not isinstance(location, str):
            raise pickle.UnpicklingError(f"malformed storage key or location in {_show(pid)}")
        return self.archive.storage(key, storage_type.element,
                                    _check_int("storage size", numel))


class TorchArchive:
    """A torch.save zip archive: locates data.pkl and serves storages."""

    def __init__(self, path: str):
        self.path = path
        check_not_legacy(path)
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as e:
            raise ConvertError(f"{path}: not a readable zip archive: {_reason(e)}") from e
        self.file_size = os.path.getsize(path)
        self.memory_limit = MEMORY_FACTOR * self.file_size + MEMORY_SLACK
        self.memory_used = 0
        self.prefix = self._find_prefix()
        self.big_endian = self._byteorder() == "big"
        self.cache: dict[str, Storage] = {}

    def charge(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` about to be allocated; refuse past the budget."""
        self.memory_used += nbytes
        if self.memory_used > self.memory_limit:
            raise ConvertError(
                f"{self.path}: {what} would bring the memory this file needs past"
                f" {self.memory_limit} bytes ({MEMORY_FACTOR}x its size + {MEMORY_SLACK >> 20}"
                " MiB): refusing a zip bomb or a tensor larger than the data stored")

    def _find_prefix(self) -> str:
        """The archive's top folder: the one holding data.pkl (exactly one)."""
        candidates = [n[:-len("data.pkl")] for n in self.zip.namelist()
                      if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(candidates) != 1:
            raise ConvertError(
                f"{self.path}: expected exactly one <name>/data.pkl in the zip,"
                f" found {len(candidates)}: is this a torch.save file?")
        return candidates[0]

    def _read(self, member: str) -> bytes:
        """Bytes of one archive member (its declared size counted against the
        memory budget first), with a clear error if it is missing or broken."""
        try:
            info = self.zip.getinfo(member)
        except KeyError:
            raise ConvertError(
                f"{self.path}: the archive has no member {_show(member)}") from None
        if info.compress_size > self.file_size:
            raise ConvertError(f"{self.path}: member {_show(member)} claims {info.compress_size}"
                               f" bytes, more than the whole file ({self.file_size})")
        self.charge(info.file_size, f"member {_show(member)} ({info.file_size} bytes unpacked)")
        try:
            return self.zip.read(info)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, lzma.LZMAError,
                NotImplementedError, RuntimeError, ValueError, MemoryError) as e:
            # unsupported compression or zip version, encrypted, corrupt
            raise ConvertError(
                f"{self.path}: cannot read member {_show(member)}: {_reason(e)}") from e

    def _byteorder(self) -> str:
        """'little' (default) or 'big', from the optional byteorder record."""
        name = self.prefix + "byteorder"
        if name not in self.zip.namelist():
            return "little"
        value = self._read(name).decode("ascii", "replace").strip()
        if value not in ("little", "big"):
            raise ConvertError(f"{self.path}: byteorder record says {value!r}")
        return value

    def storage(self, key: str, element: str, numel: int) -> Storage:
        """Storage ``key`` as a flat array of ``numel`` elements (cached)."""
        if key in self.cache:
            cached = self.cache[key]
            if cached.element != element or cached.data.size < numel:
                raise pickle.UnpicklingError(
                    f"storage {_show(key)} is used with conflicting types")
            return cached
        dtype = ELEMENT_TYPES[element].numpy
        raw = self._read(f"{self.prefix}data/{key}")
        needed = numel * dtype.itemsize
        if len(raw) < needed:
            raise ConvertError(
                f"{self.path}: storage {_show(key)} holds {len(raw)} bytes but {_show(numel)}"
                f" x {element} need {_show(needed)} (truncated file?)")
        data = np.frombuffer(raw, dtype=dtype, count=numel)
        if self.big_endian and dtype.itemsize > 1:
            data = data.byteswap()
        storage = Storage(key, data, element, self.charge)
        self.cache[key] = storage
        return storage

    def load(self) -> dict:
        """Unpickle data.pkl with the restricted unpickler."""
        data = self._read(self.prefix + "data.pkl")
        try:
            check_pickle(data)
            return RestrictedUnpickler(data, self).load()
        except ConvertError:
            raise
        except MemoryError as e:
            # CPython allocates a BYTEARRAY8's declared length before reading it
            raise ConvertError(f"{self.path}: {self.prefix}data.pkl: a length in the pickle asks"
                               " for more memory than there is (corrupt or hostile)") from e
        except Exception as e:  # any failure inside the pickle is the file's fault
            raise ConvertError(
                f"{self.path}: {self.prefix}data.pkl: {_reason(e)}") from e


def check_pickle(data: bytes) -> None:
    """Walk the opcodes before anything is unpickled (pickletools parses,
    never calls): refuse what makes CPython's unpickler allocate from a
    number in the file -- a memo index past the opcodes read so far (memo
    slot 2**28 takes 4 GB), a FRAME longer than the data, a length field
    (e.g. BYTEARRAY8's, allocated before reading) past the end."""
    n_ops = 0
    try:
        for op, arg, pos in pickletools.genops(data):
            n_ops += 1
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and arg > n_ops:
                raise pickle.UnpicklingError(
                    f"memo index {arg} at byte {pos} is past the {n_ops} opcodes read so far")
            if op.name == "FRAME" and arg > len(data):
                raise pickle.UnpicklingError(
                    f"frame of {arg} bytes at byte {pos} is longer than the pickle")
    except ValueError as e:   # truncated, unknown opcode, malformed argument
        raise pickle.UnpicklingError(_reason(e)) from None


def check_not_legacy(path: str) -> None:
    """Reject missing files and the pre-1.6 non-zip formats with a clear message."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(LEGACY_MAGIC))
    except OSError as e:
        raise ConvertError(f"{path}: cannot read: {e.strerror or e}") from e
    if zipfile.is_zipfile(path):
        return
    if head.startswith(LEGACY_MAGIC):
        raise ConvertError(
            f"{path}: legacy (non-zip, PyTorch < 1.6) serialization format is not supported;"
            " re-save it with a recent torch.save, or download model.safetensors instead")
    if tarfile.is_tarfile(path):
        raise ConvertError(f"{path}: legacy tar-based PyTorch format is not supported")
    raise ConvertError(f"{path}: not a PyTorch zip checkpoint (starts with {head[:8]!r})")


# ---------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------

def read_state_dict(path: str) -> dict[str, Tensor]:
    """Load a .bin state dict as {name: Tensor} without executing pickle code."""
    archive = TorchArchive(path)
    obj = archive.load()
    if not isinstance(obj, dict):
        raise ConvertError(f"{path}: the pickle holds a {type(obj).__name__}, not a state dict")
    tensors: dict[str, Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ConvertError(f"{path}: state dict key {_show(key)} is not a string")
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            raise ConvertError(
                f"{path}: state dict key {_show(key)} is not valid Unicode (a lone surrogate)"
            ) from None
        if not isinstance(value, Tensor):
            raise ConvertError(
                f"{path}: state dict entry {_show(key)} is a {type(value).__name__}, not a tensor"
                " (only flat state dicts are supported)")
        tensors[key] = value
    if not tensors:
        raise ConvertError(f"{path}: the state dict holds no tensors")
    return tensors


def convert(in_path: str, out_path: str) -> dict[str, Tensor]:
    """Convert IN.bin to OUT.safetensors; returns the tensors written."""
    tensors = read_state_dict(in_path)
    safetensors_io.save(out_path, {k: t.data for k, t in tensors.items()},
                        metadata={"format": "pt"},
                        dtypes={k: t.element for k, t in tensors.items()})
    return tensors


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        description="Convert a PyTorch pytorch_model.bin (zip + pickle state dict) to"
                    " safetensors without executing any pickle code and without torch.")
    parser.add_argument("input", metavar="IN.bin", help="pytorch_model.bin to read")
    parser.add_argument("output", metavar="OUT.safetensors", help="file to write")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    try:
        tensors = convert(args.input, args.output)
    except (ConvertError, safetensors_io.SafetensorsError) as e:
        # one line, whatever the pickle's strings hold
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(e))
        print(f"error: {text}", file=sys.stderr)
        return 1
    if not args.quiet:
        total = sum(t.data.nbytes for t in tensors.values())
        kinds = sorted({t.element for t in tensors.values()})
        print(f"{args.output}: {len(tensors)} tensors ({', '.join(kinds)}),"
              f" {total / 1e6:.1f} MB, from {args.input}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
