/* gst-vlm — tests of the CLIP tokenizer (engine/text/vlm-clip-tokenizer.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The golden ids come from the independent Python reference; regenerate them
 * from the repository root with
 *   /usr/bin/python3 tests/clip_tokenizer_ref.py golden \
 *       ../shared/data/clip-bpe-simple-vocab-16e6.txt.gz tests/tokenizer_strings.txt \
 *       > tests/golden/clip-tokenizer-ids.txt
 *
 * Environment: G_TEST_SRCDIR = this folder (tokenizer_strings.txt, golden/);
 * VLM_CLIP_BPE_GZ = the real vocabulary, bpe_simple_vocab_16e6.txt.gz. Tests
 * that need the real vocabulary skip, saying why, when it is absent; the
 * others build small vocabularies of their own in a temporary folder.
 */
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "vlm-device.h"
#include "text/vlm-clip-tokenizer.h"

#define CTX VLM_CLIP_CONTEXT_LENGTH

/* ------------------------------------------------------------------------ */
/* Shared material */

/* The escape convention of tokenizer_strings.txt: \\ \n \t \r \f \v,
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
        gint width = *p == 'u' ? 4 : 8;
        gunichar c = 0;
        for (gint k = 0; k < width; k++) {
          gint d = g_ascii_xdigit_value (p[1]);
          g_assert_cmpint (d, >=, 0);
          c = c * 16 + d;
          p++;
        }
        g_assert_true (c != 0 && g_unichar_validate (c));
        g_string_append_unichar (out, c);
        break;
      }
      default:
        g_error ("tokenizer_strings.txt: unknown escape \\%c in \"%s\"", *p, line);
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
  const gchar *path = g_test_get_filename (G_TEST_DIST, "tokenizer_strings.txt", NULL);
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

/* The real vocabulary, or NULL after skipping the test with the reason. */
static VlmClipTokenizer *
real_tokenizer (void)
{
  static VlmClipTokenizer *tok;
  if (tok)
    return tok;
  const gchar *path = g_getenv ("VLM_CLIP_BPE_GZ");
  if (!path || !g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_autofree gchar *reason =
      g_strdup_printf ("real CLIP vocabulary not found (VLM_CLIP_BPE_GZ=%s)",
                       path ? path : "unset");
    g_print ("# skipped: %s\n", reason);
    g_test_skip (reason);
    return NULL;
  }
  g_autoptr(GError) error = NULL;
  tok = vlm_clip_tokenizer_new_from_bpe_gz (path, &error);
  g_assert_no_error (error);
  return tok;
}

static gchar *
make_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  gchar *dir = g_dir_make_tmp ("vlm-clip-tok-XXXXXX", &error);
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
    if (g_file_test (path, G_FILE_TEST_IS_DIR))
      remove_tree (path);
    else
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

static void
write_gzip (const gchar *path, const gchar *data, gsize len)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GError) error = NULL;
  g_autoptr(GFileOutputStream) raw = g_file_replace (file, NULL, FALSE, G_FILE_CREATE_NONE,
                                                     NULL, &error);
  g_assert_no_error (error);
  g_autoptr(GZlibCompressor) gz = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 9);
  g_autoptr(GOutputStream) out = g_converter_output_stream_new (G_OUTPUT_STREAM (raw),
                                                                G_CONVERTER (gz));
  g_output_stream_write_all (out, data, len, NULL, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_close (out, NULL, &error);
  g_assert_no_error (error);
}

/* The byte symbols in vocabulary order, written out here independently of
 * the tokenizer: printable Latin-1 bytes stand for themselves, the other
 * 68 take U+0100 onwards in byte order, and come after the printable ones. */
static GPtrArray *
byte_symbol_strings (void)
{
  GPtrArray *symbols = g_ptr_array_new_with_free_func (g_free);
  gunichar next_extra = 0x100;
  gunichar extra[256] = { 0 };
  for (guint b = 0; b < 256; b++) {
    gboolean printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    if (!printable)
      extra[b] = next_extra++;
  }
  for (gint pass = 0; pass < 2; pass++)
    for (guint b = 0; b < 256; b++) {
      if ((pass == 0) != (extra[b] == 0))
        continue;
      gchar buf[8] = { 0 };
      g_unichar_to_utf8 (extra[b] ? extra[b] : b, buf);
      g_ptr_array_add (symbols, g_strdup (buf));
    }
  g_assert_cmpuint (symbols->len, ==, 256);
  return symbols;
}

/* Writes a Hugging Face folder (vocab.json + merges.txt) and an original
 * style gzip file for the same merges (each "left right"): the vocabulary is
 * the byte symbols, the same with </w>, the merges joined, then
 * <|startoftext|> and <|endoftext|>. Either output may be NULL. */
static void
write_vocabularies (GPtrArray *merges, const gchar *hf_dir, const gchar *gz_path)
{
  g_autoptr(GPtrArray) bytes = byte_symbol_strings ();
  if (hf_dir) {
    g_autoptr(JsonBuilder) b = json_builder_new ();
    gint64 id = 0;
    json_builder_begin_object (b);
    for (gint end = 0; end < 2; end++)
      for (guint i = 0; i < 256; i++) {
        g_autofree gchar *s = g_strconcat (g_ptr_array_index (bytes, i), end ? "</w>" : "",
                                           NULL);
        json_builder_set_member_name (b, s);
        json_builder_add_int_value (b, id++);
      }
    for (guint r = 0; r < merges->len; r++) {
      g_auto(GStrv) parts = g_strsplit (g_ptr_array_index (merges, r), " ", 2);
      g_autofree gchar *joined = g_strconcat (parts[0], parts[1], NULL);
      json_builder_set_member_name (b, joined);
      json_builder_add_int_value (b, id++);
    }
    json_builder_set_member_name (b, "<|startoftext|>");
    json_builder_add_int_value (b, id++);
    json_builder_set_member_name (b, "<|endoftext|>");
    json_builder_add_int_value (b, id++);
    json_builder_end_object (b);
    g_autoptr(JsonGenerator) gen = json_generator_new ();
    g_autoptr(JsonNode) root = json_builder_get_root (b);
    json_generator_set_root (gen, root);
    g_autofree gchar *json = json_generator_to_data (gen, NULL);
    write_file (hf_dir, "vocab.json", json, -1);
  }

  GString *text = g_string_new (NULL);
  for (guint r = 0; r < merges->len; r++)
    g_string_append_printf (text, "%s\n", (const gchar *) g_ptr_array_index (merges, r));
  if (hf_dir) {
    g_autofree gchar *m = g_strconcat ("#version: 0.2\n", text->str, NULL);
    write_file (hf_dir, "merges.txt", m, -1);
  }
  if (gz_path) {
    g_string_prepend (text, "\"bpe_simple_vocab_16e6.txt#version: 0.2\n");
    write_gzip (gz_path, text->str, text->len);
  }
  g_string_free (text, TRUE);
}

/* 48 894 made-up merges: merge k joins byte symbol k / 512 (without </w>)
 * with base symbol k % 512 (the 256 byte symbols, then the same with </w>).
 * Every merged symbol is distinct, and its id is 512 + k. */
static GPtrArray *
synthetic_merges (void)
{
  g_autoptr(GPtrArray) bytes = byte_symbol_strings ();
  GPtrArray *merges = g_ptr_array_new_with_free_func (g_free);
  for (guint k = 0; k < VLM_CLIP_N_MERGES; k++) {
    guint a = k / 512, b = k % 512;
    g_ptr_array_add (merges, g_strdup_printf ("%s %s%s", (const gchar *) bytes->pdata[a],
                                              (const gchar *) bytes->pdata[b % 256],
                                              b >= 256 ? "</w>" : ""));
  }
  return merges;
}

static gboolean
same_ids (GArray *a, const gint32 *b, guint n)
{
  return a->len == n && (n == 0 || memcmp (a->data, b, n * sizeof (gint32)) == 0);
}

static GArray *
encode_tokens_ok (VlmClipTokenizer *tok, const gchar *text)
{
  g_autoptr(GError) error = NULL;
  GArray *ids = vlm_clip_tokenizer_encode_tokens (tok, text, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ids);
  return ids;
}

static void
assert_tokens (VlmClipTokenizer *tok, const gchar *text, const gint32 *expected, guint n)
{
  g_autoptr(GArray) ids = encode_tokens_ok (tok, text);
  if (!same_ids (ids, expected, n)) {
    GString *got = g_string_new (NULL);
    for (guint i = 0; i < ids->len; i++)
      g_string_append_printf (got, " %d", g_array_index (ids, gint32, i));
    g_error ("\"%s\" gave [%s ] (%u ids, expected %u)", text, got->str, ids->len, n);
  }
}

/* Compares two tokenizers on every test string. */
static void
assert_same_ids (VlmClipTokenizer *a, VlmClipTokenizer *b)
{
  GPtrArray *strings = load_strings ();
  for (guint i = 0; i < strings->len; i++) {
    g_autoptr(GArray) x = encode_tokens_ok (a, strings->pdata[i]);
    g_autoptr(GArray) y = encode_tokens_ok (b, strings->pdata[i]);
    if (!same_ids (x, (const gint32 *) y->data, y->len))
      g_error ("string %u: the two tokenizers disagree (%u and %u ids)", i, x->len, y->len);
  }
}

/* ------------------------------------------------------------------------ */
/* With the real vocabulary */

static void
test_real_known_ids (void)
{
  VlmClipTokenizer *tok = real_tokenizer ();
  if (!tok)
    return;
  g_assert_cmpuint (vlm_clip_tokenizer_get_vocab_size (tok), ==, 49408);
  g_assert_cmpint (vlm_clip_tokenizer_get_sot_id (tok), ==, 49406);
  g_assert_cmpint (vlm_clip_tokenizer_get_eot_id (tok), ==, 49407);

  /* The ids everyone quotes (CLIP's README, the HF model card). */
  const gint32 cat[] = { 49406, 320, 1125, 539, 320, 2368, 49407 };
  gint32 ids[CTX];
  gint eot_pos = -1;
  gboolean truncated = TRUE;
  g_autoptr(GError) error = NULL;
  g_assert_true (vlm_clip_tokenizer_encode (tok, "a photo of a cat", CTX, 0, ids, &eot_pos,
                                            &truncated, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (ids, sizeof cat, cat, sizeof cat);
  for (gint i = G_N_ELEMENTS (cat); i < CTX; i++)
    g_assert_cmpint (ids[i], ==, 0);
  g_assert_cmpint (eot_pos, ==, 6);
  g_assert_false (truncated);

  /* Hugging Face style padding. */
  g_assert_true (vlm_clip_tokenizer_encode (tok, "A photo of a CAT", CTX, 49407, ids, &eot_pos,
                                            NULL, &error));
  g_assert_cmpmem (ids, sizeof cat, cat, sizeof cat);
  for (gint i = G_N_ELEMENTS (cat); i < CTX; i++)
    g_assert_cmpint (ids[i], ==, 49407);
  g_assert_cmpint (eot_pos, ==, 6);

  /* clip.tokenize(["a diagram", "a dog", "a cat"]) from OpenAI's README. */
  assert_tokens (tok, "a diagram", (const gint32[]) { 320, 22697 }, 2);
  assert_tokens (tok, "a dog", (const gint32[]) { 320, 1929 }, 2);
  assert_tokens (tok, "a cat", (const gint32[]) { 320, 2368 }, 2);
  /* Facts of the vocabulary layout: '!' is the first byte symbol, so
   * "!</w>" is 256; the special strings in text are the special ids. */
  assert_tokens (tok, "!", (const gint32[]) { 256 }, 1);
  assert_tokens (tok, "<|endoftext|>", (const gint32[]) { 49407 }, 1);
  assert_tokens (tok, "<|startoftext|>", (const gint32[]) { 49406 }, 1);
}

/* A line of the golden file. */
typedef struct {
  GArray *tokens;
  gint eot_pos;
  gboolean truncated;
  gint32 seq[CTX];
} Golden;

static void
parse_ids (const gchar *field, GArray *out)
{
  if (g_str_equal (field, "-"))
    return;
  g_auto(GStrv) parts = g_strsplit (field, " ", -1);
  for (guint i = 0; parts[i]; i++) {
    gint32 id = (gint32) g_ascii_strtoll (parts[i], NULL, 10);
    g_array_append_val (out, id);
  }
}

static GArray *
load_golden (void)
{
  const gchar *path = g_test_get_filename (G_TEST_DIST, "golden", "clip-tokenizer-ids.txt",
                                           NULL);
  g_autofree gchar *data = NULL;
  g_autoptr(GError) error = NULL;
  if (!g_file_get_contents (path, &data, NULL, &error))
    g_error ("%s: %s", path, error->message);
  GArray *golden = g_array_new (FALSE, TRUE, sizeof (Golden));
  g_auto(GStrv) lines = g_strsplit (data, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (lines[i][0] == '#' || lines[i][0] == '\0')
      continue;
    g_auto(GStrv) f = g_strsplit (lines[i], "\t", -1);
    g_assert_cmpuint (g_strv_length (f), ==, 5);
    g_assert_cmpint (g_ascii_strtoll (f[0], NULL, 10), ==, golden->len);
    Golden g = { g_array_new (FALSE, FALSE, sizeof (gint32)), 0, FALSE, { 0 } };
    parse_ids (f[1], g.tokens);
    g.eot_pos = (gint) g_ascii_strtoll (f[2], NULL, 10);
    g.truncated = g_str_equal (f[3], "1");
    g_autoptr(GArray) seq = g_array_new (FALSE, FALSE, sizeof (gint32));
    parse_ids (f[4], seq);
    g_assert_cmpuint (seq->len, ==, CTX);
    memcpy (g.seq, seq->data, sizeof g.seq);
    g_array_append_val (golden, g);
  }
  return golden;
}

static void
test_real_golden (void)
{
  VlmClipTokenizer *tok = real_tokenizer ();
  if (!tok)
    return;
  GPtrArray *strings = load_strings ();
  g_autoptr(GArray) golden = load_golden ();
  g_assert_cmpuint (golden->len, ==, strings->len);
  g_assert_cmpuint (strings->len, >=, 500);

  guint bad = 0, n_truncated = 0, n_tokens = 0;
  for (guint i = 0; i < strings->len; i++) {
    const gchar *text = strings->pdata[i];
    Golden *g = &g_array_index (golden, Golden, i);
    g_autoptr(GArray) tokens = encode_tokens_ok (tok, text);
    n_tokens += tokens->len;

    gint32 seq[CTX], seq_eot[CTX];
    gint eot_pos = -1, eot_pos2 = -1;
    gboolean truncated = FALSE, truncated2 = FALSE;
    g_autoptr(GError) error = NULL;
    g_assert_true (vlm_clip_tokenizer_encode (tok, text, CTX, 0, seq, &eot_pos, &truncated,
                                              &error));
    g_assert_true (vlm_clip_tokenizer_encode (tok, text, CTX, 49407, seq_eot, &eot_pos2,
                                              &truncated2, &error));
    /* HF padding differs from OpenAI's only after the final end-of-text. */
    gint last = (gint) MIN (g->tokens->len, CTX - 2) + 1;
    gboolean pad_ok = eot_pos2 == eot_pos && truncated2 == truncated;
    for (gint k = 0; k < CTX; k++)
      if (seq_eot[k] != (k > last ? 49407 : g->seq[k]))
        pad_ok = FALSE;

    gboolean ok = same_ids (tokens, (const gint32 *) g->tokens->data, g->tokens->len) &&
      memcmp (seq, g->seq, sizeof seq) == 0 && eot_pos == g->eot_pos &&
      truncated == g->truncated && pad_ok;
    n_truncated += truncated;
    if (!ok) {
      g_autofree gchar *clean = vlm_clip_tokenizer_normalize_text (text, NULL);
      g_autofree gchar *shown = g_strescape (text, NULL);
      g_autofree gchar *shown_clean = g_strescape (clean, NULL);
      g_printerr ("string %u \"%s\" (cleaned \"%s\"): %u ids, golden %u\n", i, shown,
                  shown_clean, tokens->len, g->tokens->len);
      bad++;
    }
    g_array_free (g->tokens, TRUE);
  }
  g_print ("# %u/%u strings (%u tokens, %u truncated) agree with the Python reference\n",
           strings->len - bad, strings->len, n_tokens, n_truncated);
  g_assert_cmpuint (bad, ==, 0);
}

/* A Hugging Face folder made from the real gzip file loads to the same
 * tokenizer. */
static void
test_real_hf_folder (void)
{
  VlmClipTokenizer *gz_tok = real_tokenizer ();
  if (!gz_tok)
    return;

  /* Read the merges back with GIO, independently of the loader. */
  g_autoptr(GFile) file = g_file_new_for_path (g_getenv ("VLM_CLIP_BPE_GZ"));
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) raw = G_INPUT_STREAM (g_file_read (file, NULL, &error));
  g_assert_no_error (error);
  g_autoptr(GZlibDecompressor) z = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr(GInputStream) in = g_converter_input_stream_new (raw, G_CONVERTER (z));
  g_autoptr(GOutputStream) mem = g_memory_output_stream_new_resizable ();
  g_output_stream_splice (mem, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error);
  g_assert_no_error (error);
  g_autoptr(GBytes) bytes = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (mem));
  g_autofree gchar *text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_auto(GStrv) lines = g_strsplit (text, "\n", VLM_CLIP_N_MERGES + 2);
  g_autoptr(GPtrArray) merges = g_ptr_array_new ();
  for (guint i = 1; i <= VLM_CLIP_N_MERGES; i++)
    g_ptr_array_add (merges, lines[i]);

  g_autofree gchar *dir = make_tmpdir ();
  write_vocabularies (merges, dir, NULL);
  g_autoptr(VlmClipTokenizer) hf = vlm_clip_tokenizer_new_from_dir (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (vlm_clip_tokenizer_get_vocab_size (hf), ==, 49408);
  g_assert_cmpint (vlm_clip_tokenizer_get_sot_id (hf), ==, 49406);
  g_assert_cmpint (vlm_clip_tokenizer_get_eot_id (hf), ==, 49407);
  assert_same_ids (gz_tok, hf);
  remove_tree (dir);
}

/* ------------------------------------------------------------------------ */
/* With vocabularies made here */

static void
test_synthetic_gz_vs_dir (void)
{
  g_autoptr(GPtrArray) merges = synthetic_merges ();
  g_autofree gchar *dir = make_tmpdir ();
  g_autofree gchar *gz = g_build_filename (dir, "vocab.txt.gz", NULL);
  write_vocabularies (merges, dir, gz);

  g_autoptr(GError) error = NULL;
  g_autoptr(VlmClipTokenizer) a = vlm_clip_tokenizer_new_from_bpe_gz (gz, &error);
  g_assert_no_error (error);
  g_autoptr(VlmClipTokenizer) b = vlm_clip_tokenizer_new_from_dir (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (vlm_clip_tokenizer_get_vocab_size (a), ==, 49408);
  g_assert_cmpuint (vlm_clip_tokenizer_get_vocab_size (b), ==, 49408);

  /* Worked by hand: '!' '"' '#' are byte symbols 0, 1, 2. "!!" is
   * '!' + '!</w>' (256) = merge 0·512 + 256 → id 512 + 256. "\"#" is
   * merge 1·512 + 258 → 1282. "!\"#" merges '!' '"' (merge 1 → 513), and
   * nothing joins 513 with '#</w>' (258). */
  for (gint k = 0; k < 2; k++) {
    VlmClipTokenizer *tok = k ? b : a;
    assert_tokens (tok, "!!", (const gint32[]) { 768 }, 1);
    assert_tokens (tok, "\"#", (const gint32[]) { 1282 }, 1);
    assert_tokens (tok, "!\"#", (const gint32[]) { 513, 258 }, 2);
    assert_tokens (tok, "! !", (const gint32[]) { 256, 256 }, 2);
  }
  assert_same_ids (a, b);
  remove_tree (dir);
}

/* A tiny vocabulary checked by hand: the lowest rank merges first. */
static VlmClipTokenizer *
tiny_tokenizer (gchar **dir_out)
{
  const gchar *list[] = { "l l", "h e", "he ll", "hell o</w>", "e l", "a b</w>" };
  g_autoptr(GPtrArray) merges = g_ptr_array_new ();
  for (guint i = 0; i < G_N_ELEMENTS (list); i++)
    g_ptr_array_add (merges, (gpointer) list[i]);
  gchar *dir = make_tmpdir ();
  write_vocabularies (merges, dir, NULL);
  g_autoptr(GError) error = NULL;
  VlmClipTokenizer *tok = vlm_clip_tokenizer_new_from_dir (dir, &error);
  g_assert_no_error (error);
  *dir_out = dir;
  return tok;
}

static void
test_tiny_by_hand (void)
{
  g_autofree gchar *dir = NULL;
  g_autoptr(VlmClipTokenizer) tok = tiny_tokenizer (&dir);
  g_assert_cmpuint (vlm_clip_tokenizer_get_vocab_size (tok), ==, 512 + 6 + 2);
  g_assert_cmpint (vlm_clip_tokenizer_get_sot_id (tok), ==, 518);
  g_assert_cmpint (vlm_clip_tokenizer_get_eot_id (tok), ==, 519);
  /* Byte symbol ids: printable ASCII c is c − '!'; with </w>, + 256. */
#define SYM(c) ((c) - '!')
#define END(c) (256 + (c) - '!')
  /* h e l l o</w>: "l l" (rank 0) before "h e" (1), then "he ll", "hell o</w>". */
  assert_tokens (tok, "hello", (const gint32[]) { 515 }, 1);
  assert_tokens (tok, "HELLO!", (const gint32[]) { 515, END ('!') }, 2);
  /* h e l</w>: only "h e" applies. */
  assert_tokens (tok, "hel", (const gint32[]) { 513, END ('l') }, 2);
  /* e l k</w>: "e l" (rank 4). */
  assert_tokens (tok, "elk", (const gint32[]) { 516, END ('k') }, 2);
  /* h e l l</w>: the last pair is l + l</w>, not "l l"; "h e" (rank 1)
   * beats "e l" (rank 4) and leaves no pair with a rank. */
  assert_tokens (tok, "hell", (const gint32[]) { 513, SYM ('l'), END ('l') }, 3);
  /* l l l: the leftmost pair merges first, the last l stays. */
  assert_tokens (tok, "lll", (const gint32[]) { 512, END ('l') }, 2);
  assert_tokens (tok, "llll", (const gint32[]) { 512, SYM ('l'), END ('l') }, 3);
  /* </w> goes on the last symbol: "a b</w>" applies to "ab", not "abc". */
  assert_tokens (tok, "ab", (const gint32[]) { 517 }, 1);
  assert_tokens (tok, "abc", (const gint32[]) { SYM ('a'), SYM ('b'), END ('c') }, 3);
  /* Splitting: contractions, digits one by one, punctuation runs. */
  assert_tokens (tok, "it's", (const gint32[]) { SYM ('i'), END ('t'), SYM ('\''), END ('s') },
                 4);
  assert_tokens (tok, "42", (const gint32[]) { END ('4'), END ('2') }, 2);
  assert_tokens (tok, "?!", (const gint32[]) { SYM ('?'), END ('!') }, 2);
  assert_tokens (tok, "a <|endoftext|> b", (const gint32[]) { END ('a'), 519, END ('b') }, 3);
#undef SYM
#undef END
  remove_tree (dir);
}

static void
test_empty (void)
{
  g_autofree gchar *dir = NULL;
  g_autoptr(VlmClipTokenizer) tok = tiny_tokenizer (&dir);
  const gchar *texts[] = { "", " ", "   \t\n ", "&nbsp;", "&#32;" };
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
    g_autoptr(GArray) tokens = encode_tokens_ok (tok, texts[i]);
    g_assert_cmpuint (tokens->len, ==, 0);
    gint32 ids[CTX];
    gint eot_pos = -1;
    gboolean truncated = TRUE;
    g_autoptr(GError) error = NULL;
    g_assert_true (vlm_clip_tokenizer_encode (tok, texts[i], CTX, 0, ids, &eot_pos, &truncated,
                                              &error));
    g_assert_cmpint (ids[0], ==, 518);
    g_assert_cmpint (ids[1], ==, 519);
    for (gint k = 2; k < CTX; k++)
      g_assert_cmpint (ids[k], ==, 0);
    g_assert_cmpint (eot_pos, ==, 1);
    g_assert_false (truncated);
  }
  remove_tree (dir);
}

static void
test_truncation (void)
{
  g_autofree gchar *dir = NULL;
  g_autoptr(VlmClipTokenizer) tok = tiny_tokenizer (&dir);
  const gint32 x = 256 + 'x' - '!';   /* "x</w>": one token per word */
  const guint counts[] = { 0, 1, 74, 75, 76, 77, 200, 5000 };
  for (guint c = 0; c < G_N_ELEMENTS (counts); c++) {
    GString *text = g_string_new (NULL);
    for (guint i = 0; i < counts[c]; i++)
      g_string_append (text, "x ");
    for (gint pad = 0; pad < 2; pad++) {
      gint32 ids[CTX];
      gint eot_pos = -1;
      gboolean truncated = FALSE;
      g_autoptr(GError) error = NULL;
      g_assert_true (vlm_clip_tokenizer_encode (tok, text->str, CTX, pad ? 519 : 0, ids,
                                                &eot_pos, &truncated, &error));
      guint kept = MIN (counts[c], CTX - 2);
      g_assert_cmpint (truncated, ==, counts[c] > CTX - 2);
      g_assert_cmpint (eot_pos, ==, kept + 1);
      g_assert_cmpint (ids[0], ==, 518);
      for (guint k = 1; k <= kept; k++)
        g_assert_cmpint (ids[k], ==, x);
      g_assert_cmpint (ids[kept + 1], ==, 519);
      for (gint k = kept + 2; k < CTX; k++)
        g_assert_cmpint (ids[k], ==, pad ? 519 : 0);
      if (truncated)
        g_assert_cmpint (ids[CTX - 1], ==, 519);
    }
    /* Other context lengths, down to the minimum. */
    gint32 small[2];
    gboolean truncated;
    gint eot_pos;
    g_assert_true (vlm_clip_tokenizer_encode (tok, text->str, 2, 0, small, &eot_pos,
                                              &truncated, NULL));
    g_assert_cmpint (small[0], ==, 518);
    g_assert_cmpint (small[1], ==, 519);
    g_assert_cmpint (eot_pos, ==, 1);
    g_assert_cmpint (truncated, ==, counts[c] > 0);
    g_string_free (text, TRUE);
  }
  /* End-of-text inside the text: eot_pos is the first one, where the
   * reference's argmax pools. */
  gint32 ids[CTX];
  gint eot_pos;
  g_assert_true (vlm_clip_tokenizer_encode (tok, "x <|endoftext|> x", CTX, 0, ids, &eot_pos,
                                            NULL, NULL));
  g_assert_cmpint (eot_pos, ==, 2);
  g_assert_cmpint (ids[4], ==, 519);
  remove_tree (dir);
}

static void
test_normalize (void)
{
  const struct {
    const gchar *in, *out;
  } cases[] = {
    { "  Hello\t\n WORLD  ", "hello world" },
    { "&amp;amp;", "&" },                        /* decoded twice, not more */
    { "&amp;amp;amp;", "&amp;" },
    { "&lt;b&gt;", "<b>" },
    { "caf&eacute; &Eacute;T&Eacute;", "café été" },
    { "&copyright", "©right" },                  /* legacy name without ';' */
    { "&notit;", "¬it;" },                       /* longest known prefix */
    { "&unknown;", "&unknown;" },
    { "&#150;&#x2019;", "–’" },                  /* Windows-1252 C1 → characters */
    { "a&#0;b&#xD800;c&#1114112;", "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd" },
    { "a&#1;b&#xfffe;c", "abc" },                /* controls, noncharacters: dropped */
    { "a&#13;&#10;b&nbsp;c", "a b c" },
    { "İ", "i\xcc\x87" },                         /* Python's full lower-casing */
    { "ΟΔΟΣ ΟΔΟΣ.", "οδος οδος." },               /* final sigma */
    { "Σ ΑΣΑ", "σ ασα" },
    { "Ⅻ Ⓐ ẞ \xe2\x84\xaa", "ⅻ ⓐ ß k" },     /* the last is the Kelvin sign */
    { "no\xc2\xa0" "break\xe3\x80\x80space", "no break space" },
    { "zero\xe2\x80\x8bwidth", "zero\xe2\x80\x8bwidth" },   /* not whitespace */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *out = vlm_clip_tokenizer_normalize_text (cases[i].in, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (out, ==, cases[i].out);
  }
}

/* ------------------------------------------------------------------------ */
/* Errors */

static void
assert_error (GError *error, gint code, const gchar *part1, const gchar *part2)
{
  g_assert_error (error, VLM_ERROR, code);
  if (part1 && !strstr (error->message, part1))
    g_error ("error \"%s\" does not mention \"%s\"", error->message, part1);
  if (part2 && !strstr (error->message, part2))
    g_error ("error \"%s\" does not mention \"%s\"", error->message, part2);
}

static void
test_error_missing_files (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autofree gchar *missing = g_build_filename (dir, "nowhere", NULL);
  g_autoptr(GError) error = NULL;

  g_assert_null (vlm_clip_tokenizer_new_from_dir (missing, &error));
  assert_error (error, VLM_ERROR_FILE, "vocab.json", "nowhere");
  g_clear_error (&error);

  g_autofree gchar *gz = g_build_filename (dir, "absent.txt.gz", NULL);
  g_assert_null (vlm_clip_tokenizer_new_from_bpe_gz (gz, &error));
  assert_error (error, VLM_ERROR_FILE, "absent.txt.gz", NULL);
  g_clear_error (&error);

  /* vocab.json alone. */
  g_autoptr(GPtrArray) merges = g_ptr_array_new ();
  write_vocabularies (merges, dir, NULL);
  g_autofree gchar *merges_path = g_build_filename (dir, "merges.txt", NULL);
  g_remove (merges_path);
  g_assert_null (vlm_clip_tokenizer_new_from_dir (dir, &error));
  assert_error (error, VLM_ERROR_FILE, "merges.txt", NULL);
  remove_tree (dir);
}

static void
test_error_bad_vocab (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autoptr(GPtrArray) merges = g_ptr_array_new ();
  g_ptr_array_add (merges, "h e");
  write_vocabularies (merges, dir, NULL);   /* a valid merges.txt */
  g_autoptr(GError) error = NULL;
  const struct {
    const gchar *json, *mention;
  } bad[] = {
    { "{ \"a\": 0, ", "not valid JSON" },
    { "[1, 2, 3]", "JSON object" },
    { "{ \"a\": \"zero\" }", "not an integer" },
    { "{ \"a\": 1.5 }", "not an integer" },
    { "{ \"a\": -1 }", "out of range" },
    { "{ \"a\": 0, \"b\": 0 }", "both" },
    { "{ \"a\": 0 }", "missing" },             /* no byte symbols */
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    write_file (dir, "vocab.json", bad[i].json, -1);
    g_assert_null (vlm_clip_tokenizer_new_from_dir (dir, &error));
    assert_error (error, VLM_ERROR_FORMAT, "vocab.json", bad[i].mention);
    g_clear_error (&error);
  }

  /* Complete except for the special tokens. */
  g_autoptr(GPtrArray) bytes = byte_symbol_strings ();
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  for (gint i = 0; i < 512; i++) {
    g_autofree gchar *s = g_strconcat (bytes->pdata[i % 256], i >= 256 ? "</w>" : "", NULL);
    json_builder_set_member_name (b, s);
    json_builder_add_int_value (b, i);
  }
  json_builder_end_object (b);
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  g_autofree gchar *json = json_generator_to_data (gen, NULL);
  write_file (dir, "vocab.json", json, -1);
  g_assert_null (vlm_clip_tokenizer_new_from_dir (dir, &error));
  assert_error (error, VLM_ERROR_FORMAT, "vocab.json", "<|endoftext|>");
  remove_tree (dir);
}

static void
test_error_bad_merges (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autoptr(GPtrArray) merges = g_ptr_array_new ();
  g_ptr_array_add (merges, "h e");
  write_vocabularies (merges, dir, NULL);   /* vocab.json with "he" */
  g_autoptr(GError) error = NULL;
  const struct {
    const gchar *merges, *mention;
  } bad[] = {
    { "h e\n", "#version" },
    { "", "#version" },
    { "#version: 0.2\nh e x\n", "line 2" },
    { "#version: 0.2\nh e\nhe\n", "line 3" },
    { "#version: 0.2\nh q\n", "'hq'" },      /* merged symbol not in vocab.json */
    { "#version: 0.2\nh \xe2\x82\xac\n", "'\xe2\x82\xac'" },
    { "#version: 0.2\nh \xff\n", "UTF-8" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    write_file (dir, "merges.txt", bad[i].merges, -1);
    g_assert_null (vlm_clip_tokenizer_new_from_dir (dir, &error));
    assert_error (error, VLM_ERROR_FORMAT, "merges.txt", bad[i].mention);
    g_clear_error (&error);
  }
  /* The good file loads. */
  write_file (dir, "merges.txt", "#version: 0.2\r\nh e\r\n\r\n", -1);
  g_autoptr(VlmClipTokenizer) tok = vlm_clip_tokenizer_new_from_dir (dir, &error);
  g_assert_no_error (error);
  assert_tokens (tok, "he", (const gint32[]) { 'h' - '!', 256 + 'e' - '!' }, 2);
  assert_tokens (tok, "hex", (const gint32[]) { 512, 256 + 'x' - '!' }, 2);
  remove_tree (dir);
}

static void
test_error_gzip (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autoptr(GPtrArray) merges = synthetic_merges ();
  g_autofree gchar *gz = g_build_filename (dir, "vocab.txt.gz", NULL);
  write_vocabularies (merges, NULL, gz);
  g_autofree gchar *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (gz, &data, &len, NULL));
  g_autoptr(GError) error = NULL;

  /* Cut in the middle of the compressed stream. */
  g_autofree gchar *cut = g_build_filename (dir, "cut.txt.gz", NULL);
  g_assert_true (g_file_set_contents (cut, data, len / 2, NULL));
  g_assert_null (vlm_clip_tokenizer_new_from_bpe_gz (cut, &error));
  assert_error (error, VLM_ERROR_FILE, "cut.txt.gz", "truncated");
  g_clear_error (&error);

  /* Cut just before the gzip trailer. */
  g_assert_true (g_file_set_contents (cut, data, len - 6, NULL));
  g_assert_null (vlm_clip_tokenizer_new_from_bpe_gz (cut, &error));
  assert_error (error, VLM_ERROR_FILE, "cut.txt.gz", NULL);
  g_clear_error (&error);

  /* Not gzip at all; empty. */
  g_autofree gchar *plain = g_build_filename (dir, "plain.txt.gz", NULL);
  g_assert_true (g_file_set_contents (plain, "#version: 0.2\nh e\n", -1, NULL));
  g_assert_null (vlm_clip_tokenizer_new_from_bpe_gz (plain, &error));
  assert_error (error, VLM_ERROR_FILE, "plain.txt.gz", NULL);
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (plain, "", 0, NULL));
  g_assert_null (vlm_clip_tokenizer_new_from_bpe_gz (plain, &error));
  g_assert_nonnull (error);
  g_assert_true (strstr (error->message, "plain.txt.gz") != NULL);
  g_clear_error (&error);

  /* Valid gzip, too few merges. */
  g_ptr_array_set_size (merges, 1000);
  write_vocabularies (merges, NULL, gz);
  g_assert_null (vlm_clip_tokenizer_new_from_bpe_gz (gz, &error));
  assert_error (error, VLM_ERROR_FORMAT, "vocab.txt.gz", "only 1000 merges");
  remove_tree (dir);
}

static void
test_error_bad_input (void)
{
  g_autofree gchar *dir = NULL;
  g_autoptr(VlmClipTokenizer) tok = tiny_tokenizer (&dir);
  g_autoptr(GError) error = NULL;
  gint32 ids[CTX];
  const gchar *bad[] = { "caf\xe9", "\xff", "ok \xc3", "\xed\xa0\x80 surrogate",
                         "\xc0\xaf overlong" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_assert_false (vlm_clip_tokenizer_encode (tok, bad[i], CTX, 0, ids, NULL, NULL, &error));
    assert_error (error, VLM_ERROR_INVALID_ARGUMENT, "UTF-8", "offset");
    g_clear_error (&error);
    g_assert_null (vlm_clip_tokenizer_encode_tokens (tok, bad[i], &error));
    assert_error (error, VLM_ERROR_INVALID_ARGUMENT, "UTF-8", NULL);
    g_clear_error (&error);
    g_assert_null (vlm_clip_tokenizer_normalize_text (bad[i], &error));
    assert_error (error, VLM_ERROR_INVALID_ARGUMENT, "UTF-8", NULL);
    g_clear_error (&error);
  }
  g_assert_false (vlm_clip_tokenizer_encode (tok, "x", 1, 0, ids, NULL, NULL, &error));
  assert_error (error, VLM_ERROR_INVALID_ARGUMENT, "context length", NULL);
  g_clear_error (&error);
  g_assert_false (vlm_clip_tokenizer_encode (tok, "x", CTX, -1, ids, NULL, NULL, &error));
  assert_error (error, VLM_ERROR_INVALID_ARGUMENT, "padding", NULL);
  g_clear_error (&error);
  g_assert_false (vlm_clip_tokenizer_encode (tok, "x", CTX, 520, ids, NULL, NULL, &error));
  assert_error (error, VLM_ERROR_INVALID_ARGUMENT, "padding", NULL);
  remove_tree (dir);
}

/* ------------------------------------------------------------------------ */
/* Robustness */

typedef struct {
  VlmClipTokenizer *tok;
  GPtrArray *expected;   /* GArray of ids per string */
  guint offset;
} ThreadJob;

static gpointer
encode_all (gpointer data)
{
  ThreadJob *job = data;
  GPtrArray *strings = load_strings ();
  for (guint round = 0; round < 3; round++)
    for (guint k = 0; k < strings->len; k++) {
      guint i = (k + job->offset) % strings->len;
      g_autoptr(GArray) ids = vlm_clip_tokenizer_encode_tokens (job->tok, strings->pdata[i], NULL);
      GArray *want = job->expected->pdata[i];
      if (!ids || !same_ids (ids, (const gint32 *) want->data, want->len))
        return GINT_TO_POINTER (1);
    }
  return NULL;
}

/* Several threads share one tokenizer (and its cache). */
static void
test_threads (void)
{
  g_autoptr(GPtrArray) merges = synthetic_merges ();
  g_autofree gchar *dir = make_tmpdir ();
  write_vocabularies (merges, dir, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(VlmClipTokenizer) fresh = vlm_clip_tokenizer_new_from_dir (dir, &error);
  g_assert_no_error (error);
  VlmClipTokenizer *real = g_getenv ("VLM_CLIP_BPE_GZ") &&
    g_file_test (g_getenv ("VLM_CLIP_BPE_GZ"), G_FILE_TEST_EXISTS) ? real_tokenizer () : NULL;

  for (gint which = 0; which < 2; which++) {
    VlmClipTokenizer *tok = which ? real : fresh;
    if (!tok)
      continue;
    /* Expected ids from a tokenizer of its own, so the cache starts cold. */
    g_autoptr(VlmClipTokenizer) ref = which
      ? vlm_clip_tokenizer_new_from_bpe_gz (g_getenv ("VLM_CLIP_BPE_GZ"), &error)
      : vlm_clip_tokenizer_new_from_dir (dir, &error);
    g_assert_no_error (error);
    GPtrArray *strings = load_strings ();
    g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
    for (guint i = 0; i < strings->len; i++)
      g_ptr_array_add (expected, encode_tokens_ok (ref, strings->pdata[i]));
    ThreadJob jobs[4];
    GThread *threads[4];
    for (guint t = 0; t < 4; t++) {
      jobs[t] = (ThreadJob) { tok, expected, t * 97 };
      threads[t] = g_thread_new ("encode", encode_all, &jobs[t]);
    }
    for (guint t = 0; t < 4; t++)
      g_assert_null (g_thread_join (threads[t]));
  }
  remove_tree (dir);
}

/* A half-megabyte word and half a megabyte of words stay fast: BPE is
 * O(n log n) per word and encode() stops once the context is full. */
static void
test_huge_input (void)
{
  g_autoptr(GPtrArray) merges = synthetic_merges ();
  g_autofree gchar *dir = make_tmpdir ();
  write_vocabularies (merges, dir, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(VlmClipTokenizer) tok = vlm_clip_tokenizer_new_from_dir (dir, &error);
  g_assert_no_error (error);

  gsize n = 1 << 19;
  g_autofree gchar *word = g_malloc (n + 1);
  memset (word, 'a', n);
  word[n] = '\0';
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr(GArray) ids = encode_tokens_ok (tok, word);
  /* "a a" pairs merge (merge 64·512 + 64); n / 2 of them, the last one
   * being "a a</w>". */
  g_assert_cmpuint (ids->len, ==, n / 2);
  gint32 buf[CTX];
  gboolean truncated = FALSE;
  g_assert_true (vlm_clip_tokenizer_encode (tok, word, CTX, 0, buf, NULL, &truncated, &error));
  g_assert_true (truncated);
  g_assert_cmpint (buf[CTX - 1], ==, 49407);

  for (gsize i = 1; i < n; i += 2)
    word[i] = ' ';
  g_assert_true (vlm_clip_tokenizer_encode (tok, word, CTX, 0, buf, NULL, &truncated, &error));
  g_assert_true (truncated);
  gdouble ms = (g_get_monotonic_time () - t0) / 1000.0;
  g_print ("# 512 KiB word and 512 KiB of words: %.0f ms\n", ms);
  g_assert_cmpfloat (ms, <, 20000.0);
  remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/clip-tokenizer/real/known-ids", test_real_known_ids);
  g_test_add_func ("/clip-tokenizer/real/golden", test_real_golden);
  g_test_add_func ("/clip-tokenizer/real/hf-folder", test_real_hf_folder);
  g_test_add_func ("/clip-tokenizer/synthetic/gz-vs-dir", test_synthetic_gz_vs_dir);
  g_test_add_func ("/clip-tokenizer/tiny/by-hand", test_tiny_by_hand);
  g_test_add_func ("/clip-tokenizer/empty", test_empty);
  g_test_add_func ("/clip-tokenizer/truncation", test_truncation);
  g_test_add_func ("/clip-tokenizer/normalize", test_normalize);
  g_test_add_func ("/clip-tokenizer/error/missing-files", test_error_missing_files);
  g_test_add_func ("/clip-tokenizer/error/bad-vocab-json", test_error_bad_vocab);
  g_test_add_func ("/clip-tokenizer/error/bad-merges", test_error_bad_merges);
  g_test_add_func ("/clip-tokenizer/error/gzip", test_error_gzip);
  g_test_add_func ("/clip-tokenizer/error/bad-input", test_error_bad_input);
  g_test_add_func ("/clip-tokenizer/threads", test_threads);
  g_test_add_func ("/clip-tokenizer/huge-input", test_huge_input);
  return g_test_run ();
}
