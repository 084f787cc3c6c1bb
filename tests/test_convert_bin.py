#!/usr/bin/env python3
"""Tests of models/convert_pytorch_bin.py (and the safetensors_io it writes with).

* Round trips: a tiny CLIP checkpoint from models/make_clip_checkpoint.py is
  written as a pytorch_model.bin -- by hand (zip + protocol-2 pickle opcodes,
  so this runs without torch) and, if python3-torch is installed, with
  torch.save -- converted with the CLI, and every tensor compared bit for bit
  (F32, F16, BF16, int64 position_ids; non-contiguous strides, shared
  storages, Parameters, the _metadata attribute, big-endian byte order).
* Malicious pickles naming os.system, posix.system, builtins.eval, ... are
  rejected with the global named and nothing executed: each payload is first
  shown to create a marker file under the plain unpickler (in a child
  process), then the converter must fail and the marker must not exist.
* Bad inputs (legacy format, not a zip, missing members, truncated storages,
  out-of-bounds strides, non-tensor entries) fail with clear messages.
* safetensors_io rejects malformed headers and round-trips every dtype.

Run: /usr/bin/python3 tests/test_convert_bin.py   (prints "N passed, M failed")
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import traceback
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
sys.path.insert(0, str(MODELS))
import safetensors_io  # noqa: E402

CONVERTER = MODELS / "convert_pytorch_bin.py"
MAKER = MODELS / "make_clip_checkpoint.py"
STORAGE_CLASS = {"F32": "FloatStorage", "F16": "HalfStorage", "BF16": "BFloat16Storage",
                 "I64": "LongStorage", "I32": "IntStorage", "F64": "DoubleStorage",
                 "U8": "ByteStorage"}

try:
    import torch  # Debian python3-torch, optional
except Exception:  # noqa: BLE001  (a broken torch install counts as absent)
    torch = None


# ---------------------------------------------------------------------------
# A minimal protocol-2 pickle writer (opcodes written by hand)
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Global:
    """A module-level name, emitted with the GLOBAL opcode."""

    module: str
    name: str


@dataclass(frozen=True)
class Call:
    """func(*args), emitted as func, args tuple, REDUCE."""

    func: object
    args: tuple


@dataclass(frozen=True)
class PersId:
    """A persistent id tuple, emitted with BINPERSID."""

    pid: tuple


@dataclass
class Dict:
    """A dict; ``factory`` (a Global) builds it by REDUCE, else EMPTY_DICT.
    ``state`` is applied with BUILD."""

    items: list
    factory: Global | None = None
    state: object = None


ORDERED_DICT = Global("collections", "OrderedDict")


class PickleWriter:
    """Emits protocol-2 opcodes for the small object language above."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")          # PROTO 2
        self.memo: dict[tuple, int] = {}

    def _memo_put(self, key: tuple) -> None:
        index = len(self.memo)
        self.memo[key] = index
        self.out += b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index)

    def _memo_get(self, index: int) -> None:
        self.out += b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index)

    def emit(self, value: object) -> None:
        """Append the opcodes that push ``value``."""
        if isinstance(value, bool):
            self.out += b"\x88" if value else b"\x89"          # NEWTRUE / NEWFALSE
        elif isinstance(value, int):
            self._int(value)
        elif isinstance(value, str):
            raw = value.encode("utf-8")
            self.out += b"X" + struct.pack("<I", len(raw)) + raw   # BINUNICODE
        elif isinstance(value, tuple):
            self._tuple(value)
        elif isinstance(value, Global):
            key = ("global", value.module, value.name)
            if key in self.memo:
                self._memo_get(self.memo[key])
            else:
                self.out += f"c{value.module}\n{value.name}\n".encode("ascii")
                self._memo_put(key)
        elif isinstance(value, Call):
            self.emit(value.func)
            self.emit(value.args)
            self.out += b"R"                                    # REDUCE
        elif isinstance(value, PersId):
            self.emit(value.pid)
            self.out += b"Q"                                    # BINPERSID
        elif isinstance(value, Dict):
            self._dict(value)
        else:
            raise TypeError(f"cannot emit {type(value).__name__}")

    def _int(self, v: int) -> None:
        if 0 <= v < 256:
            self.out += b"K" + bytes([v])                       # BININT1
        elif 0 <= v < 65536:
            self.out += b"M" + struct.pack("<H", v)             # BININT2
        elif -2 ** 31 <= v < 2 ** 31:
            self.out += b"J" + struct.pack("<i", v)             # BININT
        else:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            self.out += b"\x8a" + bytes([len(raw)]) + raw       # LONG1

    def _tuple(self, items: tuple) -> None:
        if not items:
            self.out += b")"                                    # EMPTY_TUPLE
            return
        if len(items) > 3:
            self.out += b"("                                    # MARK
        for item in items:
            self.emit(item)
        self.out += {1: b"\x85", 2: b"\x86", 3: b"\x87"}.get(len(items), b"t")

    def _dict(self, d: Dict) -> None:
        if d.factory is not None:
            self.emit(Call(d.factory, ()))
        else:
            self.out += b"}"                                    # EMPTY_DICT
        if d.items:
            self.out += b"("                                    # MARK
            for key, value in d.items:
                self.emit(key)
                self.emit(value)
            self.out += b"u"                                    # SETITEMS
        if d.state is not None:
            self.emit(d.state)
            self.out += b"b"                                    # BUILD

    def finish(self, value: object) -> bytes:
        """The complete pickle of ``value``."""
        self.emit(value)
        self.out += b"."                                        # STOP
        return bytes(self.out)


def tensor_call(storage_class: str, key: str, numel: int, offset: int,
                size: tuple, stride: tuple, parameter: bool = False) -> Call:
    """The pickle expression torch.save writes for one tensor."""
    storage = PersId(("storage", Global("torch", storage_class), key, "cpu", numel))
    tensor = Call(Global("torch._utils", "_rebuild_tensor_v2"),
                  (storage, offset, size, stride, False, Call(ORDERED_DICT, ())))
    if parameter:
        return Call(Global("torch._utils", "_rebuild_parameter"),
                    (tensor, False, Call(ORDERED_DICT, ())))
    return tensor


def c_strides(shape: tuple) -> tuple:
    """Element strides of a C-contiguous array of ``shape``."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


@dataclass
class BinLayout:
    """How write_bin lays tensors out in storages."""

    transposed: set = field(default_factory=set)   # 2-D names stored as their transpose
    shared: set = field(default_factory=set)       # names packed into one storage per dtype
    parameters: set = field(default_factory=set)   # names wrapped in _rebuild_parameter
    metadata: bool = False                         # BUILD {"_metadata": ...} like torch
    big_endian: bool = False                       # byteorder record "big"
    prefix: str = "archive"


def write_bin(path: Path, tensors: dict[str, tuple[np.ndarray, str]], layout: BinLayout) -> None:
    """Write {name: (array, safetensors dtype)} as a torch.save-style zip by hand."""
    storages: dict[str, bytearray] = {}
    items = []
    shared_keys: dict[str, str] = {}

    def add_storage(data: np.ndarray, key: str | None = None) -> tuple[str, int]:
        raw = data.astype(data.dtype.newbyteorder(">" if layout.big_endian else "<")).tobytes()
        if key is None:
            key = str(len(storages))
            storages[key] = bytearray()
        offset = len(storages[key]) // data.dtype.itemsize
        storages[key] += raw
        return key, offset

    for name, (array, dtype) in tensors.items():
        shape = tuple(array.shape)
        if name in layout.transposed and array.ndim == 2:
            key, offset = add_storage(np.ascontiguousarray(array.T))
            stride = (1, shape[0])
        elif name in layout.shared:
            key, offset = add_storage(array.reshape(-1), shared_keys.get(dtype))
            shared_keys[dtype] = key
            stride = c_strides(shape)
        else:
            key, offset = add_storage(array.reshape(-1))
            stride = c_strides(shape)
        items.append((name, key, dtype, offset, shape, stride))
    entries = []
    for name, key, dtype, offset, shape, stride in items:
        numel = len(storages[key]) // safetensors_io.DTYPES[dtype].itemsize
        entries.append((name, tensor_call(STORAGE_CLASS[dtype], key, numel, offset, shape,
                                          stride, name in layout.parameters)))
    state = None
    if layout.metadata:
        state = Dict([("_metadata", Dict([("", Dict([("version", 1)]))], ORDERED_DICT))])
    pickle_bytes = PickleWriter().finish(Dict(entries, ORDERED_DICT, state))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{layout.prefix}/data.pkl", pickle_bytes)
        if layout.big_endian:
            z.writestr(f"{layout.prefix}/byteorder", "big")
        for key, raw in storages.items():
            z.writestr(f"{layout.prefix}/data/{key}", bytes(raw))
        z.writestr(f"{layout.prefix}/version", "3\n")


def write_payload_bin(path: Path, payload: object, storages: dict[str, bytes] | None = None
                      ) -> None:
    """A .bin whose data.pkl is ``payload`` (a pickle expression), plus storages."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", PickleWriter().finish(payload))
        for key, raw in (storages or {}).items():
            z.writestr(f"archive/data/{key}", raw)
        z.writestr("archive/version", "3\n")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def run(*args: object) -> subprocess.CompletedProcess:
    """Run a command with this interpreter; capture text output."""
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def make_checkpoint(folder: Path, *extra: str) -> dict[str, tuple[np.ndarray, str]]:
    """Tiny CLIP checkpoint via the writer CLI; returns {name: (array, dtype)}."""
    result = run(MAKER, "--preset", "tiny", "--vocab-size", "600", "--seed", "7", *extra, folder)
    assert result.returncode == 0, f"make_clip_checkpoint failed: {result.stderr}"
    st = safetensors_io.load(str(folder / "model.safetensors"))
    return {name: (np.array(st[name]), st.dtype(name)) for name in st}


def convert(tmp: Path, bin_path: Path) -> subprocess.CompletedProcess:
    """Run the converter CLI on bin_path, writing next to it."""
    return run(CONVERTER, bin_path, bin_path.with_suffix(".safetensors"))


def assert_same(expected: dict[str, tuple[np.ndarray, str]], path: Path) -> None:
    """Every tensor of ``path`` equals ``expected`` bit for bit, dtype and shape too."""
    st = safetensors_io.load(str(path))
    assert set(st) == set(expected), (
        f"tensor names differ: missing {sorted(set(expected) - set(st))[:3]},"
        f" extra {sorted(set(st) - set(expected))[:3]}")
    for name, (array, dtype) in expected.items():
        got = st[name]
        assert st.dtype(name) == dtype, f"{name}: dtype {st.dtype(name)}, expected {dtype}"
        assert got.shape == array.shape, f"{name}: shape {got.shape}, expected {array.shape}"
        assert got.tobytes() == np.ascontiguousarray(array).tobytes(), f"{name}: values differ"


def assert_fails(result: subprocess.CompletedProcess, *needles: str) -> None:
    """Non-zero exit and every needle in stderr."""
    assert result.returncode != 0, f"expected failure, got exit 0: {result.stdout}"
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in error message: {result.stderr!r}"
    assert "Traceback" not in result.stderr, f"crashed: {result.stderr}"


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

TESTS = []


class Skip(Exception):
    """Raised by a test that cannot run here (reported, not counted as a failure)."""


def test(func):
    """Register a test function (it receives a fresh temporary folder)."""
    TESTS.append(func)
    return func


@test
def handmade_f32_round_trip(tmp: Path) -> None:
    tensors = make_checkpoint(tmp / "ck", "--with-position-ids")
    assert any(d == "I64" for _, d in tensors.values()), "no int64 position_ids"
    write_bin(tmp / "pytorch_model.bin", tensors, BinLayout())
    result = convert(tmp, tmp / "pytorch_model.bin")
    assert result.returncode == 0, result.stderr
    assert_same(tensors, tmp / "pytorch_model.safetensors")


@test
def handmade_f16_and_bf16_round_trip(tmp: Path) -> None:
    for dtype in ("f16", "bf16"):
        tensors = make_checkpoint(tmp / dtype, "--dtype", dtype)
        bin_path = tmp / f"{dtype}.bin"
        write_bin(bin_path, tensors, BinLayout(prefix=dtype))
        result = convert(tmp, bin_path)
        assert result.returncode == 0, result.stderr
        assert_same(tensors, bin_path.with_suffix(".safetensors"))


@test
def handmade_strides_shared_parameters_metadata(tmp: Path) -> None:
    tensors = make_checkpoint(tmp / "ck", "--with-position-ids")
    names = sorted(tensors)
    two_d = [n for n in names if tensors[n][0].ndim == 2]
    layout = BinLayout(transposed=set(two_d[::2]), shared=set(names[1::3]),
                       parameters=set(names[::4]), metadata=True, prefix="pytorch_model")
    write_bin(tmp / "pytorch_model.bin", tensors, layout)
    result = convert(tmp, tmp / "pytorch_model.bin")
    assert result.returncode == 0, result.stderr
    assert_same(tensors, tmp / "pytorch_model.safetensors")


@test
def handmade_big_endian_byteorder(tmp: Path) -> None:
    tensors = make_checkpoint(tmp / "ck", "--with-position-ids", "--dtype", "f16")
    write_bin(tmp / "big.bin", tensors, BinLayout(big_endian=True, transposed={
        "text_projection.weight"}))
    result = convert(tmp, tmp / "big.bin")
    assert result.returncode == 0, result.stderr
    assert_same(tensors, tmp / "big.safetensors")


@test
def handmade_file_loads_in_torch(tmp: Path) -> None:
    """Cross-check of the hand-written format itself (skipped without torch)."""
    if torch is None:
        raise Skip("python3-torch not installed")
    tensors = make_checkpoint(tmp / "ck", "--with-position-ids")
    names = sorted(tensors)
    layout = BinLayout(transposed={n for n in names if tensors[n][0].ndim == 2},
                       shared=set(names[::3]), parameters=set(names[::5]), metadata=True)
    write_bin(tmp / "h.bin", tensors, layout)
    loaded = torch.load(tmp / "h.bin")
    assert list(loaded) == list(tensors), "torch sees different names"
    for name, (array, _) in tensors.items():
        assert np.array_equal(loaded[name].contiguous().numpy(), array), f"{name} differs in torch"
    assert getattr(loaded, "_metadata", None) == {"": {"version": 1}}, "metadata lost"


def to_torch(array: np.ndarray, dtype: str):
    """numpy array (BF16 as uint16 bits) to a torch tensor with the same bits."""
    if dtype == "BF16":
        return torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(array.copy())


@test
def torch_save_round_trip(tmp: Path) -> None:
    if torch is None:
        raise Skip("python3-torch not installed")
    import collections
    for dtype in ("f32", "f16", "bf16"):
        tensors = make_checkpoint(tmp / dtype, "--dtype", dtype, "--with-position-ids")
        state = collections.OrderedDict()
        for i, (name, (array, st_dtype)) in enumerate(tensors.items()):
            t = to_torch(array, st_dtype)
            if t.dim() == 2 and i % 2:
                t = t.t().contiguous().t()                   # non-contiguous strides
            if i % 3 == 0:
                t = torch.nn.Parameter(t, requires_grad=False)
            state[name] = t
        # a view into another tensor's storage (offset > 0, shared storage)
        big = to_torch(*tensors["text_model.embeddings.token_embedding.weight"])
        state["extra.view"] = big[5:9, 3:7]
        expected = dict(tensors)
        expected["extra.view"] = (np.ascontiguousarray(
            tensors["text_model.embeddings.token_embedding.weight"][0][5:9, 3:7]),
            tensors["text_model.embeddings.token_embedding.weight"][1])
        state._metadata = collections.OrderedDict({"": {"version": 1}})
        bin_path = tmp / f"pytorch_model_{dtype}.bin"
        torch.save(state, bin_path)
        result = convert(tmp, bin_path)
        assert result.returncode == 0, f"{dtype}: {result.stderr}"
        assert_same(expected, bin_path.with_suffix(".safetensors"))


# -- malicious pickles -------------------------------------------------------

def malicious_payloads(marker: Path) -> dict[str, object]:
    """Payloads that would create ``marker``, keyed by the global they name."""
    shell = f"touch '{marker}'"
    code = f"open({str(marker)!r}, 'w').close()"
    tensor_ok = tensor_call("FloatStorage", "0", 1, 0, (1,), (1,))
    return {
        "os.system": Call(Global("os", "system"), (shell,)),
        "posix.system": Call(Global("posix", "system"), (shell,)),
        "builtins.eval": Call(Global("builtins", "eval"), (code,)),
        "builtins.exec": Call(Global("builtins", "exec"), (code,)),
        "__builtin__.eval": Call(Global("__builtin__", "eval"), (code,)),
        "subprocess.call": Call(Global("subprocess", "call"), (("touch", str(marker)),)),
        # hidden inside an otherwise valid state dict, after a good tensor
        "os.system (in a state dict)": Dict(
            [("ok", tensor_ok), ("evil", Call(Global("os", "system"), (shell,)))],
            ORDERED_DICT),
        # hidden in the storage type of a persistent id
        "os.system (as storage type)": Dict([("x", Call(
            Global("torch._utils", "_rebuild_tensor_v2"),
            (PersId(("storage", Call(Global("os", "system"), (shell,)), "0", "cpu", 1)),
             0, (1,), (1,), False, Call(ORDERED_DICT, ()))))], ORDERED_DICT),
    }


def plain_unpickle_in_child(bin_path: Path) -> None:
    """Control: load data.pkl with the ordinary unpickler in a child process.

    Only torch's own globals are stubbed (torch may be absent); every other
    global resolves normally, as it would in an unprotected loader.
    """
    script = ("import pickle, sys, zipfile\n"
              "z = zipfile.ZipFile(sys.argv[1])\n"
              "class U(pickle.Unpickler):\n"
              "    def persistent_load(self, pid): return None\n"
              "    def find_class(self, module, name):\n"
              "        if module.split('.')[0] == 'torch': return lambda *a: None\n"
              "        return super().find_class(module, name)\n"
              "import io\n"
              "try:\n"
              "    U(io.BytesIO(z.read('archive/data.pkl'))).load()\n"
              "except Exception:\n"
              "    pass\n")
    subprocess.run([sys.executable, "-c", script, str(bin_path)], capture_output=True,
                   timeout=60)


@test
def malicious_globals_rejected(tmp: Path) -> None:
    marker = tmp / "PWNED"
    for label, payload in malicious_payloads(marker).items():
        global_name = label.split(" ")[0]
        bin_path = tmp / "evil.bin"
        write_payload_bin(bin_path, payload, {"0": bytes(4)})
        plain_unpickle_in_child(bin_path)
        assert marker.exists(), f"{label}: control payload did not create the marker"
        marker.unlink()
        result = convert(tmp, bin_path)
        assert_fails(result, global_name, str(bin_path))
        assert not marker.exists(), f"{label}: the converter executed the payload!"
        assert not bin_path.with_suffix(".safetensors").exists(), f"{label}: output written"


@test
def other_globals_rejected(tmp: Path) -> None:
    """Harmless-looking but unneeded globals are refused too, by name."""
    for module, name in (("torch", "load"), ("numpy", "frombuffer"), ("collections", "deque"),
                         ("torch._utils", "_rebuild_qtensor"), ("copyreg", "_reconstructor")):
        write_payload_bin(tmp / "g.bin", Call(Global(module, name), ()))
        assert_fails(convert(tmp, tmp / "g.bin"), f"{module}.{name}")


# -- bad inputs ----------------------------------------------------------------

@test
def legacy_format_rejected(tmp: Path) -> None:
    legacy = tmp / "legacy.bin"
    magic = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
    legacy.write_bytes(magic + b"\x80\x02M\xe9\x03.")
    assert_fails(convert(tmp, legacy), "legacy", str(legacy))
    if torch is not None:
        torch.save({"a": torch.zeros(3)}, tmp / "old.bin", _use_new_zipfile_serialization=False)
        assert_fails(convert(tmp, tmp / "old.bin"), "legacy")


@test
def bad_archives_rejected(tmp: Path) -> None:
    (tmp / "text.bin").write_text("hello, not a checkpoint\n")
    assert_fails(convert(tmp, tmp / "text.bin"), "not a PyTorch zip")
    assert_fails(convert(tmp, tmp / "missing.bin"), "missing.bin", "No such file")
    with zipfile.ZipFile(tmp / "nopkl.bin", "w") as z:
        z.writestr("archive/version", "3\n")
    assert_fails(convert(tmp, tmp / "nopkl.bin"), "data.pkl")
    ok = {"a": (np.arange(12, dtype=np.float32).reshape(3, 4), "F32")}
    write_bin(tmp / "good.bin", ok, BinLayout())
    raw = (tmp / "good.bin").read_bytes()
    (tmp / "cut.bin").write_bytes(raw[: len(raw) // 2])
    assert_fails(convert(tmp, tmp / "cut.bin"), "cut.bin")


def rewrite_member(src: Path, dst: Path, member: str, data: bytes | None) -> None:
    """Copy a zip, replacing (or with None dropping) one member."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename == member:
                if data is not None:
                    zout.writestr(member, data)
            else:
                zout.writestr(info.filename, zin.read(info.filename))


@test
def bad_storages_rejected(tmp: Path) -> None:
    ok = {"a": (np.arange(12, dtype=np.float32).reshape(3, 4), "F32")}
    write_bin(tmp / "good.bin", ok, BinLayout())
    rewrite_member(tmp / "good.bin", tmp / "nostorage.bin", "archive/data/0", None)
    assert_fails(convert(tmp, tmp / "nostorage.bin"), "archive/data/0")
    rewrite_member(tmp / "good.bin", tmp / "short.bin", "archive/data/0", b"\0" * 20)
    assert_fails(convert(tmp, tmp / "short.bin"), "truncated")
    oob = Dict([("a", tensor_call("FloatStorage", "0", 12, 4, (3, 4), (4, 1)))], ORDERED_DICT)
    with zipfile.ZipFile(tmp / "oob.bin", "w") as z:
        z.writestr("archive/data.pkl", PickleWriter().finish(oob))
        z.writestr("archive/data/0", np.zeros(12, np.float32).tobytes())
    assert_fails(convert(tmp, tmp / "oob.bin"), "reaches element 15")
    notensor = Dict([("a", 3)], ORDERED_DICT)
    write_payload_bin(tmp / "int.bin", notensor)
    assert_fails(convert(tmp, tmp / "int.bin"), "'a'", "not a tensor")
    write_payload_bin(tmp / "empty.bin", Dict([], ORDERED_DICT))
    assert_fails(convert(tmp, tmp / "empty.bin"), "no tensors")
    write_payload_bin(tmp / "list.bin", (1, 2))
    assert_fails(convert(tmp, tmp / "list.bin"), "not a state dict")


# -- safetensors_io ------------------------------------------------------------

def raw_safetensors(path: Path, header: object, data: bytes, pad: bool = True) -> None:
    """Write a safetensors file with an arbitrary header."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def expect_st_error(path: Path, needle: str) -> None:
    """safetensors_io.load(path) raises SafetensorsError mentioning needle and path."""
    try:
        safetensors_io.load(str(path))
    except safetensors_io.SafetensorsError as e:
        assert needle in str(e), f"{path.name}: {needle!r} not in {str(e)!r}"
        assert str(path) in str(e), f"{path.name}: file not named in {str(e)!r}"
        return
    raise AssertionError(f"{path.name}: accepted a bad file (expected {needle!r})")


@test
def safetensors_rejects_bad_headers(tmp: Path) -> None:
    entry = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    data = bytes(16)
    cases = {
        "short": (None, b"\x01\x02"),
        "huge_len": (None, struct.pack("<Q", 1 << 40) + b"{}"),
        "truncated": ({"a": entry}, data[:8]),
        "trailing": ({"a": entry}, data + b"xx"),
        "size_lie": ({"a": {**entry, "shape": [2, 3]}}, data),
        "end_before_begin": ({"a": {**entry, "data_offsets": [16, 0]}}, data),
        "overlap": ({"a": entry, "b": {**entry, "shape": [2], "data_offsets": [8, 16]}}, data),
        "hole": ({"a": {**entry, "shape": [2], "data_offsets": [8, 16]}}, data),
        "dtype": ({"a": {**entry, "dtype": "F8_E9"}}, data),
        "shape": ({"a": {**entry, "shape": [-2, -2]}}, data),
        "keys": ({"a": {**entry, "extra": 1}}, data),
        "metadata": ({"__metadata__": {"a": 1}, "a": entry}, data),
        "not_object": ([1, 2], b""),
    }
    needles = {"short": "too short", "huge_len": "exceeds the file size",
               "truncated": "truncated", "trailing": "trailing bytes",
               "size_lie": "needs 24 bytes", "end_before_begin": "before begin",
               "overlap": "overlaps", "hole": "unused bytes", "dtype": "unsupported dtype",
               "shape": "non-negative", "keys": "unexpected", "metadata": "__metadata__",
               "not_object": "JSON object"}
    for name, (header, data_bytes) in cases.items():
        path = tmp / f"{name}.safetensors"
        if header is None:
            path.write_bytes(data_bytes)
        else:
            raw_safetensors(path, header, data_bytes)
        expect_st_error(path, needles[name])
    raw_safetensors(tmp / "dup.safetensors",
                    b'{"a":' + json.dumps(entry).encode() + b',"a":'
                    + json.dumps(entry).encode() + b"}", data)
    expect_st_error(tmp / "dup.safetensors", "duplicate")
    raw_safetensors(tmp / "json.safetensors", b'{"a": ', data)
    expect_st_error(tmp / "json.safetensors", "not valid JSON")
    raw_safetensors(tmp / "utf8.safetensors", b'{"\xff": 1}', data)
    expect_st_error(tmp / "utf8.safetensors", "UTF-8")


@test
def safetensors_round_trip_all_dtypes(tmp: Path) -> None:
    rng = np.random.default_rng(3)
    tensors = {
        "f64": rng.standard_normal((3, 5)), "f32": rng.standard_normal((7,)).astype(np.float32),
        "f16": rng.standard_normal((2, 3, 4)).astype(np.float16),
        "bf16": rng.integers(0, 65535, (4, 4)).astype(np.uint16),
        "i64": np.arange(-5, 5, dtype=np.int64), "i32": np.arange(6, dtype=np.int32),
        "i8": np.arange(-3, 3, dtype=np.int8), "u8": np.arange(9, dtype=np.uint8),
        "bool": np.array([True, False, True]), "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    path = tmp / "all.safetensors"
    safetensors_io.save(str(path), tensors, {"format": "pt"}, dtypes={"bf16": "BF16"})
    (header_len,) = struct.unpack("<Q", path.read_bytes()[:8])
    assert header_len % 8 == 0, f"header length {header_len} not 8-byte aligned"
    st = safetensors_io.load(str(path))
    assert st.metadata == {"format": "pt"}
    assert st.dtype("bf16") == "BF16" and st.dtype("u8") == "U8" and st.dtype("bool") == "BOOL"
    for name, array in tensors.items():
        assert st[name].shape == array.shape and st[name].tobytes() == array.tobytes(), name
        begin = st.data_start + st.info(name).begin
        assert begin % st[name].dtype.itemsize == 0, f"{name} is not aligned"


@test
def bf16_conversion(tmp: Path) -> None:
    values = np.array([1.0, -2.5, 1.00390625, 1.01171875, 3.0e38, np.inf, -np.inf, np.nan,
                       1e-40], dtype=np.float32)
    bits = safetensors_io.f32_to_bf16(values)
    # 1.00390625 = 1 + 2^-8 is a tie -> even (1.0); 1.01171875 = 1 + 3*2^-8 -> 1 + 2^-6
    expected = [0x3F80, 0xC020, 0x3F80, 0x3F82, 0x7F62, 0x7F80, 0xFF80]
    assert list(bits[:7]) == expected, [hex(b) for b in bits]
    assert np.isnan(safetensors_io.bf16_to_f32(bits[7:8]))[0]
    back = safetensors_io.bf16_to_f32(bits)
    assert back.dtype == np.float32 and back[0] == 1.0 and back[1] == -2.5
    if torch is not None:
        finite = values[np.isfinite(values)]
        ref = torch.from_numpy(finite).to(torch.bfloat16).view(torch.int16).numpy()
        got = safetensors_io.f32_to_bf16(finite).view(np.int16)
        assert np.array_equal(ref, got), "differs from torch's bfloat16 rounding"


# ---------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Run every test (or those matching -k); print a summary; exit non-zero on failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", metavar="TEXT", help="run only tests whose name contains TEXT")
    args = parser.parse_args(argv)
    passed = failed = skipped = 0
    print(f"torch: {'available ' + torch.__version__ if torch is not None else 'not installed'}")
    for func in TESTS:
        if args.k and args.k not in func.__name__:
            continue
        with tempfile.TemporaryDirectory(prefix="vlm-convert-") as tmp:
            try:
                func(Path(tmp))
            except Skip as e:
                skipped += 1
                print(f"skip {func.__name__}: {e}")
            except Exception as e:  # noqa: BLE001  (report every failure, keep going)
                failed += 1
                print(f"FAIL {func.__name__}: {e}")
                if not isinstance(e, AssertionError):
                    traceback.print_exc()
            else:
                passed += 1
                print(f"ok   {func.__name__}")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
