#!/usr/bin/python3
# gst-vlm — writes vlm-html-entities.h, the table of HTML named character
# references the CLIP tokenizer decodes.
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The data is the WHATWG list of named character references (2 231 names,
# 106 of them also valid without the final ';'), read from Python's
# html.entities.html5, which is exactly the table html.unescape() — and so the
# reference CLIP tokenizer — uses. Regenerate from the repository root with:
#   /usr/bin/python3 engine/text/gen-html-entities.py > engine/text/vlm-html-entities.h
import html.entities
import sys


def c_literal(text):
    """A C string literal for text's UTF-8 bytes (octal escapes: never ambiguous)."""
    out = []
    for byte in text.encode("utf-8"):
        if 0x20 <= byte < 0x7F and byte not in (ord('"'), ord("\\"), ord("?")):
            out.append(chr(byte))
        else:
            out.append("\\%03o" % byte)
    return '"' + "".join(out) + '"'


def main():
    # Sorted by bytes, the order strcmp() and bsearch() use.
    names = sorted(html.entities.html5, key=lambda name: name.encode("ascii"))
    longest = max(len(name) for name in names)
    w = sys.stdout.write
    w("/* gst-vlm engine — HTML named character references (generated: do not edit).\n")
    w(" * SPDX-License-Identifier: LGPL-2.1-or-later\n")
    w(" *\n")
    w(" * The WHATWG list as shipped in Python's html.entities.html5 (%d names;\n"
      " * those without ';' are the legacy forms HTML also accepts). Regenerate from\n"
      " * the repository root with\n"
      " *   /usr/bin/python3 engine/text/gen-html-entities.py > engine/text/vlm-html-entities.h\n"
      " */\n" % len(names))
    w("#pragma once\n\n")
    w("/* Longest name, ';' included. */\n")
    w("#define VLM_HTML_ENTITY_MAX_NAME %d\n\n" % longest)
    w("typedef struct {\n  const char *name;\n  const char *utf8;\n} VlmHtmlEntity;\n\n")
    w("/* Sorted by strcmp() on the name. */\n")
    w("static const VlmHtmlEntity vlm_html_entities[] = {\n")
    for name in names:
        w("  { %s, %s },\n" % (c_literal(name), c_literal(html.entities.html5[name])))
    w("};\n")


if __name__ == "__main__":
    main()
