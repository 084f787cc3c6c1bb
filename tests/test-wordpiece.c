/* gst-vlm — tests of the WordPiece tokenizer (engine/text/vlm-wordpiece.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The test vocabulary and the golden ids come from the Python side; both are
 * committed. Regenerate them from the repository root with
 *   /usr/bin/python3 tests/make_wordpiece_vocab.py test tests/wordpiece_strings.txt \
 *       > tests/golden/wordpiece-vocab.txt
 *   /usr/bin/python3 tests/wordpiece_ref.py golden tests/golden/wordpiece-vocab.txt \
 *       tests/wordpiece_strings.txt > tests/golden/wordpiece-ids.txt
 *
 * Environment: G_TEST_SRCDIR = this folder (wordpiece_strings.txt, golden/).
 * The hand-checked cases write small vocabularies of their own in a
 * temporary folder.
 */
#include <string.h>

#include <glib/gstdio.h>

#include "vlm-device.h"
#include "text/vlm-wordpiece.h"

/* ------------------------------------------------------------------------ */
/* Shared material */

/* The escape convention of wordpiece_strings.txt: \\ \n \t \r \f \v,
 * \uXXXX and \UXXXXXXXX. */
static gchar *
unescape_line (const gchar *line)
{
  GString *out = g_string_new (NULL);
  for (const gchar *p = line; *p; p++) {
    if (*p != '\\') {
      g_string_append_c (out, *p);
      continue;
    }
    p++;
    switch (*p) {
      case '\\': g_string_append_c (out, '\\'); break;
      case 'n': g_string_append_c (out, '\n'); break;
      case 't': g_string_append_c (out, '\t'); break;
      case 'r': g_string_append_c (out, '\r'); break;
      case 'f': g_string_append_c (out, '\f'); break;
      case 'v': g_string_append_c (out, '\v'); break;
      case 'u':
      case 'U': {
        gint digits = *p == 'u' ? 4 : 8;
        gunichar c = 0;
        for (gint k = 0; k < digits; k++) {
          gint d = g_ascii_xdigit_value (*++p);
          g_assert_cmpint (d, >=, 0);
          c = c * 16 + d;
        }
        g_assert_true (c != 0 && g_unichar_validate (c));
        g_string_append_unichar (out, c);
        break;
      }
      default:
        g_error ("unknown escape \\%c in \"%s\"", *p, line);
    }
  }
  return g_string_free (out, FALSE);
}

static GPtrArray *
load_strings (void)
{
  static GPtrArray *strings;
  if (strings)
    return strings;
  const gchar *path = g_test_get_filename (G_TEST_DIST, "wordpiece_strings.txt", NULL);
  g_autofree gchar *data = NULL;
  g_autoptr(GError) error = NULL;
  if (!g_file_get_contents (path, &data, NULL, &error))
    g_error ("%s: %s (set G_TEST_SRCDIR to the tests folder)", path, error->message);
  gsize len = strlen (data);
  if (len > 0 && data[len - 1] == '\n')
    data[len - 1] = '\0';
  g_auto(GStrv) lines = g_strsplit (data, "\n", -1);
  strings = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; lines[i]; i++)
    g_ptr_array_add (strings, unescape_line (lines[i]));
  return strings;
}

static const gchar *
test_vocab_path (void)
{
  return g_test_get_filename (G_TEST_DIST, "golden", "wordpiece-vocab.txt", NULL);
}

/* The tokenizer of the generated test vocabulary, shared by the tests. */
static VlmWordpiece *
test_tokenizer (void)
{
  static VlmWordpiece *tok;
  if (tok)
    return tok;
  g_autoptr(GError) error = NULL;
  tok = vlm_wordpiece_new_from_file (test_vocab_path (), &error);
  g_assert_no_error (error);
  return tok;
}

/* A line of the golden file. */
typedef struct {
  GArray *ids;
  gchar *decoded;
  gchar *decoded_skip;
} Golden;

static void
golden_clear (gpointer data)
{
  Golden *g = data;
  g_array_unref (g->ids);
  g_free (g->decoded);
  g_free (g->decoded_skip);
}

static GArray *
load_golden (void)
{
  const gchar *path = g_test_get_filename (G_TEST_DIST, "golden", "wordpiece-ids.txt", NULL);
  g_autofree gchar *data = NULL;
  g_autoptr(GError) error = NULL;
  if (!g_file_get_contents (path, &data, NULL, &error))
    g_error ("%s: %s", path, error->message);
  GArray *golden = g_array_new (FALSE, TRUE, sizeof (Golden));
  g_array_set_clear_func (golden, golden_clear);
  g_auto(GStrv) lines = g_strsplit (data, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (lines[i][0] == '#' || lines[i][0] == '\0')
      continue;
    g_auto(GStrv) f = g_strsplit (lines[i], "\t", -1);
    g_assert_cmpuint (g_strv_length (f), ==, 4);
    g_assert_cmpint (g_ascii_strtoll (f[0], NULL, 10), ==, golden->len);
    Golden g = { g_array_new (FALSE, FALSE, sizeof (gint32)), unescape_line (f[2]),
                 unescape_line (f[3]) };
    if (!g_str_equal (f[1], "-")) {
      g_auto(GStrv) parts = g_strsplit (f[1], " ", -1);
      for (guint k = 0; parts[k]; k++) {
        gint32 id = (gint32) g_ascii_strtoll (parts[k], NULL, 10);
        g_array_append_val (g.ids, id);
      }
    }
    g_array_append_val (golden, g);
  }
  return golden;
}

static gchar *
make_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  gchar *dir = g_dir_make_tmp ("vlm-wordpiece-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static void
remove_tree (const gchar *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  if (!d)
    return;
  const gchar *name;
  while ((name = g_dir_read_name (d))) {
    g_autofree gchar *path = g_build_filename (dir, name, NULL);
    g_remove (path);
  }
  g_dir_close (d);
  g_rmdir (dir);
}

static void
write_file (const gchar *dir, const gchar *name, const gchar *data, gssize len)
{
  g_autofree gchar *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
}

/* Small vocabularies: the special tokens at 0–4, then @tokens from id 5.
 * The ids of the cases below are written out by this layout. */
#define TINY_PAD 0
#define TINY_UNK 1
#define TINY_CLS 2
#define TINY_SEP 3
#define TINY_MASK 4

static gchar *
tiny_vocab_text (const gchar *const *tokens)
{
  GString *text = g_string_new ("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
  for (guint i = 0; tokens[i]; i++)
    g_string_append_printf (text, "%s\n", tokens[i]);
  return g_string_free (text, FALSE);
}

/* Writes @dir/vocab.txt from @tokens and, unless NULL,
 * @dir/tokenizer_config.json, then loads the folder. */
static VlmWordpiece *
tiny_tokenizer (const gchar *dir, const gchar *const *tokens, const gchar *config)
{
  g_autofree gchar *text = tiny_vocab_text (tokens);
  write_file (dir, "vocab.txt", text, -1);
  g_autofree gchar *config_path = g_build_filename (dir, "tokenizer_config.json", NULL);
  if (config)
    write_file (dir, "tokenizer_config.json", config, -1);
  else
    g_remove (config_path);
  g_autoptr(GError) error = NULL;
  VlmWordpiece *tok = vlm_wordpiece_new_from_dir (dir, &error);
  g_assert_no_error (error);
  return tok;
}

static GArray *
encode_ok (const VlmWordpiece *tok, const gchar *text)
{
  g_autoptr(GError) error = NULL;
  GArray *ids = NULL;
  g_assert_true (vlm_wordpiece_encode (tok, text, &ids, &error));
  g_assert_no_error (error);
  g_assert_nonnull (ids);
  return ids;
}

static gboolean
same_ids (GArray *a, const gint32 *b, guint n)
{
  return a->len == n && (n == 0 || memcmp (a->data, b, n * sizeof (gint32)) == 0);
}

static gchar *
ids_string (const VlmWordpiece *tok, GArray *ids)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < ids->len; i++) {
    gint32 id = g_array_index (ids, gint32, i);
    const gchar *t = vlm_wordpiece_id_to_token (tok, id);
    g_string_append_printf (s, " %d(%s)", id, t ? t : "?");
  }
  return g_string_free (s, FALSE);
}

static void
assert_ids (const VlmWordpiece *tok, const gchar *text, const gint32 *expected, guint n)
{
  g_autoptr(GArray) ids = encode_ok (tok, text);
  if (!same_ids (ids, expected, n)) {
    g_autofree gchar *got = ids_string (tok, ids);
    g_autofree gchar *shown = g_strescape (text, NULL);
    g_error ("\"%s\" gave [%s ] (%u ids, expected %u)", shown, got, ids->len, n);
  }
}

/* The tokens of @text, by name, space-separated. */
static void
assert_tokens (const VlmWordpiece *tok, const gchar *text, const gchar *expected)
{
  g_autoptr(GArray) ids = encode_ok (tok, text);
  /* g_strsplit() gives one empty string for "", no tokens here. */
  g_auto(GStrv) names = *expected ? g_strsplit (expected, " ", -1) : g_new0 (gchar *, 1);
  gboolean ok = ids->len == g_strv_length (names);
  for (guint i = 0; ok && i < ids->len; i++)
    ok = g_strcmp0 (vlm_wordpiece_id_to_token (tok, g_array_index (ids, gint32, i)),
                    names[i]) == 0;
  if (!ok) {
    g_autofree gchar *got = ids_string (tok, ids);
    g_autofree gchar *shown = g_strescape (text, NULL);
    g_error ("\"%s\" gave [%s ], expected [%s]", shown, got, expected);
  }
}

static void
assert_words (const VlmWordpiece *tok, const gchar *text, const gchar *const *expected)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) words = vlm_wordpiece_basic_tokenize (tok, text, &error);
  g_assert_no_error (error);
  if (!g_strv_equal ((const gchar *const *) words, expected)) {
    g_autofree gchar *shown = g_strescape (text, NULL);
    g_autofree gchar *got = g_strjoinv ("|", words);
    g_autofree gchar *want = g_strjoinv ("|", (GStrv) expected);
    g_error ("\"%s\": words [%s], expected [%s]", shown, got, want);
  }
}

static void
assert_error (GError *error, gint code, const gchar *part1, const gchar *part2)
{
  g_assert_error (error, VLM_ERROR, code);
  if (part1 && !strstr (error->message, part1))
    g_error ("error \"%s\" does not mention \"%s\"", error->message, part1);
  if (part2 && !strstr (error->message, part2))
    g_error ("error \"%s\" does not mention \"%s\"", error->message, part2);
}

/* ------------------------------------------------------------------------ */
/* Against the Python reference */

static void
test_golden_encode (void)
{
  VlmWordpiece *tok = test_tokenizer ();
  GPtrArray *strings = load_strings ();
  g_autoptr(GArray) golden = load_golden ();
  g_assert_cmpuint (golden->len, ==, strings->len);
  g_assert_cmpuint (strings->len, >=, 300);

  gint32 unk = vlm_wordpiece_get_unk_id (tok);
  guint bad = 0, n_ids = 0, n_unk = 0, n_continued = 0;
  for (guint i = 0; i < strings->len; i++) {
    Golden *g = &g_array_index (golden, Golden, i);
    g_autoptr(GArray) ids = encode_ok (tok, strings->pdata[i]);
    n_ids += ids->len;
    for (guint k = 0; k < ids->len; k++) {
      gint32 id = g_array_index (ids, gint32, k);
      n_unk += id == unk;
      n_continued += g_str_has_prefix (vlm_wordpiece_id_to_token (tok, id), "##");
    }
    if (!same_ids (ids, (const gint32 *) g->ids->data, g->ids->len)) {
      g_autofree gchar *shown = g_strescape (strings->pdata[i], NULL);
      g_autofree gchar *got = ids_string (tok, ids);
      g_autofree gchar *want = ids_string (tok, g->ids);
      g_printerr ("string %u \"%s\":\n  C      [%s ]\n  Python [%s ]\n", i, shown, got, want);
      bad++;
    }
  }
  g_print ("# %u/%u strings agree with the Python reference (%u ids: %u [UNK], %u ## pieces)\n",
           strings->len - bad, strings->len, n_ids, n_unk, n_continued);
  g_assert_cmpuint (bad, ==, 0);
  /* The vocabulary makes every kind of outcome happen. */
  g_assert_cmpuint (n_unk, >=, 20);
  g_assert_cmpuint (n_continued, >=, 100);
}

static void
test_golden_decode (void)
{
  VlmWordpiece *tok = test_tokenizer ();
  GPtrArray *strings = load_strings ();
  g_autoptr(GArray) golden = load_golden ();
  gint32 cls = vlm_wordpiece_get_cls_id (tok), sep = vlm_wordpiece_get_sep_id (tok);
  guint bad = 0;
  for (guint i = 0; i < strings->len; i++) {
    Golden *g = &g_array_index (golden, Golden, i);
    g_autoptr(GArray) ids = encode_ok (tok, strings->pdata[i]);
    g_autofree gchar *text = vlm_wordpiece_decode (tok, (const gint32 *) ids->data, ids->len,
                                                   FALSE);
    g_array_prepend_val (ids, cls);
    g_array_append_val (ids, sep);
    g_autofree gchar *skip = vlm_wordpiece_decode (tok, (const gint32 *) ids->data, ids->len,
                                                   TRUE);
    if (!g_str_equal (text, g->decoded) || !g_str_equal (skip, g->decoded_skip)) {
      g_printerr ("string %u: C \"%s\" / \"%s\", Python \"%s\" / \"%s\"\n", i, text, skip,
                  g->decoded, g->decoded_skip);
      bad++;
    }
  }
  g_print ("# %u/%u decoded strings agree with the Python reference\n", strings->len - bad,
           strings->len);
  g_assert_cmpuint (bad, ==, 0);
}

/* new_from_dir on a copy of the test vocabulary gives the same ids. */
static void
test_golden_dir (void)
{
  VlmWordpiece *tok = test_tokenizer ();
  g_autofree gchar *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (test_vocab_path (), &data, &len, NULL));
  g_autofree gchar *dir = make_tmpdir ();
  write_file (dir, "vocab.txt", data, len);
  g_autoptr(GError) error = NULL;
  g_autoptr(VlmWordpiece) from_dir = vlm_wordpiece_new_from_dir (dir, &error);
  g_assert_no_error (error);
  GPtrArray *strings = load_strings ();
  for (guint i = 0; i < strings->len; i++) {
    g_autoptr(GArray) a = encode_ok (tok, strings->pdata[i]);
    g_autoptr(GArray) b = encode_ok (from_dir, strings->pdata[i]);
    g_assert_true (same_ids (a, (const gint32 *) b->data, b->len));
  }
  remove_tree (dir);
}

/* ------------------------------------------------------------------------ */
/* The generated vocabulary */

static void
test_vocab_layout (void)
{
  VlmWordpiece *tok = test_tokenizer ();
  g_autofree gchar *data = NULL;
  g_assert_true (g_file_get_contents (test_vocab_path (), &data, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit (data, "\n", -1);
  guint n = g_strv_length (lines) - 1;      /* the file ends with a newline */
  g_assert_cmpuint (vlm_wordpiece_get_vocab_size (tok), ==, n);
  g_assert_cmpuint (n, >=, 2000);

  /* BERT's special ids. */
  g_assert_cmpint (vlm_wordpiece_get_pad_id (tok), ==, 0);
  g_assert_cmpint (vlm_wordpiece_get_unk_id (tok), ==, 100);
  g_assert_cmpint (vlm_wordpiece_get_cls_id (tok), ==, 101);
  g_assert_cmpint (vlm_wordpiece_get_sep_id (tok), ==, 102);
  g_assert_cmpint (vlm_wordpiece_get_mask_id (tok), ==, 103);
  g_assert_cmpstr (vlm_wordpiece_id_to_token (tok, 1), ==, "[unused0]");
  g_assert_cmpstr (vlm_wordpiece_id_to_token (tok, 99), ==, "[unused98]");
  g_assert_true (vlm_wordpiece_get_do_lower_case (tok));

  /* Every line maps to its index and back. */
  for (guint i = 0; i < n; i++) {
    g_assert_cmpstr (vlm_wordpiece_id_to_token (tok, i), ==, lines[i]);
    g_assert_cmpint (vlm_wordpiece_token_to_id (tok, lines[i]), ==, i);
  }
  g_assert_null (vlm_wordpiece_id_to_token (tok, -1));
  g_assert_null (vlm_wordpiece_id_to_token (tok, n));
  g_assert_cmpint (vlm_wordpiece_token_to_id (tok, "no-such-token"), ==, -1);
}

/* The cases of the brief, on the generated vocabulary. */
static void
test_vocab_examples (void)
{
  VlmWordpiece *tok = test_tokenizer ();
  gint32 hello = vlm_wordpiece_token_to_id (tok, "hello");
  gint32 comma = vlm_wordpiece_token_to_id (tok, ",");
  gint32 world = vlm_wordpiece_token_to_id (tok, "world");
  gint32 bang = vlm_wordpiece_token_to_id (tok, "!");
  g_assert_cmpint (MIN (MIN (hello, comma), MIN (world, bang)), >, 103);
  assert_ids (tok, "Hello, world!", (const gint32[]) { hello, comma, world, bang }, 4);
  assert_tokens (tok, "Hello, world!", "hello , world !");
  assert_tokens (tok, "unaffable", "un ##aff ##able");
  assert_tokens (tok, "UNAFFABLE", "un ##aff ##able");
  assert_tokens (tok, "what color is the square?", "what color is the square ?");
  assert_tokens (tok, "[CLS] what color is the square? [SEP]",
                 "[CLS] what color is the square ? [SEP]");
  g_autoptr(GArray) ids = encode_ok (tok, "What color is the SQUARE?");
  g_autofree gchar *text = vlm_wordpiece_decode (tok, (const gint32 *) ids->data, ids->len,
                                                 TRUE);
  g_assert_cmpstr (text, ==, "what color is the square?");
}

/* ------------------------------------------------------------------------ */
/* Hand-checked cases */

static void
test_wordpiece_by_hand (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  const gchar *const tokens[] = {
    "un", "##aff", "##able", "hello", "world", ",", "!", "a", "##a", "b", "##b", "aa",
    "##aaa", "x", "##y", "xy", "##z", "'", "t", "don", "s", "caf", "##e", "e", "ο", "##δ",
    "##ο", "##σ", "σ", "i", "##stanbul", "我", "爱", "中", "hello2", "?", NULL,
  };
  g_autoptr(VlmWordpiece) tok = tiny_tokenizer (dir, tokens, NULL);
  /* ids: the 5 special tokens, then tokens[] from 5 on. */
#define ID(i) (5 + (i))
  g_assert_cmpuint (vlm_wordpiece_get_vocab_size (tok), ==, 5 + G_N_ELEMENTS (tokens) - 1);
  g_assert_cmpint (vlm_wordpiece_get_unk_id (tok), ==, TINY_UNK);
  g_assert_cmpint (vlm_wordpiece_get_cls_id (tok), ==, TINY_CLS);
  g_assert_cmpint (vlm_wordpiece_get_sep_id (tok), ==, TINY_SEP);
  g_assert_cmpint (vlm_wordpiece_get_pad_id (tok), ==, TINY_PAD);
  g_assert_cmpint (vlm_wordpiece_get_mask_id (tok), ==, TINY_MASK);

  assert_ids (tok, "unaffable", (const gint32[]) { ID (0), ID (1), ID (2) }, 3);
  assert_ids (tok, "Hello, world!", (const gint32[]) { ID (3), ID (5), ID (4), ID (6) }, 4);
  /* Longest match first, not the fewest pieces: "aa" + "##aaa" rather
   * than "a" + "##a" … */
  assert_tokens (tok, "aaaaa", "aa ##aaa");
  assert_tokens (tok, "aaaa", "aa ##a ##a");
  assert_tokens (tok, "aaaab", "aa ##a ##a ##b");
  /* … and greedy: "xy" then "##z", never reconsidered. */
  assert_tokens (tok, "xyz", "xy ##z");
  /* A word that cannot be covered is one [UNK], whatever matched before. */
  assert_tokens (tok, "xyq", "[UNK]");
  assert_tokens (tok, "ab c b", "a ##b [UNK] b");
  assert_tokens (tok, "ba", "b ##a");
#undef ID
  remove_tree (dir);
}

static void
test_wordpiece_rules (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  const gchar *const tokens[] = {
    "a", "##a", "b", "##b", "x", "##y", "xy", "##z", "'", "t", "s", "don", "caf", "##e", "e",
    "ο", "##δ", "##ο", "##σ", "σ", "i", "##stanbul", "我", "爱", "中", "?", ".", "##2", "2",
    "hello", "-", "[", "]", "cls", NULL,
  };
  g_autoptr(VlmWordpiece) tok = tiny_tokenizer (dir, tokens, NULL);

  assert_tokens (tok, "ba", "b ##a");
  assert_tokens (tok, "xyz", "xy ##z");
  /* Punctuation splits words; contractions come apart. */
  assert_tokens (tok, "don't", "don ' t");
  assert_tokens (tok, "a-b-a", "a - b - a");
  assert_tokens (tok, "a?b.", "a ? b .");
  /* Accents stripped after lower-casing (NFC or NFD input alike). */
  assert_tokens (tok, "Café", "caf ##e");
  assert_tokens (tok, "CAFE\xcc\x81", "caf ##e");
  assert_tokens (tok, "\xc3\x89", "e");
  /* İ → i + U+0307 → i; no final sigma (Σ is σ everywhere). */
  assert_tokens (tok, "\xc4\xb0stanbul", "i ##stanbul");
  assert_tokens (tok, "ΟΔΟΣ", "ο ##δ ##ο ##σ");
  assert_tokens (tok, "Σ", "σ");
  /* CJK ideographs are words of their own, even inside a word. */
  assert_tokens (tok, "我爱中", "我 爱 中");
  assert_tokens (tok, "a我b", "a 我 b");
  /* Digits are ordinary characters. */
  assert_tokens (tok, "hello2", "hello ##2");
  /* Control and format characters vanish (joining what they separated);
   * \t \n \r and Zs separate. */
  assert_tokens (tok, "x\x01y", "xy");
  assert_tokens (tok, "x\xe2\x80\x8by", "xy");           /* zero-width space, Cf */
  assert_tokens (tok, "x\xc2\xady", "xy");               /* soft hyphen, Cf */
  assert_tokens (tok, "x\vy", "xy");                     /* \v is Cc, not whitespace */
  assert_tokens (tok, "x\ty\nz\ra", "x [UNK] [UNK] a");
  assert_tokens (tok, "x\xc2\xa0" "a\xe3\x80\x80" "b", "x a b");  /* NBSP, ideographic space */
  assert_tokens (tok, "x\xe2\x80\xa8" "a", "x a");       /* U+2028: Python's str.split() */
  assert_tokens (tok, "x\xef\xbf\xbdy", "xy");           /* U+FFFD */
  assert_tokens (tok, "", "");
  assert_tokens (tok, " \t\n ", "");
  assert_tokens (tok, "\xcc\x81\xcc\x81", "");           /* marks alone: nothing left */
  /* Special tokens in the text keep their ids, case-sensitively. */
  assert_ids (tok, "[CLS]a[SEP]", (const gint32[]) { TINY_CLS, 5, TINY_SEP }, 3);
  assert_ids (tok, "[MASK] [PAD] [UNK]", (const gint32[]) { TINY_MASK, TINY_PAD, TINY_UNK }, 3);
  assert_tokens (tok, "[cls]", "[ cls ]");
  assert_tokens (tok, "[CLS", "[ cls");
  remove_tree (dir);
}

/* Words over VLM_WORDPIECE_MAX_WORD_CHARS code points are [UNK], counted
 * after accent stripping. */
static void
test_wordpiece_long_words (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  const gchar *const tokens[] = { "a", "##a", "e", "##e", NULL };
  g_autoptr(VlmWordpiece) tok = tiny_tokenizer (dir, tokens, NULL);
  const guint lengths[] = { 1, 99, 100, 101, 1000 };
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++) {
    g_autofree gchar *word = g_strnfill (lengths[i], 'a');
    g_autoptr(GArray) ids = encode_ok (tok, word);
    if (lengths[i] <= VLM_WORDPIECE_MAX_WORD_CHARS) {
      g_assert_cmpuint (ids->len, ==, lengths[i]);
      g_assert_cmpint (g_array_index (ids, gint32, 0), ==, 5);
      for (guint k = 1; k < ids->len; k++)
        g_assert_cmpint (g_array_index (ids, gint32, k), ==, 6);
    } else {
      g_assert_cmpuint (ids->len, ==, 1);
      g_assert_cmpint (g_array_index (ids, gint32, 0), ==, TINY_UNK);
    }
  }
  /* 100 × "é" is 200 code points in NFD, 100 once the accents go. */
  GString *s = g_string_new (NULL);
  for (gint i = 0; i < 100; i++)
    g_string_append (s, "\xc3\xa9");
  g_autoptr(GArray) ids = encode_ok (tok, s->str);
  g_assert_cmpuint (ids->len, ==, 100);
  g_string_append (s, "e");
  g_autoptr(GArray) ids2 = encode_ok (tok, s->str);
  g_assert_cmpuint (ids2->len, ==, 1);
  g_string_free (s, TRUE);
  remove_tree (dir);
}

static void
test_basic_tokenize (void)
{
  VlmWordpiece *tok = test_tokenizer ();
  assert_words (tok, "Héllo,  WORLD!", (const gchar *[]) { "hello", ",", "world", "!", NULL });
  assert_words (tok, "a photo... of 2 cats", (const gchar *[]) {
    "a", "photo", ".", ".", ".", "of", "2", "cats", NULL });
  /* Python's str.lower() on each character: Ⅻ and Ⓐ lower-case (GLib's
   * g_unichar_tolower() leaves them), ẞ → ß, K (Kelvin) → k. */
  assert_words (tok, "Ⅻ Ⓐ ẞ \xe2\x84\xaa", (const gchar *[]) { "ⅻ", "ⓐ", "ß", "k", NULL });
  /* Compatibility characters stay (NFD, not NFKD); fullwidth letters too. */
  assert_words (tok, "ﬁ ＡＢ", (const gchar *[]) { "ﬁ", "ａｂ", NULL });
  /* Symbols are not punctuation (except ASCII ones). */
  assert_words (tok, "€5 $5 a+b ©", (const gchar *[]) {
    "€5", "$", "5", "a", "+", "b", "©", NULL });
  /* Unicode punctuation (categories P*). */
  assert_words (tok, "«a»—b…c¿", (const gchar *[]) {
    "«", "a", "»", "—", "b", "…", "c", "¿", NULL });
  /* Kana and hangul are not "Chinese characters"; hangul decomposes. */
  assert_words (tok, "カナ 한", (const gchar *[]) { "カナ", "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab",
                                                     NULL });
  assert_words (tok, "x[SEP]y", (const gchar *[]) { "x", "[SEP]", "y", NULL });
  assert_words (tok, "", (const gchar *[]) { NULL });
}

/* ------------------------------------------------------------------------ */
/* Decoding by hand */

static void
assert_decode (const VlmWordpiece *tok, const gchar *const *tokens, gboolean skip,
               const gchar *expected)
{
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  for (guint i = 0; tokens[i]; i++) {
    gint32 id = vlm_wordpiece_token_to_id (tok, tokens[i]);
    g_assert_cmpint (id, >=, 0);
    g_array_append_val (ids, id);
  }
  g_autofree gchar *text = vlm_wordpiece_decode (tok, (const gint32 *) ids->data, ids->len,
                                                 skip);
  g_assert_cmpstr (text, ==, expected);
}

static void
test_decode (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  const gchar *const tokens[] = {
    "hello", ",", "world", "!", "un", "##aff", "##able", "don", "'", "t", "n't", "it", "s",
    "'s", "i", "'m", "we", "'ve", "they", "'re", ".", "?", "a", "##b", "-", "x", NULL,
  };
  g_autoptr(VlmWordpiece) tok = tiny_tokenizer (dir, tokens, NULL);

#define DEC(expected, skip, ...) assert_decode (tok, (const gchar *[]) { __VA_ARGS__, NULL }, \
                                                skip, expected)
  DEC ("hello, world!", FALSE, "hello", ",", "world", "!");
  DEC ("unaffable", FALSE, "un", "##aff", "##able");
  DEC ("##aff", FALSE, "##aff");                        /* nothing before it */
  DEC ("don't", FALSE, "don", "'", "t");                /* " ' " → "'" */
  DEC ("donn't", FALSE, "don", "n't");                 /* " n't" → "n't", blindly */
  DEC ("it's i'm we've they're", FALSE, "it", "'s", "i", "'m", "we", "'ve", "they", "'re");
  DEC ("it's", FALSE, "it", "'", "s");
  DEC ("it'' s", FALSE, "it", "'", "'", "s");           /* one left-to-right pass of " ' " */
  DEC ("a. x? a - x", FALSE, "a", ".", "x", "?", "a", "-", "x");
  DEC ("[CLS] hello [SEP]", FALSE, "[CLS]", "hello", "[SEP]");
  DEC ("hello", TRUE, "[CLS]", "hello", "[SEP]", "[PAD]", "[PAD]");
  DEC ("hello world", TRUE, "hello", "[UNK]", "[MASK]", "world");
  DEC ("hello [UNK] world", FALSE, "hello", "[UNK]", "world");
  DEC ("", TRUE, "[CLS]", "[SEP]");
  DEC ("ab - ab", FALSE, "a", "##b", "-", "a", "##b");
#undef DEC

  /* Ids outside the vocabulary read [UNK], even when skipping. */
  gint32 odd[] = { 5, -1, 1000, 5 };
  g_autofree gchar *text = vlm_wordpiece_decode (tok, odd, 4, TRUE);
  g_assert_cmpstr (text, ==, "hello [UNK] [UNK] hello");
  g_autofree gchar *empty = vlm_wordpiece_decode (tok, NULL, 0, FALSE);
  g_assert_cmpstr (empty, ==, "");

  /* clean_up_tokenization_spaces: false keeps the spaces. */
  g_autoptr(VlmWordpiece) raw = tiny_tokenizer (dir, tokens,
                                                "{\"clean_up_tokenization_spaces\": false}");
  gint32 ids[] = { 5, 6, 7, 8 };
  g_autofree gchar *spaced = vlm_wordpiece_decode (raw, ids, 4, FALSE);
  g_assert_cmpstr (spaced, ==, "hello , world !");
  remove_tree (dir);
}

/* ------------------------------------------------------------------------ */
/* Files */

static void
test_config (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  const gchar *const tokens[] = {
    "Hello", "hello", "Caf", "##é", "caf", "##e", "##E", "E", "É", "e", "é", "我", "##爱",
    "<s>", "</s>", "<unk>", "<pad>", "x", NULL,
  };
  {
    g_autoptr(VlmWordpiece) tok = tiny_tokenizer (dir, tokens, "{\"do_lower_case\": false}");
    g_assert_false (vlm_wordpiece_get_do_lower_case (tok));
    assert_tokens (tok, "Hello hello", "Hello hello");
    assert_tokens (tok, "Café", "Caf ##é");
    /* NFC when not lower-casing: e + U+0301 is é. */
    assert_tokens (tok, "Cafe\xcc\x81", "Caf ##é");
    assert_tokens (tok, "我爱", "我 [UNK]");
  }
  {
    g_autoptr(VlmWordpiece) tok =
      tiny_tokenizer (dir, tokens, "{\"do_lower_case\": false, \"strip_accents\": true}");
    assert_tokens (tok, "Café É", "Caf ##e E");
  }
  {
    g_autoptr(VlmWordpiece) tok =
      tiny_tokenizer (dir, tokens, "{\"do_lower_case\": true, \"strip_accents\": false}");
    assert_tokens (tok, "Café É", "caf ##é é");
  }
  {
    g_autoptr(VlmWordpiece) tok =
      tiny_tokenizer (dir, tokens, "{\"tokenize_chinese_chars\": false, \"strip_accents\": null,"
                      " \"model_max_length\": 512, \"tokenizer_class\": \"BertTokenizer\"}");
    assert_tokens (tok, "我爱", "我 ##爱");
    assert_tokens (tok, "Café", "caf ##e");
  }
  {
    /* Special tokens renamed, in both forms Hugging Face writes; the map
     * overrides the configuration. */
    write_file (dir, "special_tokens_map.json",
                "{\"cls_token\": \"<s>\", \"sep_token\": {\"content\": \"</s>\", "
                "\"lstrip\": false}}", -1);
    g_autoptr(VlmWordpiece) tok =
      tiny_tokenizer (dir, tokens, "{\"unk_token\": \"<unk>\", \"pad_token\": \"<pad>\", "
                      "\"cls_token\": \"[NOT USED]\"}");
    g_assert_cmpint (vlm_wordpiece_get_cls_id (tok), ==, 5 + 13);
    g_assert_cmpint (vlm_wordpiece_get_sep_id (tok), ==, 5 + 14);
    g_assert_cmpint (vlm_wordpiece_get_unk_id (tok), ==, 5 + 15);
    g_assert_cmpint (vlm_wordpiece_get_pad_id (tok), ==, 5 + 16);
    /* "[CLS]" is plain text now, and "[" is not in the vocabulary. */
    assert_tokens (tok, "<s>x</s>q[CLS]", "<s> x </s> <unk> <unk> <unk> <unk>");
    g_autofree gchar *path = g_build_filename (dir, "special_tokens_map.json", NULL);
    g_remove (path);
  }

  /* Bad configurations. */
  const struct {
    const gchar *json;
    gint code;
    const gchar *file, *mention;
  } bad[] = {
    { "{ \"do_lower_case\": ", VLM_ERROR_FORMAT, "tokenizer_config.json", "not valid JSON" },
    { "[true]", VLM_ERROR_FORMAT, "tokenizer_config.json", "JSON object" },
    { "{\"do_lower_case\": \"yes\"}", VLM_ERROR_FORMAT, "tokenizer_config.json",
      "do_lower_case" },
    { "{\"strip_accents\": 1}", VLM_ERROR_FORMAT, "tokenizer_config.json", "strip_accents" },
    { "{\"unk_token\": 5}", VLM_ERROR_FORMAT, "tokenizer_config.json", "unk_token" },
    { "{\"unk_token\": {\"lstrip\": false}}", VLM_ERROR_FORMAT, "tokenizer_config.json",
      "unk_token" },
    { "{\"sep_token\": \"\"}", VLM_ERROR_FORMAT, "tokenizer_config.json", "empty" },
    { "{\"cls_token\": \"<cls>\"}", VLM_ERROR_FORMAT, "vocab.txt", "<cls>" },
    { "{\"do_basic_tokenize\": false}", VLM_ERROR_UNSUPPORTED, "tokenizer_config.json",
      "do_basic_tokenize" },
  };
  g_autofree gchar *vocab = tiny_vocab_text (tokens);
  write_file (dir, "vocab.txt", vocab, -1);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    write_file (dir, "tokenizer_config.json", bad[i].json, -1);
    g_autoptr(GError) error = NULL;
    g_assert_null (vlm_wordpiece_new_from_dir (dir, &error));
    assert_error (error, bad[i].code, bad[i].file, bad[i].mention);
  }
  /* A bad special_tokens_map.json is named too. */
  write_file (dir, "tokenizer_config.json", "{}", -1);
  write_file (dir, "special_tokens_map.json", "{\"mask_token\": []}", -1);
  g_autoptr(GError) error = NULL;
  g_assert_null (vlm_wordpiece_new_from_dir (dir, &error));
  assert_error (error, VLM_ERROR_FORMAT, "special_tokens_map.json", "mask_token");
  remove_tree (dir);
}

/* Line ends, duplicates, an optional [MASK]. */
static void
test_vocab_file_forms (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autofree gchar *path = g_build_filename (dir, "vocab.txt", NULL);
  g_autoptr(GError) error = NULL;

  /* \r\n, a lone \r, and no line end at the end. */
  write_file (dir, "vocab.txt", "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\r\nhello\r\nworld", -1);
  {
    g_autoptr(VlmWordpiece) tok = vlm_wordpiece_new_from_file (path, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (vlm_wordpiece_get_vocab_size (tok), ==, 6);
    g_assert_cmpint (vlm_wordpiece_get_sep_id (tok), ==, 3);
    g_assert_cmpint (vlm_wordpiece_get_mask_id (tok), ==, -1);
    assert_ids (tok, "Hello WORLD", (const gint32[]) { 4, 5 }, 2);
    /* Without [MASK] in the vocabulary, "[MASK]" is ordinary text. */
    assert_ids (tok, "[MASK]", (const gint32[]) { 1, 1, 1 }, 3);
  }

  /* A repeated token: encoding gives its last id, both ids decode to it.
   * An empty line is a token too (it never matches). Trailing spaces are
   * part of a token. */
  write_file (dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n\nworld\nhello\nx \n", -1);
  {
    g_autoptr(VlmWordpiece) tok = vlm_wordpiece_new_from_file (path, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (vlm_wordpiece_get_vocab_size (tok), ==, 9);
    g_assert_cmpint (vlm_wordpiece_token_to_id (tok, "hello"), ==, 7);
    g_assert_cmpint (vlm_wordpiece_token_to_id (tok, ""), ==, 5);
    g_assert_cmpint (vlm_wordpiece_token_to_id (tok, "x "), ==, 8);
    assert_ids (tok, "hello world x", (const gint32[]) { 7, 6, 1 }, 3);
    gint32 ids[] = { 4, 7 };
    g_autofree gchar *text = vlm_wordpiece_decode (tok, ids, 2, FALSE);
    g_assert_cmpstr (text, ==, "hello hello");
  }
  remove_tree (dir);
}

static void
test_error_files (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autoptr(GError) error = NULL;

  g_autofree gchar *missing = g_build_filename (dir, "nowhere", NULL);
  g_assert_null (vlm_wordpiece_new_from_dir (missing, &error));
  assert_error (error, VLM_ERROR_FILE, "vocab.txt", "nowhere");
  g_clear_error (&error);
  g_assert_null (vlm_wordpiece_new_from_dir (dir, &error));      /* folder without vocab.txt */
  assert_error (error, VLM_ERROR_FILE, "vocab.txt", NULL);
  g_clear_error (&error);
  g_autofree gchar *absent = g_build_filename (dir, "absent-vocab.txt", NULL);
  g_assert_null (vlm_wordpiece_new_from_file (absent, &error));
  assert_error (error, VLM_ERROR_FILE, "absent-vocab.txt", NULL);
  g_clear_error (&error);
  g_assert_null (vlm_wordpiece_new_from_file (dir, &error));      /* a folder */
  assert_error (error, VLM_ERROR_FILE, dir, NULL);
  g_clear_error (&error);

  const struct {
    const gchar *data;
    gssize len;
    const gchar *mention1, *mention2;
  } bad[] = {
    { "", 0, "empty", NULL },
    { "[PAD]\n[CLS]\n[SEP]\n", -1, "[UNK]", "unk_token" },
    { "[UNK]\n[CLS]\n[SEP]\n", -1, "[PAD]", NULL },
    { "[PAD]\n[UNK]\n[SEP]\n", -1, "[CLS]", NULL },
    { "[PAD]\n[UNK]\n[CLS]\n", -1, "[SEP]", NULL },
    { "[pad]\n[unk]\n[cls]\n[sep]\n", -1, "[UNK]", NULL },
    { "\xef\xbb\xbf[PAD]\n[UNK]\n[CLS]\n[SEP]\n", -1, "[PAD]", "byte-order mark" },
    { "[PAD]\n[UNK]\n[CLS]\n[SEP]\ncaf\xe9\n", -1, "line 5", "UTF-8" },
    { "[PAD]\n[UNK]\n[CLS]\n[SEP]\na\0b\n", 28, "line 5", "NUL" },
  };
  g_autofree gchar *path = g_build_filename (dir, "vocab.txt", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    write_file (dir, "vocab.txt", bad[i].data, bad[i].len);
    g_assert_null (vlm_wordpiece_new_from_file (path, &error));
    assert_error (error, VLM_ERROR_FORMAT, "vocab.txt", bad[i].mention1);
    if (bad[i].mention2)
      assert_error (error, VLM_ERROR_FORMAT, bad[i].mention2, NULL);
    g_clear_error (&error);
    g_assert_null (vlm_wordpiece_new_from_dir (dir, &error));
    assert_error (error, VLM_ERROR_FORMAT, "vocab.txt", bad[i].mention1);
    g_clear_error (&error);
  }
  remove_tree (dir);
}

static void
test_error_bad_input (void)
{
  VlmWordpiece *tok = test_tokenizer ();
  const gchar *bad[] = { "caf\xe9", "\xff", "ok \xc3", "\xed\xa0\x80 surrogate",
                         "\xc0\xaf overlong", "[CLS]\xfe" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr(GError) error = NULL;
    GArray *ids = (GArray *) 0x1;
    g_assert_false (vlm_wordpiece_encode (tok, bad[i], &ids, &error));
    g_assert_null (ids);
    assert_error (error, VLM_ERROR_INVALID_ARGUMENT, "UTF-8", "offset");
    g_clear_error (&error);
    g_assert_null (vlm_wordpiece_basic_tokenize (tok, bad[i], &error));
    assert_error (error, VLM_ERROR_INVALID_ARGUMENT, "UTF-8", NULL);
  }
}

/* ------------------------------------------------------------------------ */
/* Robustness */

typedef struct {
  VlmWordpiece *tok;
  GArray *golden;
  guint offset;
} ThreadJob;

static gpointer
encode_decode_all (gpointer data)
{
  ThreadJob *job = data;
  GPtrArray *strings = load_strings ();
  for (guint round = 0; round < 5; round++)
    for (guint k = 0; k < strings->len; k++) {
      guint i = (k + job->offset) % strings->len;
      Golden *g = &g_array_index (job->golden, Golden, i);
      g_autoptr(GArray) ids = NULL;
      if (!vlm_wordpiece_encode (job->tok, strings->pdata[i], &ids, NULL) ||
          !same_ids (ids, (const gint32 *) g->ids->data, g->ids->len))
        return GINT_TO_POINTER (1);
      g_autofree gchar *text = vlm_wordpiece_decode (job->tok, (const gint32 *) ids->data,
                                                     ids->len, FALSE);
      if (!g_str_equal (text, g->decoded))
        return GINT_TO_POINTER (2);
    }
  return NULL;
}

/* Several threads share one tokenizer. */
static void
test_threads (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VlmWordpiece) tok = vlm_wordpiece_new_from_file (test_vocab_path (), &error);
  g_assert_no_error (error);
  load_strings ();
  g_autoptr(GArray) golden = load_golden ();
  ThreadJob jobs[4];
  GThread *threads[4];
  for (guint t = 0; t < 4; t++) {
    jobs[t] = (ThreadJob) { tok, golden, t * 97 };
    threads[t] = g_thread_new ("wordpiece", encode_decode_all, &jobs[t]);
  }
  for (guint t = 0; t < 4; t++)
    g_assert_null (g_thread_join (threads[t]));
}

/* A megabyte of words and a megabyte-long word stay fast: WordPiece looks
 * at no more than the longest token's length at each position, and long
 * words are [UNK] at once. */
static void
test_huge_input (void)
{
  VlmWordpiece *tok = test_tokenizer ();
  gsize n = 1 << 20;
  g_autofree gchar *text = g_malloc (n + 1);
  for (gsize i = 0; i < n; i++)
    text[i] = "a cat, "[i % 7];
  text[n] = '\0';
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr(GArray) ids = encode_ok (tok, text);
  g_assert_cmpuint (ids->len, >=, 3 * (n / 7) + 2);   /* a cat , … a ca */
  g_autofree gchar *back = vlm_wordpiece_decode (tok, (const gint32 *) ids->data, ids->len,
                                                 FALSE);
  g_assert_true (g_str_has_prefix (back, "a cat, a cat, a cat,"));

  memset (text, 'a', n);
  g_autoptr(GArray) one = encode_ok (tok, text);
  g_assert_cmpuint (one->len, ==, 1);
  g_assert_cmpint (g_array_index (one, gint32, 0), ==, vlm_wordpiece_get_unk_id (tok));
  gdouble ms = (g_get_monotonic_time () - t0) / 1000.0;
  g_print ("# 1 MiB of words (%u ids) encoded and decoded, and a 1 MiB word: %.0f ms\n",
           ids->len, ms);
  g_assert_cmpfloat (ms, <, 20000.0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wordpiece/golden/encode", test_golden_encode);
  g_test_add_func ("/wordpiece/golden/decode", test_golden_decode);
  g_test_add_func ("/wordpiece/golden/from-dir", test_golden_dir);
  g_test_add_func ("/wordpiece/vocab/layout", test_vocab_layout);
  g_test_add_func ("/wordpiece/vocab/examples", test_vocab_examples);
  g_test_add_func ("/wordpiece/vocab/file-forms", test_vocab_file_forms);
  g_test_add_func ("/wordpiece/by-hand/greedy", test_wordpiece_by_hand);
  g_test_add_func ("/wordpiece/by-hand/rules", test_wordpiece_rules);
  g_test_add_func ("/wordpiece/by-hand/long-words", test_wordpiece_long_words);
  g_test_add_func ("/wordpiece/by-hand/basic-tokenize", test_basic_tokenize);
  g_test_add_func ("/wordpiece/by-hand/decode", test_decode);
  g_test_add_func ("/wordpiece/config", test_config);
  g_test_add_func ("/wordpiece/error/files", test_error_files);
  g_test_add_func ("/wordpiece/error/bad-input", test_error_bad_input);
  g_test_add_func ("/wordpiece/threads", test_threads);
  g_test_add_func ("/wordpiece/huge-input", test_huge_input);
  return g_test_run ();
}
