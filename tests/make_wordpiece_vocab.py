#!/usr/bin/python3
# gst-vlm — builds a small BERT-style WordPiece vocab.txt for tests and demo
# models (no real BERT vocabulary is available here). Standard library only.
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Layout, as in BERT uncased so the special ids land where GIT expects them:
#   0 [PAD], 1..99 [unused0]..[unused98], 100 [UNK], 101 [CLS], 102 [SEP],
#   103 [MASK], then single characters, then "##" + each character, then whole
#   words, then "##" continuation pieces. Every line is unique.
#
# As a module:
#   import make_wordpiece_vocab as mv
#   vocab = mv.build_vocab(["a", "cat", "dog"], ["s", "ing"])   # list, index = id
#   mv.write_vocab("out/vocab.txt", vocab)
#
# The test vocabulary (tests/golden/wordpiece-vocab.txt, committed) from the
# repository root:
#   /usr/bin/python3 tests/make_wordpiece_vocab.py test tests/wordpiece_strings.txt \
#       > tests/golden/wordpiece-vocab.txt
# and `check STRINGS VOCAB` exits 0 when VOCAB is what `test` writes now. A
# plain vocabulary of the built-in words: `make_wordpiece_vocab.py basic OUT`.
import os
import re
import sys
import unicodedata
import zlib

SPECIAL_TOKENS = ["[PAD]"] + ["[unused%d]" % i for i in range(99)] + \
    ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# Characters of their own: printable ASCII, common accented letters (BERT
# uncased strips accents before lookup, but a cased or accent-keeping
# tokenizer sees them), a little Greek and Cyrillic, a few CJK ideographs,
# kana, and some punctuation and symbols beyond ASCII.
DEFAULT_CHARS = (
    [chr(c) for c in range(33, 127)]
    + list("àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœ")
    + list("αβγδεζηθικλμνξοπρστυφχψως")
    + list("абвгдежзийклмнопрстуфхцчшщъыьэюя")
    + list("一二三人大小中日月山水火天上下我你他爱北京东西南门")
    + list("のはをにがでとカタナテキスト")
    + list("¡¿«»–—‘’“”…•·€£¥°±×÷§¶©®™½¼¾²³")
)

# Common words of captions and questions, and a few that the hand-checked
# cases rely on. models/make_git_checkpoint.py builds the tiny GIT model's
# vocabulary from build_vocab(BUILTIN_WORDS, BUILTIN_PIECES) and its seeds
# were chosen for that vocabulary: changing DEFAULT_CHARS, BUILTIN_WORDS or
# BUILTIN_PIECES changes that checkpoint (and needs its tests re-checked).
BUILTIN_WORDS = """
a an the this that these those there here is are was were be been being am do does did
has have had having can could will would should may might must shall not no yes and or
but if then than so because of in on at to from by with without into onto over under
above below between behind beside near next front back top bottom left right middle
inside outside up down out off about around through across along against during before
after while until of for as it its he she they them their his her him we us our
you your i me my mine what which who whom whose where when why how many much some any
all each every both few more most other another such only own same very too also just
one two three four five six seven eight nine ten eleven twelve twenty hundred thousand
first second third last number color colour colors red green blue yellow orange purple
pink brown black white gray grey silver gold dark light bright pale
man men woman women person people boy girl child children baby kid kids player players
dog dogs cat cats horse horses cow cows sheep bird birds elephant elephants bear bears
zebra zebras giraffe giraffes duck fish animal animals pet
car cars truck trucks bus buses train trains bike bicycle motorcycle boat boats plane
airplane street road sign signs light lights traffic stop parking lot building buildings
house home room kitchen bathroom bedroom living table tables chair chairs couch sofa bed
desk window windows door doors wall floor ceiling shelf
food pizza sandwich cake donut banana bananas apple apples orange oranges broccoli
carrot hot dog plate bowl cup glass bottle fork knife spoon
water sky cloud clouds sun snow grass tree trees field beach ocean sea lake river
mountain mountains hill park city town sidewalk fence
shirt hat jacket dress umbrella bag backpack tie glasses phone laptop computer keyboard
mouse screen television tv clock book books vase toilet sink mirror
ball frisbee kite skateboard surfboard skis snowboard racket bat glove tennis baseball
soccer game field court
sitting standing walking running riding holding playing eating looking flying lying
laying parked wearing carrying jumping swimming driving
sits stands walks runs rides holds plays eats looks flies
big small large little tall short long old new young open closed empty full round
square circle triangle shape shapes picture photo image photograph view scene
day night morning evening sunset time
hello world hi welcome thanks please good bad nice happy sad
un ##aff ##able
""".split()

# Frequent word endings; continuation pieces as in BERT.
BUILTIN_PIECES = """
s es ed ing er ers est ly ness ment ments tion tions sion able ible al ful less ous ive
ize ise ist ists ity y ie ies en ern ing ings ic ical ship hood ward wards
""".split()


def _unique(tokens):
    seen = set()
    out = []
    for t in tokens:
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def build_vocab(words=(), pieces=(), chars=None):
    """The vocabulary as a list (index = id): the special tokens, each
    character of `chars` (default DEFAULT_CHARS) and "##" + it, `words`, then
    `pieces` as "##" continuations ("##" is added unless already there).
    Duplicates and empty strings are dropped, the first occurrence kept.
    Tokens may not hold whitespace (vocab.txt is one token per line)."""
    chars = list(DEFAULT_CHARS if chars is None else chars)
    body = list(chars) + ["##" + c for c in chars] + list(words)
    body += [p if p.startswith("##") else "##" + p for p in pieces]
    for t in body:
        if any(c.isspace() for c in t):
            raise ValueError("token %r holds whitespace" % t)
    return _unique(SPECIAL_TOKENS + body)


def write_vocab(path, vocab):
    """Writes one token a line, \\n line ends, UTF-8."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(t + "\n" for t in vocab))


# -- the test vocabulary ------------------------------------------------------
def simple_words(text):
    """Rough words of `text`: lower-cased, accents stripped, letters and
    digits only. Enough to pick vocabulary entries; not a tokenizer."""
    text = "".join(c for c in unicodedata.normalize("NFD", text.lower())
                   if unicodedata.category(c) != "Mn")
    return re.findall(r"[^\W_]+", text)


def test_vocab(strings):
    """The vocabulary of the tests, from their strings: a word is, by a hash
    of it, (0) a whole word, (1) a whole word and a continuation piece, (2)
    cut in two — its first half a word, the rest a piece — or (3) left out,
    to be spelt character by character or to become [UNK]. Characters not
    in DEFAULT_CHARS (emoji, hangul, most CJK) become [UNK]. Then the
    built-in words and pieces, and every two-letter continuation."""
    words, pieces = [], []
    for text in strings:
        for w in simple_words(text):
            if len(w) > 30:
                continue
            kind = zlib.crc32(w.encode("utf-8")) % 4
            if kind == 0:
                words.append(w)
            elif kind == 1:
                words.append(w)
                pieces.append(w[len(w) // 2:])
            elif kind == 2 and len(w) > 1:
                words.append(w[:(len(w) + 1) // 2])
                pieces.append(w[(len(w) + 1) // 2:])
    letters = "abcdefghijklmnopqrstuvwxyz"
    pairs = [a + b for a in letters for b in letters]
    # Keep the hand-checked split "un ##aff ##able": none of "unaffable"'s
    # longer prefixes or suffixes may be tokens.
    blocked = {"una", "unaf", "unaff", "unaffa", "unaffab", "unaffabl", "unaffable",
               "##affa", "##affab", "##affabl", "##affable"}
    vocab = build_vocab(BUILTIN_WORDS + words, BUILTIN_PIECES + pieces + pairs)
    return [t for t in vocab if t not in blocked]


def read_strings(path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import wordpiece_ref
    return wordpiece_ref.read_strings(path)


def main(argv):
    if len(argv) == 3 and argv[1] == "test":
        sys.stdout.writelines(t + "\n" for t in test_vocab(read_strings(argv[2])))
        return 0
    if len(argv) == 4 and argv[1] == "check":
        with open(argv[3], encoding="utf-8", newline="\n") as f:
            committed = f.read()
        if "".join(t + "\n" for t in test_vocab(read_strings(argv[2]))) != committed:
            print("%s is out of date: regenerate it (see the header of %s)" % (argv[3], argv[0]))
            return 1
        print("%s matches the generator" % argv[3])
        return 0
    if len(argv) == 3 and argv[1] == "basic":
        write_vocab(argv[2], build_vocab(BUILTIN_WORDS, BUILTIN_PIECES))
        return 0
    sys.stderr.write("usage: see the comment at the top of %s\n" % argv[0])
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
