#!/usr/bin/env python3
"""Mutation fuzzer for models/convert_pytorch_bin.py (the restricted unpickler).

libFuzzer does not apply to Python, and atheris is not packaged by Debian,
so this is a seeded, bounded, self-contained mutation fuzzer:

* Seeds: valid ``torch.save``-style archives written here without torch (a
  zip with ``archive/data.pkl``, ``archive/data/<key>`` and ``archive/version``;
  F32/F16/BF16/F64/I64 storages, shared storages, strides, offsets,
  Parameters, ``_metadata``, big-endian records, empty and scalar tensors),
  and hostile pickles (os.system, posix.system, builtins.eval/exec/getattr/
  __import__, subprocess, INST/OBJ/NEWOBJ/STACK_GLOBAL/EXT opcodes, huge and
  negative numbers, deep nesting, memory bombs, odd zip members).
* Mutations: at the pickle-opcode level (ints and strings swapped for
  boundary values, globals for hostile or allowed ones, opcodes inserted,
  deleted, duplicated, swapped, deep nesting), at the byte level (flips,
  insertions, truncation of data.pkl or of the whole file), and at the zip
  level (compression, missing or truncated storages, repeated members,
  byteorder records).
* Feedback: an input whose outcome (exception type and message with the
  numbers and paths taken out) was not seen before joins the pool.

Every input goes through the converter's command line entry point
``main([IN, OUT, "-q"])``. Asserted for each:

1. it returns 0 (and OUT then reads back as valid safetensors) or 1 with one
   ``error: ...`` line naming IN or OUT -- never another exception escaping;
2. nothing was executed: a marker file the hostile payloads would create
   stays absent, and an audit hook sees no process, exec/compile, import,
   network, ctypes, file deletion or write outside OUT during conversion;
3. no memory bomb: the input adds less than --rss-mb to the peak RSS, and numpy
   is never asked for an array it cannot allocate (the process runs under an
   address-space limit, --memory-mb, so such a request fails and shows);
4. no hang: each input takes less than --timeout seconds.

A failing input is saved under --findings (default /tmp/fuzz-unpickler) with
its traceback, and the run exits 1. ``--replay PATH...`` runs saved inputs
(files or folders, e.g. tests/fuzz/regressions/unpickler) once each.

Usage:
  /usr/bin/python3 tests/fuzz_unpickler.py [--seconds 60] [--seed N]
  /usr/bin/python3 tests/fuzz_unpickler.py --replay tests/fuzz/regressions/unpickler
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pickletools
import random
import re
import resource
import signal
import struct
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

# Modules the converter's libraries import on first use (tarfile's
# compression probes, zipfile's and pickle's codecs): loaded now so that the audit
# hook can treat any import during a conversion as a finding.
import bz2  # noqa: E402,F401
import encodings.ascii  # noqa: E402,F401
import encodings.cp437  # noqa: E402,F401
import encodings.latin_1  # noqa: E402,F401
import encodings.raw_unicode_escape  # noqa: E402,F401  (pickle's UNICODE opcode)
import encodings.unicode_escape  # noqa: E402,F401
import gzip  # noqa: E402,F401
import lzma  # noqa: E402,F401
import tarfile  # noqa: E402,F401
import warnings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "models"))
import convert_pytorch_bin  # noqa: E402
import safetensors_io  # noqa: E402

OPS = {op.name: op for op in pickletools.opcodes}


# ---------------------------------------------------------------------------
# Pickles as opcode lists
# ---------------------------------------------------------------------------

def _encode_arg(kind: str, arg) -> bytes:
    """The bytes of one opcode argument (lengths follow the value given)."""
    if kind == "uint1":
        return bytes([arg & 0xFF])
    if kind == "uint2":
        return struct.pack("<H", arg & 0xFFFF)
    if kind == "int4":
        return struct.pack("<i", max(-2 ** 31, min(2 ** 31 - 1, arg)))
    if kind == "uint4":
        return struct.pack("<I", arg & 0xFFFFFFFF)
    if kind == "uint8":
        return struct.pack("<Q", arg & 0xFFFFFFFFFFFFFFFF)
    if kind in ("long1", "long4"):
        raw = b"" if arg == 0 else arg.to_bytes((arg.bit_length() + 8) // 8, "little",
                                                  signed=True)
        return (bytes([len(raw) & 0xFF]) if kind == "long1" else struct.pack("<i", len(raw))) + raw
    if kind in ("string1", "bytes1", "unicodestring1", "string4", "bytes4", "unicodestring4",
                "unicodestring8", "bytes8", "bytearray8"):
        raw = arg.encode("utf-8", "surrogatepass") if isinstance(arg, str) else bytes(arg)
        if kind.endswith("1"):
            return bytes([len(raw) & 0xFF]) + raw
        if kind == "string4":
            return struct.pack("<i", len(raw)) + raw
        if kind.endswith("4"):
            return struct.pack("<I", len(raw)) + raw
        return struct.pack("<Q", len(raw)) + raw
    if kind == "stringnl":
        return repr(arg).encode("ascii", "backslashreplace") + b"\n"
    if kind == "stringnl_noescape":
        return str(arg).encode("utf-8", "surrogatepass") + b"\n"
    if kind == "stringnl_noescape_pair":
        return f"{arg[0]}\n{arg[1]}\n".encode("utf-8", "surrogatepass")
    if kind == "unicodestringnl":
        return str(arg).encode("raw-unicode-escape") + b"\n"
    if kind == "decimalnl_short":
        return (b"01" if arg is True else b"00" if arg is False else str(arg).encode()) + b"\n"
    if kind == "decimalnl_long":
        return str(arg).encode() + b"L\n"
    if kind == "floatnl":
        return repr(float(arg)).encode() + b"\n"
    if kind == "float8":
        return struct.pack(">d", float(arg))
    raise ValueError(f"no encoder for {kind}")


def assemble(ops: list[tuple[str, object]]) -> bytes:
    """Pickle bytes of an opcode list [(name, arg)]."""
    out = bytearray()
    for name, arg in ops:
        info = OPS[name]
        out += info.code.encode("latin-1")
        if info.arg is not None:
            out += _encode_arg(info.arg.name, arg)
    return bytes(out)


def disassemble(data: bytes) -> list[tuple[str, object]] | None:
    """Opcode list of a pickle, or None when pickletools cannot read it."""
    try:
        return [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    except Exception:  # noqa: BLE001  (mutated pickles are often unreadable)
        return None


class Emitter:
    """Builds opcode lists for the values a state dict holds."""

    def __init__(self):
        self.ops: list[tuple[str, object]] = [("PROTO", 2)]

    def op(self, name: str, arg=None) -> "Emitter":
        self.ops.append((name, arg))
        return self

    def value(self, v) -> "Emitter":
        if isinstance(v, bool):
            return self.op("NEWTRUE" if v else "NEWFALSE")
        if isinstance(v, int):
            if 0 <= v < 256:
                return self.op("BININT1", v)
            if -2 ** 31 <= v < 2 ** 31:
                return self.op("BININT", v)
            return self.op("LONG1", v)
        if isinstance(v, str):
            return self.op("BINUNICODE", v)
        if isinstance(v, tuple):
            if not v:
                return self.op("EMPTY_TUPLE")
            self.op("MARK")
            for item in v:
                self.value(item)
            return self.op("TUPLE")
        if v is None:
            return self.op("NONE")
        raise TypeError(type(v).__name__)

    def global_(self, module: str, name: str) -> "Emitter":
        return self.op("GLOBAL", (module, name))

    def ordered_dict(self) -> "Emitter":
        return self.global_("collections", "OrderedDict").op("EMPTY_TUPLE").op("REDUCE")

    def tensor(self, storage: str, key: str, numel: int, offset: int, size: tuple,
               stride: tuple, parameter: bool = False, v3_dtype: str | None = None) -> "Emitter":
        if parameter:
            self.global_("torch._utils", "_rebuild_parameter").op("MARK")
        self.global_("torch._utils", "_rebuild_tensor_v3" if v3_dtype else "_rebuild_tensor_v2")
        self.op("MARK")
        # persistent id ("storage", torch.<Storage>, key, "cpu", numel)
        self.op("MARK").value("storage").global_("torch", storage).value(key).value("cpu")
        self.value(numel).op("TUPLE").op("BINPERSID")
        self.value(offset).value(size).value(stride).value(False).ordered_dict()
        if v3_dtype:
            self.global_("torch", v3_dtype)
        self.op("TUPLE").op("REDUCE")
        if parameter:
            self.value(False).ordered_dict().op("TUPLE").op("REDUCE")
        return self

    def finish(self) -> list[tuple[str, object]]:
        return self.ops + [("STOP", None)]


# ---------------------------------------------------------------------------
# Archives
# ---------------------------------------------------------------------------

@dataclass
class Archive:
    """The members of a torch.save zip, before writing."""

    pickle_ops: list[tuple[str, object]] | None
    pickle_raw: bytes | None
    storages: dict[str, bytes]
    prefix: str = "archive"
    byteorder: bytes | None = b"little"
    compression: int = zipfile.ZIP_STORED
    extra: list[tuple[str, bytes]] | None = None

    def pickle_bytes(self) -> bytes:
        return self.pickle_raw if self.pickle_raw is not None else assemble(self.pickle_ops)

    def write(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", self.compression) as z:
            z.writestr(f"{self.prefix}/data.pkl", self.pickle_bytes())
            if self.byteorder is not None:
                z.writestr(f"{self.prefix}/byteorder", self.byteorder)
            for key, data in self.storages.items():
                z.writestr(f"{self.prefix}/data/{key}", data)
            z.writestr(f"{self.prefix}/version", b"3\n")
            for name, data in self.extra or []:
                z.writestr(name, data)
        return buf.getvalue()

    def copy(self) -> "Archive":
        return Archive(list(self.pickle_ops) if self.pickle_ops is not None else None,
                       self.pickle_raw, dict(self.storages), self.prefix, self.byteorder,
                       self.compression, list(self.extra or []))


def _floats(n: int, kind: str = "<f4") -> bytes:
    import numpy as np
    return np.linspace(-1.0, 1.0, max(n, 1))[:n].astype(kind).tobytes()


def valid_seeds() -> list[Archive]:
    seeds = []
    # A small CLIP-like state dict: F32 weights, a Parameter, int64
    # position_ids (expanded, stride 0 on the batch axis), _metadata.
    e = Emitter().ordered_dict().op("MARK")
    e.value("vision_model.embeddings.class_embedding").tensor("FloatStorage", "0", 4, 0, (4,), (1,))
    e.value("vision_model.encoder.layers.0.self_attn.q_proj.weight")
    e.tensor("FloatStorage", "1", 12, 0, (3, 4), (4, 1), parameter=True)
    e.value("text_model.embeddings.position_ids").tensor("LongStorage", "2", 5, 0, (1, 5), (0, 1))
    e.value("logit_scale").tensor("FloatStorage", "3", 1, 0, (), ())
    e.op("SETITEMS")
    e.op("EMPTY_DICT").op("MARK").value("_metadata")        # BUILD {"_metadata": ...}
    e.ordered_dict().op("MARK").value("").op("EMPTY_DICT").op("SETITEMS")
    e.op("SETITEMS").op("BUILD")
    seeds.append(Archive(e.finish(), None, {"0": _floats(4), "1": _floats(12),
                                            "2": struct.pack("<5q", 0, 1, 2, 3, 4),
                                            "3": _floats(1)}))
    # Shared storage (tied weights), a transposed view, an offset view, F16,
    # BF16 through _rebuild_tensor_v3, F64, an empty tensor.
    e = Emitter().ordered_dict().op("MARK")
    e.value("emb.weight").tensor("FloatStorage", "w", 6, 0, (2, 3), (3, 1))
    e.value("head.weight").tensor("FloatStorage", "w", 6, 0, (2, 3), (3, 1))
    e.value("head.weight_t").tensor("FloatStorage", "w", 6, 0, (3, 2), (1, 3))
    e.value("tail").tensor("FloatStorage", "w", 6, 4, (2,), (1,))
    e.value("half").tensor("HalfStorage", "h", 4, 0, (2, 2), (2, 1))
    e.value("bf16").tensor("UntypedStorage", "b", 8, 0, (2, 2), (2, 1), v3_dtype="bfloat16")
    e.value("double").tensor("DoubleStorage", "d", 2, 0, (2,), (1,))
    e.value("empty").tensor("FloatStorage", "e", 0, 0, (0, 3), (3, 1))
    e.op("SETITEMS")
    seeds.append(Archive(e.finish(), None, {"w": _floats(6), "h": _floats(4, "<f2"),
                                            "b": bytes(range(8)), "d": _floats(2, "<f8"),
                                            "e": b""}))
    # Big-endian byte order record, deflated members, another prefix.
    e = Emitter().ordered_dict().op("MARK")
    e.value("x").tensor("FloatStorage", "0", 3, 0, (3,), (1,))
    e.value("i").tensor("IntStorage", "1", 2, 0, (2,), (1,))
    e.op("SETITEMS")
    seeds.append(Archive(e.finish(), None, {"0": _floats(3, ">f4"),
                                            "1": struct.pack(">2i", 7, -7)},
                         prefix="pytorch_model", byteorder=b"big",
                         compression=zipfile.ZIP_DEFLATED))
    # A plain dict (older torch.save of a dict), protocol 2 without memo.
    e = Emitter().op("EMPTY_DICT").op("MARK")
    e.value("a.b").tensor("ByteStorage", "0", 4, 0, (4,), (1,))
    e.value("flag").tensor("BoolStorage", "1", 2, 0, (2,), (1,))
    e.op("SETITEMS")
    seeds.append(Archive(e.finish(), None, {"0": bytes(4), "1": b"\x00\x01"}, byteorder=None))
    return seeds


def _payload(marker: Path) -> list[tuple[str, str]]:
    """(module, name, argument) triples whose call would leave the marker."""
    cmd = f"touch {marker}"
    return [("os", "system", cmd), ("posix", "system", cmd), ("subprocess", "getoutput", cmd),
            ("builtins", "eval", f"open({str(marker)!r}, 'w')"),
            ("builtins", "exec", f"open({str(marker)!r}, 'w')"),
            ("io", "open", str(marker)), ("builtins", "open", str(marker)),
            ("pathlib", "Path", str(marker)), ("os", "mkdir", str(marker))]


def hostile_seeds(marker: Path) -> list[Archive]:
    seeds = []
    for module, name, arg in _payload(marker):
        # The classic: GLOBAL + argument tuple + REDUCE, as the whole pickle,
        # as a state dict value, and through INST / OBJ / STACK_GLOBAL.
        e = Emitter().global_(module, name).value((arg,)).op("REDUCE")
        seeds.append(Archive(e.finish(), None, {}))
        e = Emitter().ordered_dict().op("MARK").value("w").global_(module, name)
        e.value((arg,)).op("REDUCE").op("SETITEMS")
        seeds.append(Archive(e.finish(), None, {}))
        seeds.append(Archive([("PROTO", 2), ("MARK", None), ("BINUNICODE", arg),
                              ("INST", (module, name)), ("STOP", None)], None, {}))
        seeds.append(Archive([("PROTO", 2), ("MARK", None), ("GLOBAL", (module, name)),
                              ("BINUNICODE", arg), ("OBJ", None), ("STOP", None)], None, {}))
        seeds.append(Archive([("PROTO", 4), ("SHORT_BINUNICODE", module),
                              ("SHORT_BINUNICODE", name), ("STACK_GLOBAL", None),
                              ("SHORT_BINUNICODE", arg), ("TUPLE1", None), ("REDUCE", None),
                              ("STOP", None)], None, {}))
    # getattr chains, __reduce_ex__ via allowed classes, NEWOBJ on stand-ins,
    # BUILD on stand-ins, extension registry codes, persistent id games.
    more = [
        [("GLOBAL", ("builtins", "getattr")), ("GLOBAL", ("collections", "OrderedDict")),
         ("BINUNICODE", "__class__"), ("TUPLE2", None), ("REDUCE", None), ("STOP", None)],
        [("GLOBAL", ("collections", "OrderedDict")), ("EMPTY_TUPLE", None), ("NEWOBJ", None),
         ("EMPTY_DICT", None), ("BINUNICODE", "__class__"),
         ("GLOBAL", ("builtins", "object")), ("SETITEM", None), ("BUILD", None),
         ("STOP", None)],
        [("GLOBAL", ("torch", "FloatStorage")), ("EMPTY_DICT", None), ("BUILD", None),
         ("STOP", None)],
        [("GLOBAL", ("torch", "float16")), ("EMPTY_TUPLE", None), ("REDUCE", None),
         ("STOP", None)],
        [("GLOBAL", ("torch._utils", "_rebuild_tensor_v2")), ("GLOBAL", ("os", "system")),
         ("BININT1", 0), ("EMPTY_TUPLE", None), ("EMPTY_TUPLE", None), ("TUPLE", None),
         ("REDUCE", None), ("STOP", None)],
        [("PROTO", 2), ("EXT1", 1), ("STOP", None)],
        [("PROTO", 2), ("BINUNICODE", "x"), ("BINPERSID", None), ("STOP", None)],
        [("PROTO", 2), ("PERSID", "storage"), ("STOP", None)],
        [("PROTO", 2), ("BINGET", 7), ("STOP", None)],
        [("PROTO", 2), ("MARK", None), ("STOP", None)],
        [("PROTO", 5), ("BYTEARRAY8", b"abc"), ("STOP", None)],
        [("PROTO", 4), ("FRAME", 1 << 60), ("STOP", None)],
    ]
    seeds += [Archive([("PROTO", 2)] * (ops[0][0] != "PROTO") + ops, None, {}) for ops in more]
    # Memory and time bombs through allowed calls.
    e = Emitter().ordered_dict().op("MARK")
    e.value("bomb").tensor("FloatStorage", "0", 1, 0, (100000, 100000), (0, 0))
    e.op("SETITEMS")
    seeds.append(Archive(e.finish(), None, {"0": _floats(1)}))
    e = Emitter().ordered_dict().op("MARK")
    e.value("numel").tensor("FloatStorage", "0", 10 ** 12, 0, (4,), (1,))
    e.op("SETITEMS")
    seeds.append(Archive(e.finish(), None, {"0": _floats(4)}))
    e = Emitter().ordered_dict().op("MARK")
    for i in range(64):
        e.value(f"alias{i}").tensor("FloatStorage", "0", 1 << 16, 0, (1 << 16,), (1,))
    e.op("SETITEMS")
    seeds.append(Archive(e.finish(), None, {"0": bytes(4 << 16)},
                         compression=zipfile.ZIP_DEFLATED))
    deep = [("PROTO", 2)] + [("EMPTY_TUPLE", None)] + [("TUPLE1", None)] * 50000
    seeds.append(Archive(deep + [("BINPERSID", None), ("STOP", None)], None, {}))
    key_ops = [("PROTO", 2), ("GLOBAL", ("collections", "OrderedDict")), ("EMPTY_TUPLE", None),
               ("REDUCE", None), ("MARK", None)]
    seeds.append(Archive(key_ops + [("EMPTY_TUPLE", None)] + [("TUPLE1", None)] * 20000
                         + [("NONE", None), ("SETITEMS", None), ("STOP", None)], None, {}))
    seeds.append(Archive(key_ops + [("LONG4", 10 ** 6000), ("NONE", None), ("SETITEMS", None),
                                    ("STOP", None)], None, {}))
    e = Emitter().ordered_dict().op("MARK")
    e.value("caf\udce9").tensor("FloatStorage", "0", 1, 0, (1,), (1,))
    e.op("SETITEMS")
    seeds.append(Archive(e.finish(), None, {"0": _floats(1)}))
    return seeds


# ---------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------

BOUNDARY_INTS = [0, 1, -1, 2, 255, 256, 65535, 2 ** 31 - 1, 2 ** 31, -2 ** 31, 2 ** 32,
                 2 ** 62, 2 ** 63 - 1, 2 ** 63, -2 ** 63, 2 ** 64, 10 ** 30, 10 ** 5000]
STRINGS = ["storage", "cpu", "cuda:0", "0", "1", "w", "", "../../etc/passwd", "data.pkl",
           "x" * 5000, "\udce9", "\x00", "__metadata__", "torch", "_metadata", "FloatStorage",
           "__class__", "__reduce__", "__setstate__", "os", "system"]
GLOBALS = [("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
           ("torch._utils", "_rebuild_tensor_v3"), ("torch._utils", "_rebuild_parameter"),
           ("torch._utils", "_rebuild_parameter_with_state"), ("torch", "FloatStorage"),
           ("torch", "HalfStorage"), ("torch", "BFloat16Storage"), ("torch", "LongStorage"),
           ("torch", "UntypedStorage"), ("torch.storage", "UntypedStorage"),
           ("torch", "float16"), ("torch", "bfloat16"), ("torch", "bool"),
           ("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
           ("builtins", "getattr"), ("builtins", "__import__"), ("builtins", "open"),
           ("builtins", "compile"), ("subprocess", "Popen"), ("shutil", "rmtree"),
           ("pickle", "loads"), ("numpy.core.multiarray", "_reconstruct"), ("numpy", "load"),
           ("copyreg", "_reconstructor"), ("functools", "partial"), ("operator", "attrgetter"),
           ("sys", "exit"), ("collections", "defaultdict"), ("torch", "nn"),
           ("convert_pytorch_bin", "main"), ("__main__", "Archive")]
SIMPLE_OPS = ["MARK", "TUPLE", "EMPTY_TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "REDUCE", "BUILD",
              "DUP", "POP", "POP_MARK", "NONE", "NEWTRUE", "NEWFALSE", "EMPTY_DICT",
              "EMPTY_LIST", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "BINPERSID",
              "STACK_GLOBAL", "NEWOBJ", "NEWOBJ_EX", "OBJ", "MEMOIZE", "LIST", "DICT",
              "EMPTY_SET", "ADDITEMS", "FROZENSET", "STOP"]


def mutate_ops(ops: list, rng: random.Random) -> list:
    ops = list(ops)
    if not ops:
        return [("PROTO", 2), ("STOP", None)]
    i = rng.randrange(len(ops))
    name, arg = ops[i]
    choice = rng.randrange(9)
    if choice == 0 and isinstance(arg, int) and not isinstance(arg, bool):
        value = rng.choice(BOUNDARY_INTS)
        if name in ("BININT1", "BININT2", "BININT", "LONG1", "LONG4"):
            name = "BININT" if -2 ** 31 <= value < 2 ** 31 else "LONG4"
        ops[i] = (name, value)          # other opcodes: the encoder truncates
    elif choice == 1 and isinstance(arg, str):
        ops[i] = (name, rng.choice(STRINGS))
    elif choice == 2 and name in ("GLOBAL", "INST"):
        ops[i] = (name, rng.choice(GLOBALS))
    elif choice == 3:
        del ops[i]
    elif choice == 4:
        ops.insert(i, ops[i])
    elif choice == 5:
        j = rng.randrange(len(ops))
        ops[i], ops[j] = ops[j], ops[i]
    elif choice == 6:
        ops.insert(i, (rng.choice(SIMPLE_OPS), None))
    elif choice == 7:
        ops.insert(i, ("GLOBAL", rng.choice(GLOBALS)))
    else:
        value = rng.choice([rng.choice(BOUNDARY_INTS), rng.choice(STRINGS), (), (0,), (1, 2)])
        insert = Emitter()
        insert.ops = []
        insert.value(value)
        ops[i:i] = insert.ops
    return ops


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(5)
        if not data or choice == 0:
            data.insert(rng.randint(0, len(data)), rng.randrange(256))
        elif choice == 1:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif choice == 2:
            data[rng.randrange(len(data))] = rng.choice([0, 0x7F, 0x80, 0xFF])
        elif choice == 3:
            del data[rng.randrange(len(data)):][:rng.randint(1, 16)]
        else:
            i = rng.randrange(len(data))
            data[i:i] = data[rng.randrange(len(data)):][:rng.randint(1, 32)]
    return bytes(data)


def mutate_archive(a: Archive, rng: random.Random) -> Archive:
    a = a.copy()
    choice = rng.randrange(10)
    if choice < 5 and a.pickle_ops is not None:
        for _ in range(rng.randint(1, 3)):
            a.pickle_ops = mutate_ops(a.pickle_ops, rng)
    elif choice < 7:
        a.pickle_raw = mutate_bytes(a.pickle_bytes(), rng)
        a.pickle_ops = None
    elif choice == 7 and a.storages:
        key = rng.choice(list(a.storages))
        what = rng.randrange(3)
        if what == 0:
            del a.storages[key]
        elif what == 1:
            a.storages[key] = a.storages[key][:rng.randint(0, len(a.storages[key]))]
        else:
            a.storages[key] = mutate_bytes(a.storages[key] or b"\0", rng)
    elif choice == 8:
        a.compression = rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED,
                                    zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
        a.byteorder = rng.choice([None, b"little", b"big", b"middle", b"\xff"])
    else:
        extra = rng.choice([(f"{a.prefix}/data.pkl", b"\x80\x02N."),
                            ("other/data.pkl", b"\x80\x02N."),
                            (f"{a.prefix}/data/../../x", b"1"),
                            (f"{a.prefix}/data/zeros", bytes(1 << 20))])
        a.extra = (a.extra or []) + [extra]
    return a


# ---------------------------------------------------------------------------
# Running the converter
# ---------------------------------------------------------------------------

class Finding(Exception):
    """The converter misbehaved on an input."""


class Timeout(BaseException):
    """An input took too long (a BaseException, so the converter cannot catch it)."""


def _on_alarm(signum, frame):
    raise Timeout()


class Guard:
    """Audit hook: records what the converter does while it runs."""

    BLOCKED = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
               "subprocess.Popen", "exec", "compile", "import", "ctypes.", "socket.",
               "shutil.", "os.remove", "os.unlink", "os.rmdir", "os.mkdir", "os.chmod",
               "os.symlink", "os.link", "builtins.input", "code.", "pty.", "webbrowser.")

    def __init__(self):
        self.active = False
        self.out_path = ""
        self.events: list[str] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open":
            path, mode = str(args[0]), args[1]
            writes = isinstance(mode, str) and any(c in mode for c in "wax+")
            if writes and not path.startswith(self.out_path):
                self.events.append(f"open {path!r} {mode!r}")
            return
        if event in ("os.remove", "os.unlink", "os.rename", "os.replace") and \
                str(args[0]).startswith(self.out_path):
            return                          # the converter's own .tmp file
        if event.startswith(self.BLOCKED):
            self.events.append(f"{event} {args!r}"[:200])


def _status_mb(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS, VmHWM), in MiB."""
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) >> 10
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10


def reset_peak_rss() -> int:
    """Resets the process's peak RSS (VmHWM) to its current RSS, so that each
    input's own peak shows; returns that RSS in MiB."""
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    return _status_mb("VmRSS")


def peak_rss_mb() -> int:
    """Peak RSS since the last reset, in MiB."""
    return _status_mb("VmHWM")


def outcome_signature(status: str) -> str:
    """An outcome with numbers, paths and quoted values taken out."""
    s = re.sub(r"'[^']*'|\"[^\"]*\"", "Q", status)
    s = re.sub(r"/\S+", "P", s)
    return re.sub(r"\d+", "N", s)[:160]


def run_one(data: bytes, workdir: Path, marker: Path, guard: Guard, timeout: float,
            rss_limit_mb: int = 1024) -> str:
    """Converts one input; returns its outcome, raises Finding on misbehaviour."""
    src = workdir / "in.bin"
    dst = workdir / "out.safetensors"
    src.write_bytes(data)
    if dst.exists():
        dst.unlink()
    err = io.StringIO()
    base_mb = reset_peak_rss()
    guard.out_path = str(dst)
    guard.events.clear()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        guard.active = True
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = convert_pytorch_bin.main([str(src), str(dst), "-q"])
        guard.active = False
    except Timeout:
        guard.active = False
        raise Finding(f"hang: more than {timeout} s") from None
    except BaseException as e:  # noqa: BLE001  (anything escaping main() is a finding)
        guard.active = False
        raise Finding(f"{type(e).__name__} escaped main(): {e!s:.300}") from e
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        guard.active = False
    if marker.exists():
        raise Finding("code was executed: the payload's marker file exists")
    if guard.events:
        raise Finding("forbidden action during conversion: " + "; ".join(guard.events[:5]))
    # CPython 3.11's C unpickler prints this itself when a BYTEARRAY8's
    # declared length cannot be allocated (its bug, not the converter's).
    lines = [line for line in err.getvalue().strip().splitlines()
             if line != "SystemError: deallocated bytearray object has exported buffers"]
    message = "\n".join(lines)
    peak_mb = peak_rss_mb()
    if peak_mb - base_mb > rss_limit_mb:
        raise Finding(f"memory bomb: the input took the process from {base_mb} to {peak_mb} MiB"
                      f" (limit +{rss_limit_mb})")
    if status == 0:
        try:
            st = safetensors_io.load(str(dst))
            for name in st:
                st[name]
        except Exception as e:  # noqa: BLE001
            raise Finding(f"converted file does not read back: {e}") from e
        return "ok"
    if status != 1 or not message.startswith("error: ") or "\n" in message:
        raise Finding(f"exit status {status} with message {message!r:.300}")
    if str(src) not in message and str(dst) not in message:
        raise Finding(f"error names neither file: {message!r:.300}")
    if re.search(r"unable to allocate", message, re.I):      # numpy tried a huge array
        raise Finding(f"memory bomb (allocation failed): {message:.300}")
    return message[len("error: "):].replace(str(src), "IN").replace(str(dst), "OUT")


def save_finding(findings: Path, data: bytes, what: str) -> Path:
    findings.mkdir(parents=True, exist_ok=True)
    path = findings / f"finding-{int(time.time() * 1000) % 10 ** 10}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(what)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description="Fuzz models/convert_pytorch_bin.py.")
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    parser.add_argument("--iterations", type=int, default=0, help="stop after N inputs")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per input")
    parser.add_argument("--memory-mb", type=int, default=3072,
                        help="address-space limit of this process (default 3072; 0: none;"
                             " not set under ASan)")
    parser.add_argument("--rss-mb", type=int, default=1024,
                        help="RSS an input may add at its peak (default 1024)")
    parser.add_argument("--findings", default="/tmp/fuzz-unpickler",
                        help="where failing inputs are saved")
    parser.add_argument("--write-seeds", metavar="DIR",
                        help="write the seed archives to DIR and exit")
    parser.add_argument("--replay", nargs="+", metavar="PATH",
                        help="run these inputs (files or folders) once each")
    args = parser.parse_args()

    warnings.simplefilter("ignore")         # zipfile's "Duplicate name" when writing inputs
    sys.unraisablehook = lambda unraisable: None    # CPython's own complaints on odd pickles
    with open("/proc/self/maps") as f:
        asan = any("asan" in line for line in f)       # LD_PRELOADed by .ci/sanitize
    if args.memory_mb > 0 and not asan:             # ASan's shadow memory needs terabytes
        limit = args.memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    guard = Guard()
    failures = 0

    with tempfile.TemporaryDirectory(prefix="fuzz-unpickler-") as tmp:
        workdir = Path(tmp)
        marker = workdir / "EXECUTED"
        seeds = valid_seeds() + hostile_seeds(marker)

        if args.write_seeds:
            out = Path(args.write_seeds)
            out.mkdir(parents=True, exist_ok=True)
            for i, a in enumerate(seeds):
                (out / f"seed-{i:03d}.bin").write_bytes(a.write())
            print(f"{len(seeds)} seeds written to {out}")
            return 0

        if args.replay:
            files = []
            for p in map(Path, args.replay):
                files += sorted(f for f in p.iterdir() if f.suffix == ".bin") if p.is_dir() else [p]
            print(f"1..{len(files)}")
            for n, f in enumerate(files, 1):
                try:
                    outcome = run_one(f.read_bytes(), workdir, marker, guard, args.timeout,
                                      args.rss_mb)
                    print(f"ok {n} {f.name}: {outcome[:100]}")
                except Finding as e:
                    failures += 1
                    print(f"not ok {n} {f.name}: {e}")
                    traceback.print_exception(e.__cause__ or e, file=sys.stdout)
            return 1 if failures else 0

        pool = [(a, a.write()) for a in seeds]
        seen: set[str] = set()
        start = time.monotonic()
        runs = 0
        while time.monotonic() - start < args.seconds and (not args.iterations or
                                                           runs < args.iterations):
            base, data = rng.choice(pool)
            archive = base
            if runs >= len(seeds):                  # seeds first, unmutated
                for _ in range(rng.randint(1, 3)):
                    archive = mutate_archive(archive, rng)
                try:
                    data = archive.write()
                except Exception:  # noqa: BLE001  (zipfile may refuse odd members)
                    continue
                if rng.randrange(8) == 0:
                    data = mutate_bytes(data, rng)
            else:
                archive, data = pool[runs]
            runs += 1
            try:
                outcome = run_one(data, workdir, marker, guard, args.timeout, args.rss_mb)
            except Finding as e:
                failures += 1
                detail = "".join(traceback.format_exception(e.__cause__ or e))
                path = save_finding(Path(args.findings), data, f"{e}\n\n{detail}")
                print(f"FINDING {failures}: {e}\n  input saved to {path}", flush=True)
                if marker.exists():
                    marker.unlink()
                continue
            signature = outcome_signature(outcome)
            if signature not in seen:
                seen.add(signature)
                if len(pool) < 2000 and len(data) <= 64 << 10:     # the pool stays small
                    pool.append((archive, data))
        elapsed = time.monotonic() - start
        print(f"fuzz_unpickler: seed {seed}, {runs} inputs in {elapsed:.0f} s "
              f"({runs / max(elapsed, 1e-9):.0f}/s), {len(seen)} distinct outcomes, "
              f"{failures} findings")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
