#!/usr/bin/env python3
"""Write the seed corpora of the libFuzzer targets (tests/fuzz/corpus/TARGET/).

Seeds are small (a few KB at most, so libFuzzer's default -max_len stays
small and each execution fast) and cover what real files hold plus the
usual ways they are broken: Hugging Face config.json / preprocessor_config.json
/ tokenizer_config.json as the CLIP and GIT checkpoints ship them, small
safetensors files of every dtype, CLIP BPE vocabularies (vocab.json +
merges.txt) and WordPiece vocab.txt files in miniature, and texts that
exercise the tokenizers' special cases (HTML references, case folding,
accents, CJK, special tokens, long words).

The corpora are committed; rerun this after changing it:
    /usr/bin/python3 tests/fuzz/make_corpus.py
It replaces the files it writes and leaves other files (seeds added by
hand or kept from fuzzing runs) alone. ``--check`` exits 1 when a
committed seed differs from what this script writes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
SEP = b"\n=====\n"          # FUZZ_SEPARATOR in fuzz-util.h


# ---------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------

ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
            "I8": 1, "U8": 1, "BOOL": 1}


def safetensors(tensors: list[tuple[str, str, list[int]]], metadata: dict | None = None,
                pad: bool = True, fill: int = 0x3c) -> bytes:
    """A valid file: tensors (name, dtype, shape) laid out in order."""
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape in tensors:
        n = ITEMSIZE[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    data = bytes((fill + i) & 0xFF for i in range(offset))
    return struct.pack("<Q", len(text)) + text + data


def raw_safetensors(header: bytes, data: bytes = b"", length: int | None = None) -> bytes:
    """A file with the given header text (possibly invalid)."""
    return struct.pack("<Q", len(header) if length is None else length) + header + data


def safetensors_seeds() -> dict[str, bytes]:
    clip_like = []
    for prefix in ("vision_model", "text_model"):
        clip_like += [
            (f"{prefix}.encoder.layers.0.self_attn.q_proj.weight", "F32", [2, 2]),
            (f"{prefix}.encoder.layers.0.self_attn.q_proj.bias", "F32", [2]),
            (f"{prefix}.encoder.layers.0.layer_norm1.weight", "F32", [2]),
        ]
    clip_like += [("vision_model.embeddings.class_embedding", "F32", [2]),
                  ("vision_model.embeddings.patch_embedding.weight", "F32", [2, 3, 1, 1]),
                  ("text_model.embeddings.position_ids", "I64", [1, 3]),
                  ("logit_scale", "F32", [])]
    seeds = {
        "f32-matrix": safetensors([("w", "F32", [2, 3])], {"format": "pt"}),
        "every-dtype": safetensors([(f"t.{d.lower()}", d, [2]) for d in ITEMSIZE]),
        "float-dtypes-2d": safetensors([("a", "F16", [3, 1]), ("b", "BF16", [1, 2]),
                                        ("c", "F64", [2, 1]), ("d", "F32", [1, 1, 1, 1])]),
        "scalar-and-empty": safetensors([("s", "F32", []), ("z", "F16", [0, 4]),
                                         ("e", "F32", [3, 0])]),
        "clip-names": safetensors(clip_like, {"format": "pt"}),
        "unpadded": safetensors([("x", "F16", [5])], pad=False),
        "empty-header": raw_safetensors(b"{}"),
        "metadata-only": raw_safetensors(b'{"__metadata__":{"format":"pt","k":"v"}}'),
        "unicode-name": safetensors([("caf\u00e9.\u6771\u4eac", "F32", [1])]),
        "eight-dims": safetensors([("big", "U8", [1, 1, 1, 1, 1, 1, 1, 2])]),
        # broken ones
        "overlap": raw_safetensors(
            b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
            b'"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}', bytes(8)),
        "hole": raw_safetensors(
            b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8)),
        "short-data": raw_safetensors(
            b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', bytes(8)),
        "size-mismatch": raw_safetensors(
            b'{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}', bytes(4)),
        "huge-shape": raw_safetensors(
            b'{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],'
            b'"data_offsets":[0,0]}}'),
        "huge-offsets": raw_safetensors(
            b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,0]}}'),
        "negative-dim": raw_safetensors(
            b'{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', bytes(4)),
        "bad-dtype": raw_safetensors(
            b'{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', bytes(1)),
        "header-too-long": raw_safetensors(b'{"a":1}', length=1 << 40),
        "header-not-object": raw_safetensors(b"[1,2,3]"),
        "metadata-not-string": raw_safetensors(b'{"__metadata__":{"n":1}}'),
        "repeated-name": raw_safetensors(
            b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
            b'"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', bytes(2)),
        "nested": raw_safetensors(b'{"a":' + b"[" * 70 + b"]" * 70 + b"}"),
        "truncated": safetensors([("w", "F32", [4, 4])])[:60],
    }
    return seeds


# ---------------------------------------------------------------------------
# JSON and config files
# ---------------------------------------------------------------------------

def dump(obj: object) -> bytes:
    return json.dumps(obj, indent=2).encode()


CLIP_TEXT = {"model_type": "clip_text_model", "hidden_size": 512, "intermediate_size": 2048,
             "num_attention_heads": 8, "num_hidden_layers": 12, "max_position_embeddings": 77,
             "vocab_size": 49408, "bos_token_id": 49406, "eos_token_id": 49407,
             "pad_token_id": 1, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05,
             "projection_dim": 512, "dropout": 0.0}
CLIP_VISION = {"model_type": "clip_vision_model", "hidden_size": 768,
               "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
               "image_size": 224, "patch_size": 32, "num_channels": 3,
               "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05, "projection_dim": 512}
CLIP_CONFIG = {"architectures": ["CLIPModel"], "initializer_factor": 1.0,
               "logit_scale_init_value": 2.6592, "model_type": "clip", "projection_dim": 512,
               "text_config": CLIP_TEXT, "torch_dtype": "float32",
               "transformers_version": "4.30.0", "vision_config": CLIP_VISION}
TINY_CLIP = dict(CLIP_CONFIG, projection_dim=16,
                 text_config=dict(CLIP_TEXT, hidden_size=32, intermediate_size=64,
                                  num_attention_heads=2, num_hidden_layers=2),
                 vision_config=dict(CLIP_VISION, hidden_size=32, intermediate_size=64,
                                    num_attention_heads=2, num_hidden_layers=2,
                                    image_size=32, patch_size=8))
GIT_VISION = {"model_type": "git_vision_model", "hidden_size": 768, "intermediate_size": 3072,
              "num_attention_heads": 12, "num_hidden_layers": 12, "image_size": 224,
              "patch_size": 16, "num_channels": 3, "hidden_act": "quick_gelu",
              "layer_norm_eps": 1e-05, "projection_dim": 512}
GIT_CONFIG = {"architectures": ["GitForCausalLM"], "model_type": "git",
              "bos_token_id": 101, "eos_token_id": 102, "pad_token_id": 0,
              "hidden_act": "gelu", "hidden_size": 768, "intermediate_size": 3072,
              "layer_norm_eps": 1e-12, "max_position_embeddings": 1024,
              "num_attention_heads": 12, "num_hidden_layers": 6,
              "num_image_with_embedding": None, "tie_word_embeddings": False,
              "vision_config": GIT_VISION, "vocab_size": 30522}
PREPROCESSOR = {"crop_size": {"height": 224, "width": 224}, "do_center_crop": True,
                "do_normalize": True, "do_resize": True,
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_processor_type": "CLIPImageProcessor",
                "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3,
                "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224}}
TOKENIZER_CONFIG = {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
                    "sep_token": "[SEP]", "unk_token": "[UNK]", "do_basic_tokenize": True,
                    "do_lower_case": True, "model_max_length": 512, "never_split": None,
                    "strip_accents": None, "tokenize_chinese_chars": True,
                    "tokenizer_class": "BertTokenizer"}


def json_seeds() -> dict[str, bytes]:
    return {
        "clip-config": dump(CLIP_CONFIG),
        "git-config": dump(GIT_CONFIG),
        "preprocessor": dump(PREPROCESSOR),
        "tokenizer-config": dump(TOKENIZER_CONFIG),
        "numbers": b'[0, -0, 1, -1, 9223372036854775807, -9223372036854775808, '
                   b'9223372036854775808, 1.5, -2.5e-3, 1E400, 6.02e+23, 0.1e1]',
        "strings": '{"esc": "\\"\\\\\\/\\b\\f\\n\\r\\t", "u": "\\u00e9\\ud83d\\ude00", '
                   '"raw": "caf\u00e9 \u6771\u4eac \U0001f600", "": ""}'.encode(),
        "literals": b'{"t": true, "f": false, "n": null, "a": [], "o": {}}',
        "nested": b"[" * 64 + b"]" * 64,
        "bom": b"\xef\xbb\xbf{\"a\": 1}",
        "scalar": b'"just a string"',
        # broken ones
        "too-deep": b"[" * 65 + b"]" * 65,
        "repeated-key": b'{"a": 1, "b": 2, "a": 3}',
        "trailing-comma": b'{"a": [1, 2,], }',
        "comment": b'{"a": /* x */ 1}',
        "single-quotes": b"{'a': 'b'}",
        "lone-surrogate": b'["\\ud800", "\\udc00x"]',
        "nul-escape": b'{"a\\u0000b": 1}',
        "control-char": b'{"a": "tab\there"}',
        "bad-number": b"[01, 1., .5, +1, 1e, -]",
        "nan": b"[NaN, Infinity]",
        "not-utf8": b'{"a": "\xff\xfe"}',
        "garbage-after": b'{"a": 1} {"b": 2}',
    }


def config_seeds() -> dict[str, bytes]:
    pre = dump(PREPROCESSOR)
    tiny_pre = dump(dict(PREPROCESSOR, crop_size={"height": 32, "width": 32},
                         size={"shortest_edge": 32}))
    return {
        "clip-b32": dump(CLIP_CONFIG) + SEP + pre,
        "clip-b32-no-preprocessor": dump(CLIP_CONFIG),
        "clip-tiny": dump(TINY_CLIP) + SEP + tiny_pre,
        "clip-l14": dump(dict(CLIP_CONFIG, projection_dim=768,
                              text_config=dict(CLIP_TEXT, hidden_size=768,
                                               intermediate_size=3072,
                                               num_attention_heads=12),
                              vision_config=dict(CLIP_VISION, hidden_size=1024,
                                                 intermediate_size=4096,
                                                 num_attention_heads=16,
                                                 num_hidden_layers=24, patch_size=14)))
        + SEP + pre,
        "clip-dict-keys": dump({"model_type": "clip", "text_config_dict": {"hidden_act": "gelu"},
                                "vision_config_dict": {"layer_norm_eps": 1e-6}})
        + SEP + dump({"size": 224, "crop_size": 224, "resample": 2}),
        "clip-minimal": b'{"text_config": {}, "vision_config": {}}',
        "git-base": dump(GIT_CONFIG) + SEP + pre,
        "git-tiny": dump(dict(GIT_CONFIG, hidden_size=32, intermediate_size=64,
                              num_attention_heads=2, num_hidden_layers=2,
                              max_position_embeddings=64, vocab_size=1064,
                              vision_config=dict(GIT_VISION, hidden_size=32,
                                                 intermediate_size=64,
                                                 num_attention_heads=2,
                                                 num_hidden_layers=2, image_size=32,
                                                 patch_size=8)))
        + SEP + tiny_pre,
        "git-video": dump(dict(GIT_CONFIG, num_image_with_embedding=6)) + SEP
        + dump(dict(PREPROCESSOR, size={"height": 224, "width": 224})),
        "git-minimal": b'{"vision_config": {}}',
        # broken ones
        "wrong-types": dump(dict(CLIP_CONFIG, projection_dim="512",
                                 text_config=dict(CLIP_TEXT, hidden_act=1))),
        "out-of-range": dump(dict(GIT_CONFIG, num_hidden_layers=100000, vocab_size=-1)),
        "heads-not-divisor": dump(dict(CLIP_CONFIG,
                                       vision_config=dict(CLIP_VISION, num_attention_heads=7))),
        "patch-not-divisor": dump(dict(GIT_CONFIG,
                                       vision_config=dict(GIT_VISION, patch_size=15))),
        "bad-preprocessor": dump(CLIP_CONFIG) + SEP
        + dump(dict(PREPROCESSOR, image_std=[0.5, 0, 1e300], image_mean=[1, 2])),
        "huge-floats": dump(dict(CLIP_CONFIG, vision_config=dict(CLIP_VISION,
                                                                 layer_norm_eps=1e300)))
        + SEP + dump(dict(PREPROCESSOR, image_mean=[1e300, 0, 0], image_std=[1e-300, 1, 1])),
        "crop-mismatch": dump(CLIP_CONFIG) + SEP + dump(dict(PREPROCESSOR, crop_size=200)),
        "not-clip": dump(dict(CLIP_CONFIG, model_type="siglip")),
        "top-level-array": b"[]" + SEP + b"[]",
        "empty": b"" + SEP + b"",
    }


# ---------------------------------------------------------------------------
# CLIP BPE
# ---------------------------------------------------------------------------

def bytes_to_unicode() -> dict[int, str]:
    """The reference's byte -> symbol map."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
            + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return out


SMALL_MERGES = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("i", "n"), ("o", "n</w>"),
                ("e", "r"), ("a", "t</w>"), ("an", "d</w>"), ("c", "a"), ("ca", "t</w>"),
                ("o", "f</w>"), ("p", "h"), ("ph", "o"), ("t", "o</w>"), ("pho", "to</w>"),
                ("d", "o"), ("do", "g</w>"), ("g", "s</w>"), ("in", "g</w>"), ("l", "l"),
                ("e", "e"), ("ee", "e"), ("e", "e</w>"), ("\u00c3", "\u00a9"),
                ("\u00c3\u00a9", "</w>"), ("1", "0</w>")]


def small_bpe(merges=SMALL_MERGES, extra: dict | None = None) -> tuple[bytes, bytes]:
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + [a + b for a, b in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    table = {s: i for i, s in enumerate(vocab)}
    if extra:
        table.update(extra)
    text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    return json.dumps(table, ensure_ascii=False).encode(), text.encode()


def clip_vocab_seeds() -> dict[str, bytes]:
    vocab, merges = small_bpe()
    text = "A photo of the cat and 10 dogs &amp; caf\u00e9 <|endoftext|>".encode()
    crlf = merges.replace(b"\n", b"\r\n")
    ascii_vocab, _ = small_bpe()
    ascii_vocab = json.dumps(json.loads(ascii_vocab)).encode()     # \u escapes
    broken_vocab = json.loads(vocab)
    del broken_vocab["!"]
    duplicate = json.loads(vocab)
    duplicate["<|endoftext|>"] = 0
    gz_header = gzip.compress(b"#version: 0.2\nt h\nth e</w>\n", mtime=0)
    return {
        "small": vocab + SEP + merges + SEP + text,
        "small-no-text": vocab + SEP + merges,
        "small-crlf": vocab + SEP + crlf + SEP + b"THE PHOTO",
        "small-escaped": ascii_vocab + SEP + merges + SEP + b"\xce\xa3\xce\xa3 \xc4\xb0",
        "no-merges": small_bpe([])[0] + SEP + b"#version: 0.2\n" + SEP + b"hello",
        "missing-byte-symbol": json.dumps(broken_vocab).encode() + SEP + merges,
        "duplicate-id": json.dumps(duplicate).encode() + SEP + merges,
        "merge-not-in-vocab": vocab + SEP + merges + b"x y\n",
        "no-version-line": vocab + SEP + merges[merges.index(b"\n") + 1:],
        "bad-merge-line": vocab + SEP + merges + b"a b c\n",
        "no-merges-file": vocab,
        "vocab-not-object": b"[1, 2]" + SEP + merges,
        "gzip-short": gz_header,
        "gzip-truncated": gz_header[:20],
    }


def clip_encode_seeds() -> dict[str, bytes]:
    texts = {
        "photo": "a photo of a cat",
        "sentence": "The quick brown fox jumps over the lazy dog, 1234 times!",
        "html": "&amp;lt;b&amp;gt; &#x41;&#65; &notit; &NotNestedGreaterGreater; &#0; &#xd800;",
        "case": "\u0130stanbul \u039f\u0394\u039f\u03a3 \u03a3\u03a3 \u2160\u2161 \u24b6",
        "unicode": "caf\u00e9 na\u00efve \u6771\u4eac\u90fd \ud55c\uad6d\uc5b4 \U0001f600\U0001f436",
        "special": "<|startoftext|>hello<|endoftext|> <|\u017ftartoftext|>",
        "contractions": "it's we're they've I'm you'll he'd don't",
        "whitespace": " \t\n\u3000a\u00a0\u2028b\u0085c  ",
        "long-word": "a" * 300 + " " + "ab" * 100,
        "digits": "3.14159 2024-01-01 \u0661\u0662\u0663",
        "punctuation": "!!!??? ... --- ((())) @#$%^&*",
        "empty": "",
        "repeats": "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee thththththth",
    }
    seeds = {}
    for i, (name, text) in enumerate(texts.items()):
        seeds[name] = bytes([75 + i % 3]) + text.encode()   # context 77, 78, 79
    seeds["short-context"] = b"\x00" + b"a photo of a cat"       # context 2
    seeds["context-5"] = b"\x03" + b"one two three four five six"
    seeds["not-utf8"] = b"\x4b" + b"abc\xff\xfedef"
    return seeds


# ---------------------------------------------------------------------------
# WordPiece
# ---------------------------------------------------------------------------

SMALL_WORDPIECE = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", ".",
                   "'", "a", "b", "c", "d", "e", "t", "o", "s", "the", "cat", "dog", "photo",
                   "of", "two", "##s", "##ing", "##ed", "un", "##aff", "##able", "caf",
                   "##e", "\u6771", "\u4eac", "na", "##ive", "don", "n", "##'", "##t",
                   "hello", "world", "[", "]"]


def wordpiece_vocab_seeds() -> dict[str, bytes]:
    vocab = "\n".join(SMALL_WORDPIECE).encode() + b"\n"
    config = dump(TOKENIZER_CONFIG)
    special = dump({"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
                    "sep_token": "[SEP]", "unk_token": "[UNK]"})
    text = "A photo of two cats, unaffable na\u00efve caf\u00e9 \u6771\u4eac don't [SEP]".encode()
    cased = dump(dict(TOKENIZER_CONFIG, do_lower_case=False, strip_accents=True,
                      tokenize_chinese_chars=False, clean_up_tokenization_spaces=False))
    added = dump({"unk_token": {"content": "<unk>", "lstrip": False},
                  "sep_token": {"content": "[SEP]"}})
    return {
        "small": vocab + SEP + config + SEP + special + SEP + text,
        "small-no-configs": vocab + SEP + SEP + SEP + text,
        "small-cased": vocab + SEP + cased + SEP + SEP + b"The CAT Dog",
        "small-crlf": vocab.replace(b"\n", b"\r\n") + SEP + config,
        "small-cr": vocab.replace(b"\n", b"\r") + SEP + config,
        "added-token-unk": vocab + b"<unk>\n" + SEP + config + SEP + added + SEP + text,
        "repeated-token": vocab + b"the\ncat\n" + SEP + SEP + SEP + b"the cat",
        # broken ones
        "missing-unk": vocab.replace(b"[UNK]\n", b"") + SEP + config,
        "bom": b"\xef\xbb\xbf" + vocab,
        "empty": b"",
        "not-utf8": vocab + b"\xff\n",
        "nul-byte": vocab + b"a\x00b\n",
        "no-basic-tokenize": vocab + SEP + dump(dict(TOKENIZER_CONFIG, do_basic_tokenize=False)),
        "bad-config-type": vocab + SEP + b'{"do_lower_case": "yes"}',
        "empty-special": vocab + SEP + SEP + b'{"unk_token": ""}',
        "config-not-json": vocab + SEP + b'{"do_lower_case": ',
    }


def wordpiece_seeds() -> dict[str, bytes]:
    texts = [
        "a photo of two dogs",
        "Hello, World! How are you?",
        "unaffable na\u00efve CAF\u00c9 R\u00e9sum\u00e9",
        "\u6771\u4eac\u90fd\u3068\u5927\u962a \ud55c\uad6d\uc5b4 \u3072\u3089\u304c\u306a",
        "[CLS] what is this? [SEP] [MASK] [PAD] [UNK]",
        "don't won't it's I'm they've",
        "\u0130stanbul \u03a3\u039f\u03a6\u0399\u0391 \u2160\u2161 \u24b6\u24b7",
        "tabs\tand\nnewlines\r\n and\u00a0nbsp \u2028 line sep \u200b zero width",
        "x" * 150,
        "\u0301\u0302 combining only, \U0001f600 emoji, \ufffd replacement, \x07 bell",
        "$100 + 5% = <html> ~`|^",
    ]
    seeds = {}
    for i, text in enumerate(texts):
        seeds[f"text-{i}"] = b"\x00" + text.encode()
        seeds[f"text-{i}-cased"] = b"\x01" + text.encode()
    seeds["not-utf8"] = b"\x00" + b"ab\xc3(cd"
    seeds["ids"] = b"\x02" + struct.pack("<12i", 101, 1996, 4937, 102, 0, 100, 103, -1,
                                         2 ** 31 - 1, -2 ** 31, 3000, 5)
    seeds["ids-skip"] = b"\x03" + struct.pack("<6i", 101, 2023, 2003, 1037, 4937, 102)
    return seeds


TARGETS = {
    "safetensors": safetensors_seeds,
    "json": json_seeds,
    "config": config_seeds,
    "clip-vocab": clip_vocab_seeds,
    "clip-encode": clip_encode_seeds,
    "wordpiece-vocab": wordpiece_vocab_seeds,
    "wordpiece": wordpiece_seeds,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed seeds instead of writing them")
    args = parser.parse_args()
    stale = []
    for target, make in TARGETS.items():
        folder = CORPUS / target
        for name, data in make().items():
            path = folder / name
            if args.check:
                if not path.exists() or path.read_bytes() != data:
                    stale.append(str(path.relative_to(HERE)))
                continue
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if stale:
        print("out of date (run tests/fuzz/make_corpus.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
