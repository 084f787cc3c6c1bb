#!/usr/bin/python3
# gst-vlm — an independent reference BERT WordPiece tokenizer, Python standard
# library only (unicodedata for the character classes).
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Follows Hugging Face's Python BertTokenizer with do_lower_case=True, as
# PreTrainedTokenizer.tokenize() drives it:
#   - special tokens written in the text are cut out first (case-sensitive);
#   - when lower-casing, every other character goes through str.lower() on
#     its own (PreTrainedTokenizer's per-character pass: no final sigma);
#   - BasicTokenizer: clean (drop NUL, U+FFFD and category C* except
#     \t \n \r; whitespace to a space), spaces around CJK ideographs, NFC,
#     str.split(), then per word str.lower(), NFD without category Mn, and a
#     split around punctuation;
#   - WordPiece: greedy longest match first with "##", [UNK] for words over
#     100 characters or that cannot be covered.
# Decoding: tokens joined with spaces, " ##" removed, strip(), then the
# clean_up_tokenization replacements.
#
# Golden file for tests/test-wordpiece.c (run from the repository root):
#   /usr/bin/python3 tests/wordpiece_ref.py golden tests/golden/wordpiece-vocab.txt \
#       tests/wordpiece_strings.txt > tests/golden/wordpiece-ids.txt
# Other commands:
#   encode VOCAB TEXT...              print words, tokens and ids
#   decode VOCAB ID...                print the decoded text (and with skip_special)
#   check VOCAB STRINGS GOLDEN        exit 0 if GOLDEN is what `golden` writes now
import sys
import unicodedata

MAX_WORD_CHARS = 100
SPECIAL_NAMES = ("[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]")


def read_vocab(path):
    """Token list, index = id. Text mode with universal newlines, as
    Hugging Face's load_vocab() reads it: \\r\\n and \\r end lines too."""
    with open(path, "r", encoding="utf-8") as f:
        lines = f.readlines()
    return [line[:-1] if line.endswith("\n") else line for line in lines]


# -- character classes ------------------------------------------------------
def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch)[0] == "C"


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch)[0] == "P"


CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_cjk(ch):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


class Tokenizer:
    def __init__(self, vocab_path, lower=True):
        self.vocab = read_vocab(vocab_path)
        self.token_id = {}
        for index, token in enumerate(self.vocab):
            self.token_id[token] = index        # a repeated token: last line wins
        self.lower = lower
        self.specials = [s for s in SPECIAL_NAMES if s in self.token_id]
        for s in SPECIAL_NAMES[:4]:
            if s not in self.token_id:
                raise ValueError("%s: %s missing" % (vocab_path, s))
        self.unk = "[UNK]"
        self.special_ids = set(self.token_id[s] for s in self.specials)

    # -- text → words -----------------------------------------------------
    def split_specials(self, text):
        """[(piece, is_special)], the special tokens cut out leftmost first."""
        out = []
        plain = 0
        i = 0
        while i < len(text):
            hit = None
            for s in self.specials:
                if text.startswith(s, i) and (hit is None or len(s) > len(hit)):
                    hit = s
            if hit is None:
                i += 1
                continue
            if i > plain:
                out.append((text[plain:i], False))
            out.append((hit, True))
            i += len(hit)
            plain = i
        if plain < len(text):
            out.append((text[plain:], False))
        return out

    @staticmethod
    def clean(text):
        chars = []
        for ch in text:
            if ch == "\0" or ch == "\ufffd" or is_control(ch):
                continue
            chars.append(" " if is_whitespace(ch) else ch)
        return "".join(chars)

    @staticmethod
    def space_cjk(text):
        return "".join(" %s " % ch if is_cjk(ch) else ch for ch in text)

    @staticmethod
    def strip_accents(word):
        return "".join(ch for ch in unicodedata.normalize("NFD", word)
                       if unicodedata.category(ch) != "Mn")

    @staticmethod
    def split_punctuation(word):
        pieces = []
        current = ""
        for ch in word:
            if is_punctuation(ch):
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(ch)
            else:
                current += ch
        if current:
            pieces.append(current)
        return pieces

    def basic(self, text):
        text = self.space_cjk(self.clean(text))
        text = unicodedata.normalize("NFC", text)
        words = []
        for word in text.split():
            if self.lower:
                word = self.strip_accents(word.lower())
            words.extend(self.split_punctuation(word))
        return words

    def words(self, text):
        """[(word, is_special)] of the whole text."""
        out = []
        for piece, special in self.split_specials(text):
            if special:
                out.append((piece, True))
                continue
            if self.lower:
                piece = "".join(ch.lower() for ch in piece)
            out.extend((w, False) for w in self.basic(piece))
        return out

    # -- words → tokens ---------------------------------------------------
    def wordpiece(self, word):
        if len(word) > MAX_WORD_CHARS:
            return [self.unk]
        tokens = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                candidate = word[start:end] if start == 0 else "##" + word[start:end]
                if candidate in self.token_id:
                    tokens.append(candidate)
                    start = end
                    break
            else:
                return [self.unk]
        return tokens

    def tokenize(self, text):
        tokens = []
        for word, special in self.words(text):
            tokens.extend([word] if special else self.wordpiece(word))
        return tokens

    def encode(self, text):
        return [self.token_id[t] for t in self.tokenize(text)]

    # -- ids → text -------------------------------------------------------
    def decode(self, ids, skip_special=False):
        tokens = []
        for i in ids:
            if skip_special and i in self.special_ids:
                continue
            tokens.append(self.vocab[i] if 0 <= i < len(self.vocab) else self.unk)
        text = " ".join(tokens).replace(" ##", "").strip()
        for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                     (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"),
                     (" 're", "'re")):
            text = text.replace(a, b)
        return text


# -- test strings -------------------------------------------------------------
ESCAPES = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}


def unescape_line(line):
    """The escape convention of the strings file: \\\\ \\n \\t \\r \\f \\v,
    \\uXXXX and \\UXXXXXXXX (not NUL, not surrogates)."""
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


def escape_field(text):
    """Decoded text in the golden file: backslash, tab, newline, CR escaped."""
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def golden_lines(vocab_path, strings_path):
    tok = Tokenizer(vocab_path)
    cls, sep = tok.token_id["[CLS]"], tok.token_id["[SEP]"]
    yield "# WordPiece golden ids, written by tests/wordpiece_ref.py; regenerate with\n"
    yield ("#   /usr/bin/python3 tests/wordpiece_ref.py golden tests/golden/wordpiece-vocab.txt "
           "tests/wordpiece_strings.txt > tests/golden/wordpiece-ids.txt\n")
    yield "# One line per string of wordpiece_strings.txt, tab-separated:\n"
    yield "#   index, ids (no [CLS]/[SEP] added; '-' when none), decode(ids),\n"
    yield "#   decode([CLS] + ids + [SEP], skip_special=True); \\\\ \\t \\n \\r escaped\n"
    for index, text in enumerate(read_strings(strings_path)):
        ids = tok.encode(text)
        yield "%d\t%s\t%s\t%s\n" % (index, " ".join(map(str, ids)) or "-",
                                     escape_field(tok.decode(ids)),
                                     escape_field(tok.decode([cls] + ids + [sep], True)))


def main(argv):
    if len(argv) >= 3 and argv[1] == "encode":
        tok = Tokenizer(argv[2])
        for text in argv[3:]:
            print("words ", [w for w, _ in tok.words(text)])
            print("tokens", tok.tokenize(text))
            print("ids   ", tok.encode(text))
        return 0
    if len(argv) >= 3 and argv[1] == "decode":
        tok = Tokenizer(argv[2])
        ids = [int(x) for x in argv[3:]]
        print(repr(tok.decode(ids)))
        print(repr(tok.decode(ids, True)))
        return 0
    if len(argv) == 4 and argv[1] == "golden":
        sys.stdout.writelines(golden_lines(argv[2], argv[3]))
        return 0
    if len(argv) == 5 and argv[1] == "check":
        with open(argv[4], encoding="utf-8", newline="\n") as f:
            committed = f.read()
        if "".join(golden_lines(argv[2], argv[3])) != committed:
            print("%s is out of date: regenerate it (see its header)" % argv[4])
            return 1
        print("%s matches the reference" % argv[4])
        return 0
    sys.stderr.write("usage: see the comment at the top of %s\n" % argv[0])
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
