/* gst-vlm engine — the CLIP byte-level BPE tokenizer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Exactly what OpenAI's reference tokenizer (simple_tokenizer.py) does, step
 * by step:
 *
 *  1. Clean. The reference first runs ftfy.fix_text(): that is out of scope
 *     here (no mojibake repair, no NFC, no uncurling of quotes, no fullwidth
 *     folding), so text that ftfy would change may tokenize differently.
 *     Then HTML character references are decoded twice, like
 *     html.unescape(html.unescape(x)) (all 2 231 WHATWG names, numeric
 *     references with Python's replacement rules), runs of whitespace become
 *     one space (Python's str.isspace() set) and the ends are stripped.
 *  2. Lower-case like Python's str.lower(): full mappings (İ → i + U+0307)
 *     and the final-sigma rule, independent of the locale.
 *  3. Split with the CLIP pattern (GRegex/PCRE2, case-insensitive):
 *       <|startoftext|> | <|endoftext|> | 's 't 're 've 'm 'll 'd |
 *       letters+ | one number character | other non-space characters+
 *  4. Map each piece's UTF-8 bytes to symbols (printable Latin-1 bytes keep
 *     their code point, the other 68 go to U+0100 onwards in byte order),
 *     append </w> to the last symbol and apply BPE: repeatedly take the pair
 *     of adjacent symbols with the lowest merge rank and merge all its
 *     occurrences, left to right, until no pair has a rank.
 *  5. Sequence: start-of-text, the ids, end-of-text; padded or truncated to
 *     the context length with end-of-text kept last.
 *
 * BPE runs with a heap of (rank, position) entries, O(n log n) per word, so
 * a pathological megabyte-long word cannot stall a pipeline; it merges in
 * the same order as the reference's quadratic loop (all occurrences of one
 * rank before any pair that those merges created).
 */
#include <string.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "vlm-device.h"
#include "loaders/vlm-json.h"
#include "vlm-clip-tokenizer.h"
#include "vlm-html-entities.h"

#define SOT_TEXT "<|startoftext|>"
#define EOT_TEXT "<|endoftext|>"
#define END_OF_WORD "</w>"

/* The original vocabulary decompresses to ~1.4 MB; refuse gzip bombs (and
 * vocab.json or merges.txt files larger than this). */
#define MAX_VOCAB_FILE_SIZE (64 * 1024 * 1024)

/* Words up to this many bytes are cached; the cache is emptied when full. */
#define CACHE_MAX_WORD 64
#define CACHE_MAX_ENTRIES 65536

/* CLIP's pattern, with \s spelled out as Unicode's White_Space property
 * (what the reference's `regex` module means by it): PCRE2's \s also takes
 * U+180E MONGOLIAN VOWEL SEPARATOR, a format character since Unicode 6.3. */
#define WHITE_SPACE "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}" \
  "\\x{202f}\\x{205f}\\x{3000}"
#define SPLIT_PATTERN \
  "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|" \
  "[\\p{L}]+|[\\p{N}]|[^" WHITE_SPACE "\\p{L}\\p{N}]+"

typedef struct {
  gint64 key;   /* left id << 32 | right id: the hash key, must stay first */
  gint32 left;
  gint32 right;
  gint32 merged;
} Merge;

struct _VlmClipTokenizer {
  gint32 byte_id[256];      /* symbol of each byte */
  gint32 byte_end_id[256];  /* the same followed by </w> */
  gint32 sot_id;
  gint32 eot_id;
  guint vocab_size;
  guint n_merges;
  Merge *merges;            /* indexed by rank */
  GHashTable *ranks;        /* &Merge.key → Merge */
  GRegex *split;
  GMutex cache_lock;
  GHashTable *cache;        /* word bytes → gint32[1 + n]: n, then the ids */
};

/* ------------------------------------------------------------------------ */
/* Byte symbols */

static gboolean
byte_is_printable (guint b)
{
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

/* byte_char[b]: the code point standing for byte b. order[i]: the byte whose
 * symbol is the i-th of the vocabulary (printable bytes first, in byte order,
 * then the 68 others). */
static void
byte_symbols (gunichar byte_char[256], guint8 order[256])
{
  guint n = 0, extra = 0;
  for (guint b = 0; b < 256; b++)
    if (byte_is_printable (b)) {
      byte_char[b] = b;
      order[n++] = b;
    }
  for (guint b = 0; b < 256; b++)
    if (!byte_is_printable (b)) {
      byte_char[b] = 256 + extra++;
      order[n++] = b;
    }
}

static gchar *
symbol_string (gunichar c, gboolean end_of_word)
{
  gchar buf[8];
  gint n = g_unichar_to_utf8 (c, buf);
  buf[n] = '\0';
  return g_strconcat (buf, end_of_word ? END_OF_WORD : "", NULL);
}

/* ------------------------------------------------------------------------ */
/* Cleaning: HTML references */

static int
entity_cmp (const void *key, const void *elem)
{
  return strcmp (key, ((const VlmHtmlEntity *) elem)->name);
}

/* The replacement of the named reference @name (@len bytes), or NULL. */
static const gchar *
entity_lookup (const gchar *name, gsize len)
{
  gchar buf[VLM_HTML_ENTITY_MAX_NAME + 1];
  if (len > VLM_HTML_ENTITY_MAX_NAME)
    return NULL;
  memcpy (buf, name, len);
  buf[len] = '\0';
  const VlmHtmlEntity *e = bsearch (buf, vlm_html_entities, G_N_ELEMENTS (vlm_html_entities),
                                    sizeof (VlmHtmlEntity), entity_cmp);
  return e ? e->utf8 : NULL;
}

/* Numeric references 0x80–0x9F name Windows-1252 characters (HTML's rule);
 * five unassigned ones stay C1 controls. */
static const gunichar windows_1252_c1[32] = {
  0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
  0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
  0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
  0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

/* Appends what Python's html.unescape() makes of the numeric reference
 * &#num; — in this order: the replacement table (NUL, CR, 0x80–0x9F), U+FFFD
 * for surrogates and values past U+10FFFF, nothing for controls and
 * noncharacters, else the character itself. */
static void
append_numeric_reference (GString *out, guint32 num)
{
  if (num == 0) {
    g_string_append_unichar (out, 0xfffd);
  } else if (num == 0x0d) {
    g_string_append_c (out, '\r');
  } else if (num >= 0x80 && num <= 0x9f) {
    g_string_append_unichar (out, windows_1252_c1[num - 0x80]);
  } else if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) {
    g_string_append_unichar (out, 0xfffd);
  } else if ((num >= 0x01 && num <= 0x08) || num == 0x0b || (num >= 0x0e && num <= 0x1f) ||
             num == 0x7f || (num >= 0xfdd0 && num <= 0xfdef) || (num & 0xfffe) == 0xfffe) {
    /* dropped */
  } else {
    g_string_append_unichar (out, num);
  }
}

static gint
hex_value (gchar c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Tries to decode the reference starting at @amp ('&'). On success appends
 * the replacement and returns the position after the reference; returns
 * NULL when nothing there is a reference (Python's pattern does not match).
 * The rules are html.unescape()'s:
 *   &#[0-9]+;?  |  &#[xX][0-9a-fA-F]+;?  |  &[^\t\n\f <&#;]{1,32};?
 * A name that is not in the table is shortened from the right (to no fewer
 * than two characters) until a prefix is; the rest is kept as text. */
static const gchar *
decode_reference (const gchar *amp, GString *out)
{
  const gchar *p = amp + 1;

  if (*p == '#') {
    gboolean hex = (p[1] == 'x' || p[1] == 'X');
    const gchar *digits = p + (hex ? 2 : 1);
    const gchar *q = digits;
    guint32 num = 0;
    while (hex ? hex_value (*q) >= 0 : g_ascii_isdigit (*q)) {
      /* Saturate: anything past U+10FFFF becomes U+FFFD anyway. */
      if (num <= 0x10ffff)
        num = num * (hex ? 16 : 10) + (guint32) hex_value (*q);
      q++;
    }
    if (q == digits)
      return NULL;
    if (*q == ';')
      q++;
    append_numeric_reference (out, num);
    return q;
  }

  /* A name: up to 32 characters (code points) outside the excluded set. */
  const gchar *end = p;
  gint n_chars = 0;
  while (*end && n_chars < 32 && strchr ("\t\n\f <&#;", *end) == NULL) {
    end = g_utf8_next_char (end);
    n_chars++;
  }
  if (n_chars == 0)
    return NULL;
  if (*end == ';') {
    end++;
    n_chars++;
  }

  const gchar *value = entity_lookup (p, end - p);
  if (value) {
    g_string_append (out, value);
    return end;
  }
  /* Longest prefix of at least two characters that is a name. */
  for (gint x = n_chars - 1; x >= 2; x--) {
    const gchar *cut = g_utf8_offset_to_pointer (p, x);
    value = entity_lookup (p, cut - p);
    if (value) {
      g_string_append (out, value);
      g_string_append_len (out, cut, end - cut);
      return end;
    }
  }
  g_string_append_len (out, amp, end - amp);
  return end;
}

/* One pass of html.unescape(). */
static gchar *
html_unescape (const gchar *text)
{
  GString *out = g_string_sized_new (strlen (text));
  const gchar *p = text;
  while (*p) {
    const gchar *amp = strchr (p, '&');
    if (!amp) {
      g_string_append (out, p);
      break;
    }
    g_string_append_len (out, p, amp - p);
    const gchar *next = decode_reference (amp, out);
    if (next) {
      p = next;
    } else {
      g_string_append_c (out, '&');
      p = amp + 1;
    }
  }
  return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Cleaning: whitespace and case */

/* Python's str.isspace(): bidirectional class WS, B or S, or category Zs. */
static gboolean
py_isspace (gunichar c)
{
  if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20))
    return TRUE;
  switch (c) {
    case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f:
    case 0x3000:
      return TRUE;
    default:
      return c >= 0x2000 && c <= 0x200a;
  }
}

/* Runs of whitespace become one space; none at either end. */
static gchar *
collapse_whitespace (const gchar *text)
{
  GString *out = g_string_sized_new (strlen (text));
  gboolean pending = FALSE;
  for (const gchar *p = text; *p; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (py_isspace (c)) {
      pending = out->len > 0;
      continue;
    }
    if (pending)
      g_string_append_c (out, ' ');
    pending = FALSE;
    g_string_append_len (out, p, g_utf8_next_char (p) - p);
  }
  return g_string_free (out, FALSE);
}

/* Unicode's Other_Lowercase and Other_Uppercase characters that are not
 * letters of category Lu, Ll or Lt (Unicode 14, Python 3.11's version). */
static const gunichar other_cased[][2] = {
  { 0x00aa, 0x00aa }, { 0x00ba, 0x00ba }, { 0x02b0, 0x02b8 }, { 0x02c0, 0x02c1 },
  { 0x02e0, 0x02e4 }, { 0x0345, 0x0345 }, { 0x037a, 0x037a }, { 0x1d2c, 0x1d6a },
  { 0x1d78, 0x1d78 }, { 0x1d9b, 0x1dbf }, { 0x2071, 0x2071 }, { 0x207f, 0x207f },
  { 0x2090, 0x209c }, { 0x2160, 0x217f }, { 0x24b6, 0x24e9 }, { 0x2c7c, 0x2c7d },
  { 0xa69c, 0xa69d }, { 0xa770, 0xa770 }, { 0xa7f8, 0xa7f9 }, { 0xab5c, 0xab5f },
  { 0x10780, 0x10780 }, { 0x10783, 0x10785 }, { 0x10787, 0x107b0 }, { 0x107b2, 0x107ba },
  { 0x1df25, 0x1df2a }, { 0x1f130, 0x1f149 }, { 0x1f150, 0x1f169 }, { 0x1f170, 0x1f189 },
};

/* Unicode's Cased property. */
static gboolean
is_cased (gunichar c)
{
  switch (g_unichar_type (c)) {
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
      return TRUE;
    default:
      break;
  }
  for (guint i = 0; i < G_N_ELEMENTS (other_cased); i++)
    if (c >= other_cased[i][0] && c <= other_cased[i][1])
      return TRUE;
  return FALSE;
}

/* Unicode's Case_Ignorable property: marks, format characters, modifier
 * letters and symbols, and the word-break classes MidLetter, MidNumLet and
 * Single_Quote. */
static gboolean
is_case_ignorable (gunichar c)
{
  switch (g_unichar_type (c)) {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
      return TRUE;
    default:
      break;
  }
  switch (c) {
    case 0x0027: case 0x002e: case 0x003a: case 0x00b7: case 0x0387: case 0x055f:
    case 0x05f4: case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xfe13:
    case 0xfe52: case 0xfe55: case 0xff07: case 0xff0e: case 0xff1a:
      return TRUE;
    default:
      return FALSE;
  }
}

/* Capital sigma at @i lower-cases to final ς when a cased character
 * precedes it and none follows (case-ignorable characters skipped both
 * ways) — Unicode's Final_Sigma condition, as Python applies it. */
static gboolean
is_final_sigma (const gunichar *s, glong n, glong i)
{
  glong j;
  for (j = i - 1; j >= 0 && is_case_ignorable (s[j]); j--)
    ;
  if (j < 0 || !is_cased (s[j]))
    return FALSE;
  for (j = i + 1; j < n && is_case_ignorable (s[j]); j++)
    ;
  return j == n || !is_cased (s[j]);
}

/* Python's str.lower(): simple mappings plus the two context-free or
 * language-independent special cases; no locale (GLib's g_utf8_strdown()
 * turns I into ı in a Turkish locale, and misses Ⅰ–Ⅿ and Ⓐ–Ⓩ). */
static gchar *
lowercase (const gchar *text)
{
  glong n;
  gunichar *s = g_utf8_to_ucs4_fast (text, -1, &n);
  GString *out = g_string_sized_new (strlen (text));
  for (glong i = 0; i < n; i++) {
    gunichar c = s[i];
    if (c == 0x0130) {              /* İ → i + combining dot above */
      g_string_append (out, "i\xcc\x87");
      continue;
    }
    if (c == 0x03a3)
      c = is_final_sigma (s, n, i) ? 0x03c2 : 0x03c3;
    else if (c >= 0x2160 && c <= 0x216f)   /* Roman numerals */
      c += 0x10;
    else if (c >= 0x24b6 && c <= 0x24cf)   /* circled Latin letters */
      c += 0x1a;
    else
      c = g_unichar_tolower (c);
    g_string_append_unichar (out, c);
  }
  g_free (s);
  return g_string_free (out, FALSE);
}

static gboolean
check_utf8 (const gchar *text, GError **error)
{
  const gchar *bad;
  if (g_utf8_validate (text, -1, &bad))
    return TRUE;
  g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
               "text: not valid UTF-8 (byte 0x%02x at offset %" G_GSIZE_FORMAT ")",
               (guint) (guchar) *bad, (gsize) (bad - text));
  return FALSE;
}

/**
 * vlm_clip_tokenizer_normalize_text:
 * @text: UTF-8 text
 * @error: return location for a #GError
 *
 * Cleans @text the way the tokenizer does before splitting it: HTML
 * references decoded twice, whitespace runs collapsed to one space, ends
 * stripped, then lower-cased like Python's str.lower(). ftfy's repairs,
 * which the reference applies first, are not done.
 *
 * Returns: (transfer full) (nullable): the cleaned text, or %NULL with
 *   @error set (%VLM_ERROR_INVALID_ARGUMENT) when @text is not UTF-8.
 */
gchar *
vlm_clip_tokenizer_normalize_text (const gchar *text, GError **error)
{
  g_return_val_if_fail (text != NULL, NULL);
  if (!check_utf8 (text, error))
    return NULL;
  g_autofree gchar *once = html_unescape (text);
  g_autofree gchar *twice = html_unescape (once);
  g_autofree gchar *collapsed = collapse_whitespace (twice);
  return lowercase (collapsed);
}

/* ------------------------------------------------------------------------ */
/* BPE */

static inline gint64
pair_key (gint32 left, gint32 right)
{
  return (gint64) (((guint64) (guint32) left << 32) | (guint32) right);
}

static const Merge *
find_merge (const VlmClipTokenizer *tok, gint32 left, gint32 right)
{
  gint64 key = pair_key (left, right);
  return g_hash_table_lookup (tok->ranks, &key);
}

typedef struct {
  gint32 rank;
  gint32 pos;
} HeapEntry;

static inline gboolean
heap_less (const HeapEntry *a, const HeapEntry *b)
{
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void
heap_push (GArray *heap, gint32 rank, gint32 pos)
{
  HeapEntry e = { rank, pos };
  g_array_append_val (heap, e);
  HeapEntry *h = (HeapEntry *) heap->data;
  guint i = heap->len - 1;
  while (i > 0) {
    guint parent = (i - 1) / 2;
    if (!heap_less (&h[i], &h[parent]))
      break;
    HeapEntry t = h[i];
    h[i] = h[parent];
    h[parent] = t;
    i = parent;
  }
}

static HeapEntry
heap_pop (GArray *heap)
{
  HeapEntry *h = (HeapEntry *) heap->data;
  HeapEntry top = h[0];
  h[0] = h[heap->len - 1];
  g_array_set_size (heap, heap->len - 1);
  guint n = heap->len, i = 0;
  for (;;) {
    guint l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && heap_less (&h[l], &h[m]))
      m = l;
    if (r < n && heap_less (&h[r], &h[m]))
      m = r;
    if (m == i)
      break;
    HeapEntry t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
  return top;
}

typedef struct {
  gint32 id;    /* -1 once merged into its left neighbour */
  gint32 prev;  /* -1 at the start */
  gint32 next;  /* -1 at the end */
} Symbol;

static void
push_pair (const VlmClipTokenizer *tok, GArray *heap, const Symbol *sym, gint32 pos)
{
  if (pos < 0 || sym[pos].next < 0)
    return;
  const Merge *m = find_merge (tok, sym[pos].id, sym[sym[pos].next].id);
  if (m)
    heap_push (heap, (gint32) (m - tok->merges), pos);
}

/* BPE of one piece (@n > 0 bytes); appends the ids to @out. */
static void
bpe_word (const VlmClipTokenizer *tok, const guint8 *bytes, gsize n, GArray *out)
{
  Symbol *sym = g_new (Symbol, n);
  for (gsize i = 0; i < n; i++) {
    sym[i].id = i + 1 < n ? tok->byte_id[bytes[i]] : tok->byte_end_id[bytes[i]];
    sym[i].prev = (gint32) i - 1;
    sym[i].next = i + 1 < n ? (gint32) i + 1 : -1;
  }

  GArray *heap = g_array_new (FALSE, FALSE, sizeof (HeapEntry));
  GArray *merged_at = g_array_new (FALSE, FALSE, sizeof (gint32));
  for (gsize i = 0; i + 1 < n; i++)
    push_pair (tok, heap, sym, (gint32) i);

  while (heap->len > 0) {
    /* Every occurrence of the lowest-ranked pair, left to right; the pairs
     * these merges create wait until all of them are done. */
    gint32 rank = ((HeapEntry *) heap->data)[0].rank;
    const Merge *m = &tok->merges[rank];
    g_array_set_size (merged_at, 0);
    while (heap->len > 0 && ((HeapEntry *) heap->data)[0].rank == rank) {
      gint32 pos = heap_pop (heap).pos;
      gint32 next = sym[pos].next;
      /* Stale entries: the symbol or its neighbour has changed since. */
      if (sym[pos].id != m->left || next < 0 || sym[next].id != m->right)
        continue;
      sym[pos].id = m->merged;
      sym[pos].next = sym[next].next;
      if (sym[next].next >= 0)
        sym[sym[next].next].prev = pos;
      sym[next].id = -1;
      g_array_append_val (merged_at, pos);
    }
    for (guint k = 0; k < merged_at->len; k++) {
      gint32 pos = g_array_index (merged_at, gint32, k);
      push_pair (tok, heap, sym, sym[pos].prev);
      push_pair (tok, heap, sym, pos);
    }
  }

  for (gint32 i = 0; i >= 0; i = sym[i].next)
    g_array_append_val (out, sym[i].id);

  g_array_free (merged_at, TRUE);
  g_array_free (heap, TRUE);
  g_free (sym);
}

/* BPE through the cache. */
static void
encode_word (VlmClipTokenizer *tok, const gchar *word, gsize n, GArray *out)
{
  if (n > CACHE_MAX_WORD) {
    bpe_word (tok, (const guint8 *) word, n, out);
    return;
  }

  gchar key[CACHE_MAX_WORD + 1];
  memcpy (key, word, n);
  key[n] = '\0';
  g_mutex_lock (&tok->cache_lock);
  const gint32 *hit = g_hash_table_lookup (tok->cache, key);
  if (hit)
    g_array_append_vals (out, hit + 1, hit[0]);
  g_mutex_unlock (&tok->cache_lock);
  if (hit)
    return;

  guint start = out->len;
  bpe_word (tok, (const guint8 *) word, n, out);
  guint count = out->len - start;
  gint32 *ids = g_new (gint32, count + 1);
  ids[0] = (gint32) count;
  memcpy (ids + 1, &g_array_index (out, gint32, start), count * sizeof (gint32));

  g_mutex_lock (&tok->cache_lock);
  if (g_hash_table_size (tok->cache) >= CACHE_MAX_ENTRIES)
    g_hash_table_remove_all (tok->cache);
  g_hash_table_replace (tok->cache, g_strdup (key), ids);
  g_mutex_unlock (&tok->cache_lock);
}

/* Appends the ids of @text to @ids; stops once @ids holds @max_tokens or
 * more (all of them when @max_tokens is negative). */
static gboolean
encode_text (VlmClipTokenizer *tok, const gchar *text, gint max_tokens, GArray *ids,
             GError **error)
{
  g_autofree gchar *clean = vlm_clip_tokenizer_normalize_text (text, error);
  if (!clean)
    return FALSE;

  g_autoptr(GMatchInfo) match = NULL;
  g_autoptr(GError) regex_error = NULL;
  g_regex_match (tok->split, clean, 0, &match);
  while (g_match_info_matches (match)) {
    if (max_tokens >= 0 && ids->len >= (guint) max_tokens)
      break;
    gint start, end;
    g_match_info_fetch_pos (match, 0, &start, &end);
    const gchar *piece = clean + start;
    gsize len = end - start;
    /* Only the exact lower-case strings are special: the pattern, being
     * case-insensitive, also matches <|ſtartoftext|> (ſ folds to s), which
     * the reference encodes as ordinary text. */
    if (len == strlen (SOT_TEXT) && memcmp (piece, SOT_TEXT, len) == 0)
      g_array_append_val (ids, tok->sot_id);
    else if (len == strlen (EOT_TEXT) && memcmp (piece, EOT_TEXT, len) == 0)
      g_array_append_val (ids, tok->eot_id);
    else if (len > 0)
      encode_word (tok, piece, len, ids);
    if (!g_match_info_next (match, &regex_error) && regex_error) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
                   "text: splitting into words failed: %s", regex_error->message);
      return FALSE;
    }
  }
  return TRUE;
}

/**
 * vlm_clip_tokenizer_encode_tokens:
 * @tok: a tokenizer
 * @text: UTF-8 text
 * @error: return location for a #GError
 *
 * Tokenizes @text without start-of-text, end-of-text, padding or
 * truncation: the reference's `encode()`. Mostly for tests.
 *
 * Returns: (transfer full) (element-type gint32) (nullable): the token ids
 *   (empty for empty or all-whitespace text), or %NULL with @error set
 *   (%VLM_ERROR_INVALID_ARGUMENT) when @text is not UTF-8.
 */
GArray *
vlm_clip_tokenizer_encode_tokens (VlmClipTokenizer *tok, const gchar *text, GError **error)
{
  g_return_val_if_fail (tok != NULL, NULL);
  g_return_val_if_fail (text != NULL, NULL);
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  if (!encode_text (tok, text, -1, ids, error)) {
    g_array_free (ids, TRUE);
    return NULL;
  }
  return ids;
}

/**
 * vlm_clip_tokenizer_encode:
 * @tok: a tokenizer
 * @text: UTF-8 text; empty text gives start-of-text, end-of-text, padding
 * @context_len: length of the output, at least 2 (%VLM_CLIP_CONTEXT_LENGTH
 *   for published models)
 * @pad_id: id that fills the positions after end-of-text: 0 like OpenAI's
 *   code, or the end-of-text id like Hugging Face's; both give the same
 *   embedding because the text tower pools at the first end-of-text
 * @ids_out: (out caller-allocates) (array length=context_len): the ids
 * @eot_pos_out: (out) (optional): index of the first end-of-text id in
 *   @ids_out, the position the text tower pools (argmax of the ids in the
 *   reference); it comes before the final one only when the text itself
 *   contains "<|endoftext|>"
 * @truncated_out: (out) (optional): whether the text had more than
 *   @context_len − 2 tokens and was cut
 * @error: return location for a #GError
 *
 * Tokenizes @text into start-of-text, the text's ids and end-of-text,
 * padded with @pad_id to @context_len. Longer text keeps its first
 * @context_len − 2 ids, and end-of-text stays last, like the reference's
 * `tokenize(..., truncate=True)`.
 *
 * Returns: %TRUE, or %FALSE with @error set (%VLM_ERROR_INVALID_ARGUMENT)
 *   for text that is not UTF-8, a @context_len below 2 or a @pad_id outside
 *   the vocabulary.
 */
gboolean
vlm_clip_tokenizer_encode (VlmClipTokenizer *tok, const gchar *text, gint context_len,
                           gint32 pad_id, gint32 *ids_out, gint *eot_pos_out,
                           gboolean *truncated_out, GError **error)
{
  g_return_val_if_fail (tok != NULL, FALSE);
  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (ids_out != NULL, FALSE);

  if (context_len < 2) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
                 "tokenizer: context length %d is too short (start-of-text and "
                 "end-of-text need 2)", context_len);
    return FALSE;
  }
  if (pad_id < 0 || (guint) pad_id >= tok->vocab_size) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
                 "tokenizer: padding id %d is outside the vocabulary (0 to %u)", pad_id,
                 tok->vocab_size - 1);
    return FALSE;
  }

  /* One token more than fits is enough to know the text is too long. */
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  if (!encode_text (tok, text, context_len - 1, ids, error))
    return FALSE;

  guint room = (guint) context_len - 2;
  guint n = MIN (ids->len, room);
  ids_out[0] = tok->sot_id;
  if (n > 0)
    memcpy (ids_out + 1, ids->data, n * sizeof (gint32));
  ids_out[n + 1] = tok->eot_id;
  for (gint i = n + 2; i < context_len; i++)
    ids_out[i] = pad_id;

  if (eot_pos_out) {
    gint pos = n + 1;
    for (guint i = 1; i <= n; i++)
      if (ids_out[i] == tok->eot_id) {
        pos = i;
        break;
      }
    *eot_pos_out = pos;
  }
  if (truncated_out)
    *truncated_out = ids->len > room;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Loading */

/* Vocabulary being loaded: symbol → id. */
typedef struct {
  GHashTable *ids;       /* gchar* → GINT_TO_POINTER (id) */
  guint size;            /* largest id + 1 */
} Vocab;

static gboolean
vocab_lookup (const Vocab *v, const gchar *symbol, gint32 *id)
{
  gpointer value;
  if (!g_hash_table_lookup_extended (v->ids, symbol, NULL, &value))
    return FALSE;
  *id = GPOINTER_TO_INT (value);
  return TRUE;
}

/* Splits @data (modified in place) into lines; a trailing '\r' is dropped. */
static GPtrArray *
split_lines (gchar *data)
{
  GPtrArray *lines = g_ptr_array_new ();
  gchar *p = data;
  for (;;) {
    gchar *nl = strchr (p, '\n');
    if (nl)
      *nl = '\0';
    gsize len = strlen (p);
    if (len > 0 && p[len - 1] == '\r')
      p[len - 1] = '\0';
    g_ptr_array_add (lines, p);
    if (!nl)
      break;
    p = nl + 1;
  }
  return lines;
}

/* Parses the merge lines after the header: each "left right". Fills @pairs
 * with left, right, left, right … (pointers into the lines, split in place).
 * Takes at most %VLM_CLIP_N_MERGES like the reference. */
static gboolean
parse_merges (GPtrArray *lines, const gchar *file, GPtrArray *pairs, GError **error)
{
  if (lines->len == 0 || !strstr (g_ptr_array_index (lines, 0), "#version")) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                 "%s: not a BPE merges file (the first line is not a '#version' header)",
                 file);
    return FALSE;
  }
  guint last = lines->len;
  while (last > 1 && *(const gchar *) g_ptr_array_index (lines, last - 1) == '\0')
    last--;
  for (guint i = 1; i < last && pairs->len / 2 < VLM_CLIP_N_MERGES; i++) {
    gchar *line = g_ptr_array_index (lines, i);
    gchar *fields[3];
    guint n = 0;
    for (gchar *p = line; *p;) {
      while (*p == ' ' || *p == '\t')
        *p++ = '\0';
      if (!*p)
        break;
      if (n < 3)
        fields[n] = p;
      n++;
      while (*p && *p != ' ' && *p != '\t')
        p++;
    }
    if (n != 2) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                   "%s: line %u: expected two symbols separated by a space, found %u",
                   file, i + 1, n);
      return FALSE;
    }
    g_ptr_array_add (pairs, fields[0]);
    g_ptr_array_add (pairs, fields[1]);
  }
  return TRUE;
}

static void
merge_line_error (GError **error, const gchar *file, guint rank, const gchar *what,
                  const gchar *symbol, const gchar *vocab_file)
{
  g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: line %u: %s '%s' is not in %s", file,
               rank + 2, what, symbol, vocab_file);
}

/* Builds the tokenizer from a vocabulary and the merge pairs. */
static VlmClipTokenizer *
tokenizer_build (const Vocab *vocab, GPtrArray *pairs, const gchar *vocab_file,
                 const gchar *merges_file, GError **error)
{
  g_autoptr(VlmClipTokenizer) tok = g_new0 (VlmClipTokenizer, 1);
  g_mutex_init (&tok->cache_lock);
  tok->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  tok->vocab_size = vocab->size;

  gunichar byte_char[256];
  guint8 order[256];
  byte_symbols (byte_char, order);
  for (guint b = 0; b < 256; b++) {
    for (gint end = 0; end < 2; end++) {
      g_autofree gchar *symbol = symbol_string (byte_char[b], end);
      gint32 *slot = end ? &tok->byte_end_id[b] : &tok->byte_id[b];
      if (!vocab_lookup (vocab, symbol, slot)) {
        g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                     "%s: the symbol '%s' of byte 0x%02x is missing", vocab_file, symbol, b);
        return NULL;
      }
    }
  }
  if (!vocab_lookup (vocab, SOT_TEXT, &tok->sot_id) ||
      !vocab_lookup (vocab, EOT_TEXT, &tok->eot_id)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                 "%s: the special token %s or %s is missing", vocab_file, SOT_TEXT, EOT_TEXT);
    return NULL;
  }

  tok->n_merges = pairs->len / 2;
  tok->merges = g_new0 (Merge, MAX (tok->n_merges, 1));
  tok->ranks = g_hash_table_new (g_int64_hash, g_int64_equal);
  for (guint r = 0; r < tok->n_merges; r++) {
    const gchar *left = g_ptr_array_index (pairs, 2 * r);
    const gchar *right = g_ptr_array_index (pairs, 2 * r + 1);
    g_autofree gchar *joined = g_strconcat (left, right, NULL);
    Merge *m = &tok->merges[r];
    if (!vocab_lookup (vocab, left, &m->left)) {
      merge_line_error (error, merges_file, r, "symbol", left, vocab_file);
      return NULL;
    }
    if (!vocab_lookup (vocab, right, &m->right)) {
      merge_line_error (error, merges_file, r, "symbol", right, vocab_file);
      return NULL;
    }
    if (!vocab_lookup (vocab, joined, &m->merged)) {
      merge_line_error (error, merges_file, r, "merged symbol", joined, vocab_file);
      return NULL;
    }
    m->key = pair_key (m->left, m->right);
    /* A repeated pair keeps its last rank, as in the reference's dict. */
    g_hash_table_replace (tok->ranks, &m->key, m);
  }

  g_autoptr(GError) regex_error = NULL;
  tok->split = g_regex_new (SPLIT_PATTERN, G_REGEX_CASELESS | G_REGEX_OPTIMIZE, 0,
                            &regex_error);
  if (!tok->split) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "tokenizer: this GLib cannot compile the split pattern: %s",
                 regex_error->message);
    return NULL;
  }
  return g_steal_pointer (&tok);
}

static gboolean
check_text_file (const gchar *path, const gchar *data, GError **error)
{
  const gchar *bad;
  if (g_utf8_validate (data, -1, &bad))
    return TRUE;
  g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
               "%s: not UTF-8 text (byte 0x%02x at offset %" G_GSIZE_FORMAT ")", path,
               (guint) (guchar) *bad, (gsize) (bad - data));
  return FALSE;
}

static gboolean
read_vocab_json (const gchar *path, Vocab *vocab, GError **error)
{
  g_autoptr(GError) json_error = NULL;
  g_autofree gchar *data = NULL;
  gsize len;

  if (!vlm_file_read_bounded (path, MAX_VOCAB_FILE_SIZE, &data, &len, error))
    return FALSE;
  g_autoptr(JsonNode) root = vlm_json_parse (data, len, &json_error);
  if (!root) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: not valid JSON: %s", path,
                 json_error->message);
    return FALSE;
  }
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                 "%s: expected a JSON object mapping symbols to ids", path);
    return FALSE;
  }

  g_autoptr(GHashTable) by_id = g_hash_table_new (g_direct_hash, g_direct_equal);
  JsonObject *object = json_node_get_object (root);
  g_autoptr(GList) members = json_object_get_members (object);
  for (GList *l = members; l; l = l->next) {
    const gchar *symbol = l->data;
    JsonNode *node = json_object_get_member (object, symbol);
    if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                   "%s: the id of '%s' is not an integer", path, symbol);
      return FALSE;
    }
    gint64 id = json_node_get_int (node);
    if (id < 0 || id >= G_MAXINT32) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                   "%s: the id %" G_GINT64_FORMAT " of '%s' is out of range", path, id, symbol);
      return FALSE;
    }
    const gchar *other = g_hash_table_lookup (by_id, GINT_TO_POINTER ((gint) id));
    if (other) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                   "%s: the id %" G_GINT64_FORMAT " is given to both '%s' and '%s'", path, id,
                   other, symbol);
      return FALSE;
    }
    g_hash_table_insert (by_id, GINT_TO_POINTER ((gint) id), (gpointer) symbol);
    g_hash_table_insert (vocab->ids, g_strdup (symbol), GINT_TO_POINTER ((gint) id));
    vocab->size = MAX (vocab->size, (guint) id + 1);
  }
  return TRUE;
}

/**
 * vlm_clip_tokenizer_new_from_dir:
 * @dir: a Hugging Face model folder
 * @error: return location for a #GError
 *
 * Loads the tokenizer from @dir/vocab.json (symbol → id) and @dir/merges.txt
 * (a `#version` line, then one merge "left right" per line, best first; only
 * the first %VLM_CLIP_N_MERGES count, like the reference).
 *
 * Returns: (transfer full) (nullable): the tokenizer, or %NULL with @error
 *   set: %VLM_ERROR_FILE when a file is missing or unreadable,
 *   %VLM_ERROR_FORMAT when its content is not a valid vocabulary (naming the
 *   file, the line and the reason).
 */
VlmClipTokenizer *
vlm_clip_tokenizer_new_from_dir (const gchar *dir, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  g_autofree gchar *vocab_path = g_build_filename (dir, "vocab.json", NULL);
  g_autofree gchar *merges_path = g_build_filename (dir, "merges.txt", NULL);

  Vocab vocab = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL), 0 };
  g_autoptr(GHashTable) vocab_ids = vocab.ids;
  if (!read_vocab_json (vocab_path, &vocab, error))
    return NULL;

  g_autofree gchar *data = NULL;
  if (!vlm_file_read_bounded (merges_path, MAX_VOCAB_FILE_SIZE, &data, NULL, error))
    return NULL;
  if (!check_text_file (merges_path, data, error))
    return NULL;
  g_autoptr(GPtrArray) lines = split_lines (data);
  g_autoptr(GPtrArray) pairs = g_ptr_array_new ();
  if (!parse_merges (lines, merges_path, pairs, error))
    return NULL;
  return tokenizer_build (&vocab, pairs, vocab_path, merges_path, error);
}

/* Reads and decompresses a gzip file, refusing more than
 * MAX_VOCAB_FILE_SIZE bytes of output. Returns NUL-terminated data. */
static gchar *
read_gzip (const gchar *path, GError **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GError) io_error = NULL;
  g_autoptr(GFileInputStream) raw = g_file_read (file, NULL, &io_error);
  if (!raw) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FILE, "%s: cannot open: %s", path,
                 io_error->message);
    return NULL;
  }
  g_autoptr(GZlibDecompressor) gunzip = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr(GInputStream) in = g_converter_input_stream_new (G_INPUT_STREAM (raw),
                                                             G_CONVERTER (gunzip));
  g_autoptr(GByteArray) out = g_byte_array_new ();
  guint8 buf[65536];
  for (;;) {
    gssize n = g_input_stream_read (in, buf, sizeof buf, NULL, &io_error);
    if (n < 0) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FILE,
                   "%s: cannot decompress (not gzip, truncated or corrupt): %s", path,
                   io_error->message);
      return NULL;
    }
    if (n == 0)
      break;
    if (out->len + (gsize) n > MAX_VOCAB_FILE_SIZE) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                   "%s: decompresses to more than %d MiB, too large for a BPE vocabulary",
                   path, MAX_VOCAB_FILE_SIZE >> 20);
      return NULL;
    }
    g_byte_array_append (out, buf, n);
  }
  if (out->len > 0 && memchr (out->data, '\0', out->len)) {   /* data is NULL when empty */
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: binary data (a NUL byte) in the "
                 "vocabulary text", path);
    return NULL;
  }
  g_byte_array_append (out, (const guint8 *) "", 1);
  return (gchar *) g_byte_array_free (g_steal_pointer (&out), FALSE);
}

/**
 * vlm_clip_tokenizer_new_from_bpe_gz:
 * @path: the original CLIP vocabulary, bpe_simple_vocab_16e6.txt.gz
 * @error: return location for a #GError
 *
 * Loads the tokenizer from OpenAI's gzip file: a header line, then merges
 * "left right", best first. The first %VLM_CLIP_N_MERGES are used and the
 * vocabulary is built like the reference: the 256 byte symbols, the same
 * followed by `</w>`, each merge's joined symbol in rank order, then
 * `<|startoftext|>` (49406) and `<|endoftext|>` (49407).
 *
 * Returns: (transfer full) (nullable): the tokenizer, or %NULL with @error
 *   set: %VLM_ERROR_FILE when the file is missing, unreadable, truncated or
 *   not gzip; %VLM_ERROR_FORMAT when its content is not a merges list or
 *   holds fewer than %VLM_CLIP_N_MERGES merges.
 */
VlmClipTokenizer *
vlm_clip_tokenizer_new_from_bpe_gz (const gchar *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_autofree gchar *data = read_gzip (path, error);
  if (!data)
    return NULL;
  if (!check_text_file (path, data, error))
    return NULL;

  g_autoptr(GPtrArray) lines = split_lines (data);
  g_autoptr(GPtrArray) pairs = g_ptr_array_new ();
  if (!parse_merges (lines, path, pairs, error))
    return NULL;
  if (pairs->len / 2 < VLM_CLIP_N_MERGES) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                 "%s: only %u merges, CLIP needs %d (truncated file?)", path, pairs->len / 2,
                 VLM_CLIP_N_MERGES);
    return NULL;
  }

  /* The vocabulary in id order; later duplicates would win, like the
   * reference's dict (the real file has none). */
  Vocab vocab = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL), 0 };
  g_autoptr(GHashTable) vocab_ids = vocab.ids;
  gunichar byte_char[256];
  guint8 order[256];
  byte_symbols (byte_char, order);
  for (gint end = 0; end < 2; end++)
    for (guint i = 0; i < 256; i++)
      g_hash_table_replace (vocab.ids, symbol_string (byte_char[order[i]], end),
                            GINT_TO_POINTER (vocab.size++));
  for (guint r = 0; r < pairs->len / 2; r++)
    g_hash_table_replace (vocab.ids,
                          g_strconcat (g_ptr_array_index (pairs, 2 * r),
                                       g_ptr_array_index (pairs, 2 * r + 1), NULL),
                          GINT_TO_POINTER (vocab.size++));
  g_hash_table_replace (vocab.ids, g_strdup (SOT_TEXT), GINT_TO_POINTER (vocab.size++));
  g_hash_table_replace (vocab.ids, g_strdup (EOT_TEXT), GINT_TO_POINTER (vocab.size++));

  return tokenizer_build (&vocab, pairs, path, path, error);
}

/**
 * vlm_clip_tokenizer_free:
 * @tok: (nullable): a tokenizer
 *
 * Frees @tok. No encode may be running on it.
 */
void
vlm_clip_tokenizer_free (VlmClipTokenizer *tok)
{
  if (!tok)
    return;
  if (tok->split)
    g_regex_unref (tok->split);
  if (tok->ranks)
    g_hash_table_unref (tok->ranks);
  g_free (tok->merges);
  if (tok->cache)
    g_hash_table_unref (tok->cache);
  g_mutex_clear (&tok->cache_lock);
  g_free (tok);
}

/**
 * vlm_clip_tokenizer_get_vocab_size:
 * @tok: a tokenizer
 *
 * Returns: the number of token ids (largest id + 1): 49 408 for CLIP, the
 *   number of rows of the token embedding.
 */
guint
vlm_clip_tokenizer_get_vocab_size (const VlmClipTokenizer *tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->vocab_size;
}

/**
 * vlm_clip_tokenizer_get_sot_id:
 * @tok: a tokenizer
 *
 * Returns: the id of `<|startoftext|>` (49 406 for CLIP).
 */
gint32
vlm_clip_tokenizer_get_sot_id (const VlmClipTokenizer *tok)
{
  g_return_val_if_fail (tok != NULL, -1);
  return tok->sot_id;
}

/**
 * vlm_clip_tokenizer_get_eot_id:
 * @tok: a tokenizer
 *
 * Returns: the id of `<|endoftext|>` (49 407 for CLIP).
 */
gint32
vlm_clip_tokenizer_get_eot_id (const VlmClipTokenizer *tok)
{
  g_return_val_if_fail (tok != NULL, -1);
  return tok->eot_id;
}
