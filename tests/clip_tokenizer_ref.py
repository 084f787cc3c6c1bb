#!/usr/bin/python3
# gst-vlm — an independent reference CLIP tokenizer, Python standard library only.
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Behaves like OpenAI's simple_tokenizer.py without ftfy (out of scope here and
# in the C tokenizer): html.unescape twice, whitespace collapsed with Python's
# re, str.lower(), the CLIP split pattern, byte-level BPE with </w>. Debian has
# no `regex` module, so the split pattern is a hand-written scanner with
# unicodedata classes:
#   <|startoftext|> | <|endoftext|> | 's 't 're 've 'm 'll 'd | \p{L}+ | \p{N} |
#   [^\s\p{L}\p{N}]+        (case-insensitive, leftmost alternative wins)
#
# Golden file for tests/test-clip-tokenizer.c (run from the repository root):
#   /usr/bin/python3 tests/clip_tokenizer_ref.py golden \
#       ../shared/data/clip-bpe-simple-vocab-16e6.txt.gz tests/tokenizer_strings.txt \
#       > tests/golden/clip-tokenizer-ids.txt
# Other commands:
#   encode VOCAB TEXT...        print the 77-token sequences
#   check VOCAB STRINGS GOLDEN  exit 0 if GOLDEN is what `golden` would write now
#   write-hf VOCAB DIR          write DIR/vocab.json and DIR/merges.txt (Hugging
#                               Face layout) from the original gzip vocabulary
# VOCAB is the gzip file or a Hugging Face folder with vocab.json + merges.txt.
import gzip
import html
import json
import os
import re
import sys
import unicodedata

N_MERGES = 49152 - 256 - 2
CONTEXT_LENGTH = 77
SOT = "<|startoftext|>"
EOT = "<|endoftext|>"


def byte_symbols():
    """List of (byte, symbol) in vocabulary order: printable Latin-1 bytes keep
    their character, the 68 others get U+0100, U+0101 … in byte order."""
    printable = [b for b in range(256)
                 if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    others = [b for b in range(256) if b not in printable]
    pairs = [(b, chr(b)) for b in printable]
    pairs += [(b, chr(0x100 + k)) for k, b in enumerate(others)]
    return pairs


def read_merges_gz(path):
    with gzip.open(path, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    if "#version" not in lines[0]:
        raise ValueError("%s: no #version header" % path)
    merges = [tuple(line.split()) for line in lines[1:1 + N_MERGES]]
    if len(merges) < N_MERGES:
        raise ValueError("%s: only %d merges" % (path, len(merges)))
    return merges


def vocabulary_from_merges(merges):
    symbols = [s for _, s in byte_symbols()]
    vocab = symbols + [s + "</w>" for s in symbols]
    vocab += ["".join(m) for m in merges]
    vocab += [SOT, EOT]
    return vocab


class Tokenizer:
    def __init__(self, path):
        if os.path.isdir(path):
            with open(os.path.join(path, "vocab.json"), encoding="utf-8") as f:
                self.encoder = json.load(f)
            with open(os.path.join(path, "merges.txt"), encoding="utf-8") as f:
                lines = f.read().strip().split("\n")
            merges = [tuple(line.split()) for line in lines[1:1 + N_MERGES]]
        else:
            merges = read_merges_gz(path)
            vocab = vocabulary_from_merges(merges)
            self.encoder = {}
            for i, s in enumerate(vocab):
                self.encoder[s] = i
        self.ranks = {}
        for rank, pair in enumerate(merges):
            self.ranks[pair] = rank
        self.byte_symbol = dict(byte_symbols())
        self.sot = self.encoder[SOT]
        self.eot = self.encoder[EOT]
        self.words = {}

    # -- cleaning ---------------------------------------------------------
    @staticmethod
    def clean(text):
        text = html.unescape(html.unescape(text)).strip()
        text = re.sub(r"\s+", " ", text).strip()
        return text.lower()

    # -- splitting --------------------------------------------------------
    @staticmethod
    def split(text):
        def is_letter(c):
            return unicodedata.category(c).startswith("L")

        def is_number(c):
            return unicodedata.category(c).startswith("N")

        def same_caseless(a, b):
            # Case-insensitive comparison of one character of the text with a
            # lower-case ASCII letter of the pattern: only 'ſ' (long s, which
            # folds to 's') and 'K' (Kelvin sign, folds to 'k') join the
            # ASCII pair, and the text is lower-cased already.
            return a == b or (a, b) in (("\u017f", "s"), ("\u212a", "k"))

        def literal_at(i, lit):
            if i + len(lit) > len(text):
                return False
            return all(same_caseless(text[i + k], lit[k]) for k in range(len(lit)))

        pieces = []
        i = 0
        n = len(text)
        while i < n:
            c = text[i]
            for lit in (SOT, EOT, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"):
                if literal_at(i, lit):
                    pieces.append(text[i:i + len(lit)])
                    i += len(lit)
                    break
            else:
                if is_letter(c):
                    j = i + 1
                    while j < n and is_letter(text[j]):
                        j += 1
                elif is_number(c):
                    j = i + 1
                elif c.isspace():
                    i += 1
                    continue
                else:
                    j = i + 1
                    while j < n and not (text[j].isspace() or is_letter(text[j])
                                         or is_number(text[j])):
                        j += 1
                pieces.append(text[i:j])
                i = j
        return pieces

    # -- BPE --------------------------------------------------------------
    def bpe(self, word):
        """word: the symbols of one piece. Returns the merged symbols."""
        if word in self.words:
            return self.words[word]
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            # The adjacent pair with the lowest rank ...
            best = None
            for k in range(len(symbols) - 1):
                pair = (symbols[k], symbols[k + 1])
                rank = self.ranks.get(pair)
                if rank is not None and (best is None or rank < best[0]):
                    best = (rank, pair)
            if best is None:
                break
            # ... merged wherever it occurs, left to right.
            left, right = best[1]
            merged = []
            k = 0
            while k < len(symbols):
                if k + 1 < len(symbols) and symbols[k] == left and symbols[k + 1] == right:
                    merged.append(left + right)
                    k += 2
                else:
                    merged.append(symbols[k])
                    k += 1
            symbols = merged
        self.words[word] = symbols
        return symbols

    def encode(self, text):
        ids = []
        for piece in self.split(self.clean(text)):
            if piece in (SOT, EOT):
                ids.append(self.encoder[piece])
                continue
            word = "".join(self.byte_symbol[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[s] for s in self.bpe(word))
        return ids

    def tokenize(self, text, context_length=CONTEXT_LENGTH, pad=0):
        """Returns (ids, eot_pos, truncated): sot + ids + eot, cut to
        context_length with eot kept last, padded with pad; eot_pos is the
        first end-of-text (what argmax over the ids gives the text tower)."""
        tokens = [self.sot] + self.encode(text) + [self.eot]
        truncated = len(tokens) > context_length
        if truncated:
            tokens = tokens[:context_length]
            tokens[-1] = self.eot
        eot_pos = tokens.index(self.eot)
        return tokens + [pad] * (context_length - len(tokens)), eot_pos, truncated


# -- test strings -----------------------------------------------------------
ESCAPES = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}


def unescape_line(line):
    """The escape convention of tests/tokenizer_strings.txt: \\\\ \\n \\t \\r
    \\f \\v, \\uXXXX and \\UXXXXXXXX; any other backslash is an error."""
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = line[i + 1] if i + 1 < len(line) else ""
        if e in ESCAPES:
            out.append(ESCAPES[e])
            i += 2
        elif e in ("u", "U"):
            width = 4 if e == "u" else 8
            digits = line[i + 2:i + 2 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError("bad \\%s escape in %r" % (e, line))
            cp = int(digits, 16)
            if cp == 0 or 0xD800 <= cp <= 0xDFFF or cp > 0x10FFFF:
                raise ValueError("escape \\%s%s is not a usable character" % (e, digits))
            out.append(chr(cp))
            i += 2 + width
        else:
            raise ValueError("unknown escape \\%s in %r" % (e, line))
    return "".join(out)


def read_strings(path):
    with open(path, encoding="utf-8", newline="\n") as f:
        data = f.read()
    if data.endswith("\n"):
        data = data[:-1]
    return [unescape_line(line) for line in data.split("\n")]


def golden_lines(vocab_path, strings_path):
    tok = Tokenizer(vocab_path)
    strings = read_strings(strings_path)
    yield "# CLIP tokenizer golden ids, written by tests/clip_tokenizer_ref.py; regenerate with\n"
    yield ("#   /usr/bin/python3 tests/clip_tokenizer_ref.py golden "
           "../shared/data/clip-bpe-simple-vocab-16e6.txt.gz tests/tokenizer_strings.txt "
           "> tests/golden/clip-tokenizer-ids.txt\n")
    yield "# One line per string of tokenizer_strings.txt, tab-separated:\n"
    yield "#   index, BPE ids (no sot/eot; '-' when none), eot position, truncated (0/1),\n"
    yield "#   the %d-token sequence padded with 0\n" % CONTEXT_LENGTH
    for index, text in enumerate(strings):
        ids = tok.encode(text)
        seq, eot_pos, truncated = tok.tokenize(text)
        yield "%d\t%s\t%d\t%d\t%s\n" % (index, " ".join(map(str, ids)) or "-", eot_pos,
                                         int(truncated), " ".join(map(str, seq)))


def write_hf(vocab_path, out_dir):
    merges = read_merges_gz(vocab_path)
    vocab = vocabulary_from_merges(merges)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({s: i for i, s in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for left, right in merges:
            f.write("%s %s\n" % (left, right))


def main(argv):
    if len(argv) >= 3 and argv[1] == "encode":
        tok = Tokenizer(argv[2])
        for text in argv[3:]:
            seq, eot_pos, truncated = tok.tokenize(text)
            print(seq[:eot_pos + 1], "eot", eot_pos, "truncated" if truncated else "")
        return 0
    if len(argv) == 4 and argv[1] == "golden":
        sys.stdout.writelines(golden_lines(argv[2], argv[3]))
        return 0
    if len(argv) == 5 and argv[1] == "check":
        if not os.path.exists(argv[2]):
            print("skipped: vocabulary %s not found" % argv[2])
            return 77
        with open(argv[4], encoding="utf-8") as f:
            committed = f.read()
        if "".join(golden_lines(argv[2], argv[3])) != committed:
            print("%s is out of date: regenerate it (see its header)" % argv[4])
            return 1
        print("%s matches the reference" % argv[4])
        return 0
    if len(argv) == 4 and argv[1] == "write-hf":
        write_hf(argv[2], argv[3])
        return 0
    sys.stderr.write(__doc__ or "usage: see the comment at the top of this file\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
