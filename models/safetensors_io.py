#!/usr/bin/env python3
"""Read and write the safetensors file format with numpy only.

Layout of a safetensors file:

* 8 bytes: N, the header length, unsigned little-endian 64-bit;
* N bytes: a UTF-8 JSON object ``{name: {"dtype", "shape", "data_offsets":
  [begin, end]}, "__metadata__": {str: str}}`` (the metadata is optional);
  writers pad it with spaces so that the data starts 8-byte aligned;
* the data: every tensor row-major, little-endian, ``data_offsets`` relative
  to the first byte after the header.  Tensors are contiguous and cover the
  data region exactly (no holes, no overlap).

numpy has no bfloat16, so BF16 tensors are handled as their raw ``uint16``
bit patterns; :func:`bf16_to_f32` and :func:`f32_to_bf16` convert.  Reading
memory-maps the file; the arrays returned are read-only views.

Command line: ``safetensors_io.py FILE`` lists the tensors (``--help``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np

# safetensors dtype name -> numpy storage dtype (little-endian).  BF16 is kept
# as raw uint16 bits.
DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

# numpy dtype kind+size -> safetensors name, for arrays saved without an
# explicit dtype.  uint16 maps to U16: pass dtype "BF16" to store bf16 bits.
_NUMPY_TO_ST: dict[str, str] = {
    "f8": "F64", "f4": "F32", "f2": "F16",
    "i8": "I64", "i4": "I32", "i2": "I16", "i1": "I8",
    "u8": "U64", "u4": "U32", "u2": "U16", "u1": "U8", "b1": "BOOL",
}

MAX_HEADER_BYTES = 100 * 1024 * 1024
METADATA_KEY = "__metadata__"


class SafetensorsError(Exception):
    """A safetensors file is malformed or a request cannot be satisfied."""


@dataclass(frozen=True)
class TensorInfo:
    """One header entry: dtype name, shape and byte range in the data region."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        """Number of elements (1 for a scalar)."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Byte length of the tensor's data."""
        return self.end - self.begin


# ---------------------------------------------------------------------------
# bfloat16 helpers
# ---------------------------------------------------------------------------

def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """Widen raw bfloat16 bit patterns (uint16) to float32, exactly."""
    bits = np.asarray(bits, dtype=np.uint16)
    wide = bits.reshape(-1).astype(np.uint32) << np.uint32(16)
    return wide.view(np.float32).reshape(bits.shape)


def f32_to_bf16(values: np.ndarray) -> np.ndarray:
    """Round float32 values to bfloat16 (nearest, ties to even); uint16 bits.

    NaNs stay NaN (quiet, sign kept); infinities stay infinite.
    """
    values = np.asarray(values, dtype=np.float32)
    f = np.ascontiguousarray(values.reshape(-1))
    u = f.view(np.uint32)
    rounding = ((u >> np.uint32(16)) & np.uint32(1)) + np.uint32(0x7FFF)
    out = ((u + rounding) >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(f)
    if nan.any():
        out[nan] = ((u[nan] >> np.uint32(16)) | np.uint32(0x0040)).astype(np.uint16)
    return out.reshape(values.shape)


def to_float(array: np.ndarray, dtype: str, out_dtype=np.float32) -> np.ndarray:
    """Convert a tensor as returned by :meth:`SafeTensors.get` to floats.

    ``dtype`` is the safetensors dtype name; BF16 bits are widened first.
    """
    if dtype == "BF16":
        return bf16_to_f32(array).astype(out_dtype, copy=False)
    return np.asarray(array).astype(out_dtype)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    """json object hook: refuse duplicate keys instead of keeping the last."""
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _is_int(value: object) -> bool:
    """True for JSON integers (bool is not an integer here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_entry(path: str, name: str, entry: object) -> TensorInfo:
    """Validate one header entry and return its TensorInfo."""
    where = f"{path}: tensor {name!r}"
    if not isinstance(entry, dict):
        raise SafetensorsError(f"{where}: header entry is not an object")
    expected = {"dtype", "shape", "data_offsets"}
    if set(entry) != expected:
        missing = sorted(expected - set(entry))
        extra = sorted(set(entry) - expected)
        raise SafetensorsError(
            f"{where}: header entry must have exactly dtype, shape, data_offsets"
            f" (missing {missing}, unexpected {extra})")
    dtype = entry["dtype"]
    if dtype not in DTYPES:
        raise SafetensorsError(f"{where}: unsupported dtype {dtype!r}")
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise SafetensorsError(f"{where}: shape {shape!r} is not a list of non-negative integers")
    offsets = entry["data_offsets"]
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(_is_int(o) and o >= 0 for o in offsets)):
        raise SafetensorsError(f"{where}: data_offsets {offsets!r} is not [begin, end]")
    begin, end = offsets
    if end < begin:
        raise SafetensorsError(f"{where}: data_offsets end {end} is before begin {begin}")
    expected_bytes = math.prod(shape) * DTYPES[dtype].itemsize
    if end - begin != expected_bytes:
        raise SafetensorsError(
            f"{where}: shape {shape} x {dtype} needs {expected_bytes} bytes but"
            f" data_offsets [{begin}, {end}] hold {end - begin}")
    return TensorInfo(name, dtype, tuple(shape), begin, end)


def _parse_metadata(path: str, meta: object) -> dict[str, str]:
    """Validate the optional __metadata__ object (string to string)."""
    if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise SafetensorsError(f"{path}: __metadata__ must map strings to strings")
    return dict(meta)


def _check_layout(path: str, infos: list[TensorInfo], data_size: int) -> None:
    """Tensors must tile the data region exactly: no overlap, hole or excess."""
    position = 0
    for info in sorted(infos, key=lambda t: (t.begin, t.end)):
        if info.begin < position:
            raise SafetensorsError(
                f"{path}: tensor {info.name!r} at [{info.begin}, {info.end}] overlaps"
                f" the previous tensor (which ends at {position})")
        if info.begin > position:
            raise SafetensorsError(
                f"{path}: unused bytes [{position}, {info.begin}) before tensor {info.name!r}")
        position = info.end
    if position != data_size:
        if position > data_size:
            raise SafetensorsError(
                f"{path}: header describes {position} data bytes but the file holds only"
                f" {data_size} after the header (truncated?)")
        raise SafetensorsError(
            f"{path}: {data_size - position} trailing bytes after the last tensor")


def read_header(path: str) -> tuple[int, dict[str, TensorInfo], dict[str, str]]:
    """Read and strictly validate the header of a safetensors file.

    Returns (data_start, {name: TensorInfo}, metadata); ``data_start`` is the
    absolute file offset of the data region.  Raises SafetensorsError naming
    the file and the problem.
    """
    try:
        file_size = os.path.getsize(path)
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise SafetensorsError(
                    f"{path}: file is {file_size} bytes, too short for the 8-byte header length")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > file_size - 8:
                raise SafetensorsError(
                    f"{path}: header length {header_len} exceeds the file size {file_size}")
            if header_len > MAX_HEADER_BYTES:
                raise SafetensorsError(
                    f"{path}: header length {header_len} is over the {MAX_HEADER_BYTES}-byte limit")
            raw = f.read(header_len)
    except OSError as e:
        raise SafetensorsError(f"{path}: cannot read: {e.strerror or e}") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SafetensorsError(f"{path}: header is not valid UTF-8 ({e.reason})") from e
    if not text.startswith("{"):
        raise SafetensorsError(f"{path}: header does not start with a JSON object")
    try:
        header = json.loads(text, object_pairs_hook=_reject_duplicates)
    except ValueError as e:
        raise SafetensorsError(f"{path}: header is not valid JSON: {e}") from e
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    metadata: dict[str, str] = {}
    infos: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        if name == METADATA_KEY:
            metadata = _parse_metadata(path, entry)
        else:
            infos[name] = _parse_entry(path, name, entry)
    data_start = 8 + header_len
    _check_layout(path, list(infos.values()), file_size - data_start)
    return data_start, infos, metadata


class SafeTensors(Mapping):
    """A validated, memory-mapped safetensors file.

    Behaves as a read-only mapping name -> numpy array (BF16 as uint16 bits);
    ``info(name)`` gives dtype/shape/offsets and ``get_float(name)`` converts.
    """

    def __init__(self, path: str):
        self.path = str(path)
        self.data_start, self.infos, self.metadata = read_header(self.path)
        total = self.data_start + max((t.end for t in self.infos.values()), default=0)
        self._map = None
        if total > self.data_start:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r")

    def __getitem__(self, name: str) -> np.ndarray:
        info = self.info(name)
        storage = DTYPES[info.dtype]
        if info.nbytes == 0:
            return np.zeros(info.shape, dtype=storage)
        start = self.data_start + info.begin
        raw = self._map[start:start + info.nbytes]
        return raw.view(storage).reshape(info.shape)

    def __iter__(self):
        return iter(self.infos)

    def __len__(self) -> int:
        return len(self.infos)

    def info(self, name: str) -> TensorInfo:
        """The header entry of tensor ``name`` (KeyError naming the file)."""
        try:
            return self.infos[name]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor named {name!r}") from None

    def dtype(self, name: str) -> str:
        """The safetensors dtype name of tensor ``name``."""
        return self.info(name).dtype

    def get_float(self, name: str, out_dtype=np.float32) -> np.ndarray:
        """Tensor ``name`` converted to a float array (bf16 widened)."""
        return to_float(self[name], self.dtype(name), out_dtype)


def load(path: str) -> SafeTensors:
    """Open and validate a safetensors file (memory-mapped)."""
    return SafeTensors(path)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorSpec:
    """What the writer needs to lay out a tensor before its data exists."""

    name: str
    dtype: str
    shape: tuple[int, ...]


def dtype_name_of(array: np.ndarray) -> str:
    """The safetensors dtype name matching a numpy array's dtype."""
    key = f"{array.dtype.kind}{array.dtype.itemsize}"
    if key not in _NUMPY_TO_ST:
        raise SafetensorsError(f"numpy dtype {array.dtype} has no safetensors equivalent")
    return _NUMPY_TO_ST[key]


def _as_storage(name: str, array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Convert ``array`` to the contiguous little-endian bytes of ``spec``."""
    array = np.asarray(array)
    if tuple(array.shape) != spec.shape:
        raise SafetensorsError(
            f"tensor {name!r}: shape {tuple(array.shape)} differs from the declared {spec.shape}")
    if spec.dtype == "BF16" and array.dtype.kind == "f":
        array = f32_to_bf16(array)
    storage = DTYPES[spec.dtype]
    if storage.kind == "f" and array.dtype.kind == "f":
        array = array.astype(storage, copy=False)
    if array.dtype.kind != storage.kind or array.dtype.itemsize != storage.itemsize:
        raise SafetensorsError(
            f"tensor {name!r}: numpy dtype {array.dtype} cannot be stored as {spec.dtype}"
            " (convert it first)")
    return np.ascontiguousarray(array, dtype=storage)


def build_header(specs: Iterable[TensorSpec], metadata: Mapping[str, str] | None
                 ) -> tuple[bytes, list[tuple[TensorSpec, int, int]]]:
    """Lay out tensors in the given order; return (padded header, placements)."""
    header: dict[str, object] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise SafetensorsError("metadata keys and values must be strings")
        header[METADATA_KEY] = dict(metadata)
    placed: list[tuple[TensorSpec, int, int]] = []
    offset = 0
    for spec in specs:
        if spec.dtype not in DTYPES:
            raise SafetensorsError(f"tensor {spec.name!r}: unsupported dtype {spec.dtype!r}")
        if spec.name == METADATA_KEY or spec.name in header:
            raise SafetensorsError(f"tensor name {spec.name!r} is reserved or repeated")
        size = math.prod(spec.shape) * DTYPES[spec.dtype].itemsize
        header[spec.name] = {"dtype": spec.dtype, "shape": list(spec.shape),
                             "data_offsets": [offset, offset + size]}
        placed.append((spec, offset, offset + size))
        offset += size
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return raw, placed


def sort_specs(specs: Iterable[TensorSpec]) -> list[TensorSpec]:
    """Order tensors by element size (largest first), then name: keeps alignment."""
    return sorted(specs, key=lambda s: (-DTYPES[s.dtype].itemsize, s.name))


def save_streaming(path: str, specs: list[TensorSpec],
                   produce: Callable[[TensorSpec], np.ndarray],
                   metadata: Mapping[str, str] | None = None) -> None:
    """Write a safetensors file, asking ``produce(spec)`` for each tensor in turn.

    Only one tensor needs to be in memory at a time.  The file is written to
    ``path + ".tmp"`` and renamed at the end, so a failure leaves no partial
    file under ``path``.
    """
    header, placed = build_header(specs, metadata)
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(header)))
            f.write(header)
            for spec, begin, end in placed:
                data = _as_storage(spec.name, produce(spec), spec)
                if data.nbytes != end - begin:
                    raise SafetensorsError(f"tensor {spec.name!r}: produced the wrong size")
                if data.nbytes:
                    f.write(memoryview(data.reshape(-1)).cast("B"))
        os.replace(tmp, path)
    except OSError as e:
        raise SafetensorsError(f"{path}: cannot write: {e.strerror or e}") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(path: str, tensors: Mapping[str, np.ndarray],
         metadata: Mapping[str, str] | None = None,
         dtypes: Mapping[str, str] | None = None, sort: bool = True) -> None:
    """Write ``tensors`` (name -> numpy array) to a safetensors file.

    ``dtypes`` optionally gives the safetensors dtype per name (needed for
    BF16: pass float arrays, which are rounded, or uint16 bit patterns).
    With ``sort`` (default) tensors are laid out by element size, largest
    first, then by name (as the reference writer does), so that every tensor
    starts aligned to its element size; otherwise in the mapping's order.
    """
    dtypes = dict(dtypes or {})
    specs = []
    for name in tensors:
        array = np.asarray(tensors[name])
        dtype = dtypes.get(name) or dtype_name_of(array)
        specs.append(TensorSpec(name, dtype, tuple(array.shape)))
    if sort:
        specs = sort_specs(specs)
    save_streaming(path, specs, lambda spec: tensors[spec.name], metadata)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def _main(argv: list[str] | None = None) -> int:
    """List the tensors of safetensors files (validating them)."""
    parser = argparse.ArgumentParser(
        description="Validate safetensors files and list their tensors.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="safetensors file(s)")
    parser.add_argument("--stats", action="store_true",
                        help="also print min/max/mean of every tensor")
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        try:
            st = load(path)
        except SafetensorsError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 1
            continue
        print(f"{path}: {len(st)} tensors, metadata {st.metadata}")
        for name in st:
            info = st.info(name)
            line = f"  {name}  {info.dtype}  {list(info.shape)}"
            if args.stats and info.numel:
                v = st.get_float(name, np.float64)
                line += f"  min {v.min():.6g} max {v.max():.6g} mean {v.mean():.6g}"
            print(line)
    return status


if __name__ == "__main__":
    sys.exit(_main())
