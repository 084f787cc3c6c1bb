/* gst-vlm — libFuzzer target: CLIP BPE encoding of arbitrary text.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Vocabulary: OpenAI's bpe_simple_vocab_16e6.txt.gz from ../shared/data
 * (VLM_FUZZ_CLIP_BPE_GZ overrides the path) or, when it is absent, a small
 * one made here: the 512 byte symbols, a few dozen merges of English
 * letters, the two special tokens.
 *
 * Input: the first byte picks the context length (2 + byte % 80), the rest
 * is the text (a NUL ends it). Checked: text that is not UTF-8 is refused
 * and the rest is not; the ids are inside the vocabulary; the sequence is
 * start-of-text, the text's first ids (the same as encode_tokens() gives),
 * end-of-text, padding; truncation and the end-of-text position are
 * reported right; a second encoding (through the word cache) is identical.
 */
#include "fuzz-util.h"
#include "text/vlm-clip-tokenizer.h"

#ifndef VLM_FUZZ_CLIP_BPE_GZ
#define VLM_FUZZ_CLIP_BPE_GZ ""
#endif

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static VlmClipTokenizer *tok;

/* The printable Latin-1 bytes keep their code point; the others get
 * U+0100 onwards in byte order (what the reference's bytes_to_unicode()
 * does). */
static gunichar
byte_char (guint b)
{
  if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae))
    return b;
  guint n = 0;
  for (guint c = 0; c < b; c++)
    if (!((c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || (c >= 0xae)))
      n++;
  return 0x100 + n;
}

static VlmClipTokenizer *
small_vocabulary (void)
{
  static const gchar *const merges[][2] = {
    { "t", "h" }, { "th", "e</w>" }, { "a", "n" }, { "i", "n" }, { "o", "n</w>" },
    { "e", "r" }, { "a", "t</w>" }, { "an", "d</w>" }, { "c", "a" }, { "ca", "t</w>" },
    { "o", "f</w>" }, { "p", "h" }, { "ph", "o" }, { "t", "o</w>" }, { "pho", "to</w>" },
    { "d", "o" }, { "do", "g</w>" }, { "g", "s</w>" }, { "in", "g</w>" }, { "e", "d</w>" },
    { "1", "0</w>" }, { "i", "s</w>" }, { "r", "e" }, { "re", "d</w>" }, { "l", "l" },
    { "e", "e" }, { "ee", "e" }, { "eee", "e" }, { "e", "e</w>" }, { "ee", "e</w>" },
    { "eee", "e</w>" },
    /* é is c3 a9, whose byte symbols are U+00C3 and U+00A9 */
    { "\xc3\x83", "\xc2\xa9" },
    { "\xc3\x83\xc2\xa9", "</w>" },
  };
  GString *vocab = g_string_new ("{");
  GString *merge_text = g_string_new ("#version: 0.2\n");
  guint id = 0;
  for (gint end = 0; end < 2; end++)
    for (guint b = 0; b < 256; b++) {
      gchar utf8[8] = { 0 };
      g_unichar_to_utf8 (byte_char (b), utf8);
      const gchar *escape = (b == '"' || b == '\\') ? "\\" : "";
      g_string_append_printf (vocab, "%s\"%s%s%s\": %u", id ? ", " : "", escape, utf8,
                              end ? "</w>" : "", id);
      id++;
    }
  for (guint r = 0; r < G_N_ELEMENTS (merges); r++) {
    const gchar *left = merges[r][0], *right = merges[r][1];
    g_string_append_printf (merge_text, "%s %s\n", left, right);
    g_string_append_printf (vocab, ", \"%s%s\": %u", left, right, id++);
  }
  g_string_append_printf (vocab, ", \"<|startoftext|>\": %u, \"<|endoftext|>\": %u}", id,
                          id + 1);
  g_free (fuzz_file ("vocab.json", vocab->str, vocab->len));
  g_free (fuzz_file ("merges.txt", merge_text->str, merge_text->len));
  g_string_free (vocab, TRUE);
  g_string_free (merge_text, TRUE);
  GError *error = NULL;
  VlmClipTokenizer *t = vlm_clip_tokenizer_new_from_dir (fuzz_folder (), &error);
  if (!t)
    g_error ("fuzz: the small vocabulary does not load: %s", error->message);
  return t;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  const gchar *gz = g_getenv ("VLM_FUZZ_CLIP_BPE_GZ");
  if (!gz)
    gz = VLM_FUZZ_CLIP_BPE_GZ;
  GError *error = NULL;
  if (*gz && g_file_test (gz, G_FILE_TEST_EXISTS)) {
    tok = vlm_clip_tokenizer_new_from_bpe_gz (gz, &error);
    if (!tok)
      g_error ("fuzz: %s", error->message);
  } else {
    tok = small_vocabulary ();
  }
  g_printerr ("fuzz-clip-encode: %s vocabulary (%u ids)\n", *gz && tok ? gz : "small",
              vlm_clip_tokenizer_get_vocab_size (tok));
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  gint ctx = 2 + data[0] % 80;
  g_autofree gchar *text = fuzz_string (data + 1, size - 1);
  gboolean utf8 = g_utf8_validate (text, -1, NULL);
  guint vocab = vlm_clip_tokenizer_get_vocab_size (tok);
  gint32 sot = vlm_clip_tokenizer_get_sot_id (tok), eot = vlm_clip_tokenizer_get_eot_id (tok);
  GError *error = NULL;

  g_autofree gchar *clean = vlm_clip_tokenizer_normalize_text (text, &error);
  g_assert_true (!clean == !utf8);
  g_clear_error (&error);
  if (clean)
    g_assert_true (g_utf8_validate (clean, -1, NULL));

  GArray *all = vlm_clip_tokenizer_encode_tokens (tok, text, &error);
  g_assert_true (!all == !utf8);
  if (!all) {
    g_assert_true (error && error->domain == VLM_ERROR);
    g_clear_error (&error);
  }

  gint32 *ids = g_new (gint32, ctx), *again = g_new (gint32, ctx);
  gint eot_pos = -1;
  gboolean truncated = FALSE;
  gboolean ok = vlm_clip_tokenizer_encode (tok, text, ctx, 0, ids, &eot_pos, &truncated, &error);
  g_assert_true (ok == utf8);
  if (ok) {
    guint n = all->len;
    guint room = (guint) ctx - 2;
    g_assert_true (truncated == (n > room));
    guint kept = MIN (n, room);
    g_assert_cmpint (ids[0], ==, sot);
    for (guint i = 0; i < kept; i++) {
      gint32 id = g_array_index (all, gint32, i);
      g_assert_true (id >= 0 && (guint) id < vocab);
      g_assert_cmpint (ids[1 + i], ==, id);
    }
    g_assert_cmpint (ids[kept + 1], ==, eot);
    for (gint i = (gint) kept + 2; i < ctx; i++)
      g_assert_cmpint (ids[i], ==, 0);
    g_assert_true (eot_pos >= 1 && (guint) eot_pos <= kept + 1);
    g_assert_cmpint (ids[eot_pos], ==, eot);
    for (gint i = 1; i < eot_pos; i++)
      g_assert_cmpint (ids[i], !=, eot);

    g_assert_true (vlm_clip_tokenizer_encode (tok, text, ctx, 0, again, NULL, NULL, &error));
    g_assert_true (memcmp (ids, again, ctx * sizeof (gint32)) == 0);
  } else {
    g_assert_true (error && error->domain == VLM_ERROR);
    g_clear_error (&error);
  }
  if (all)
    g_array_free (all, TRUE);
  g_free (ids);
  g_free (again);
  return 0;
}
