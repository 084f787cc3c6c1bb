/* gst-vlm — libFuzzer target: WordPiece encoding and decoding.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Vocabulary: the committed test vocabulary tests/golden/wordpiece-vocab.txt
 * (VLM_FUZZ_WORDPIECE_VOCAB overrides the path), loaded twice: with BERT
 * uncased's defaults, and cased with accents stripped, CJK characters left
 * alone, no clean-up of decoded spaces and [UNK] given as an AddedToken.
 *
 * Input: a flags byte, then the text (a NUL ends it). Flags: bit 0 picks
 * the cased tokenizer; bit 1 makes the text a list of raw 32-bit ids to
 * decode instead. Checked: text that is not UTF-8 is refused and the rest
 * is not; every basic-tokenizer word is non-empty UTF-8 without whitespace
 * and gives at least one id; the ids are inside the vocabulary; decoding
 * any ids, in range or not, gives UTF-8.
 */
#include "fuzz-util.h"
#include "text/vlm-wordpiece.h"

#ifndef VLM_FUZZ_WORDPIECE_VOCAB
#define VLM_FUZZ_WORDPIECE_VOCAB "tests/golden/wordpiece-vocab.txt"
#endif

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static VlmWordpiece *uncased, *cased;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  const gchar *path = g_getenv ("VLM_FUZZ_WORDPIECE_VOCAB");
  if (!path)
    path = VLM_FUZZ_WORDPIECE_VOCAB;
  GError *error = NULL;
  gchar *text;
  gsize len;
  if (!g_file_get_contents (path, &text, &len, &error))
    g_error ("fuzz: %s", error->message);
  g_free (fuzz_file ("vocab.txt", text, len));
  g_free (text);
  static const gchar config[] = "{\"do_lower_case\": false, \"strip_accents\": true, "
      "\"tokenize_chinese_chars\": false, \"clean_up_tokenization_spaces\": false}";
  static const gchar map[] = "{\"unk_token\": {\"content\": \"[UNK]\", \"lstrip\": false}}";
  g_free (fuzz_file ("tokenizer_config.json", config, strlen (config)));
  g_free (fuzz_file ("special_tokens_map.json", map, strlen (map)));
  uncased = vlm_wordpiece_new_from_file (path, &error);
  if (uncased)
    cased = vlm_wordpiece_new_from_dir (fuzz_folder (), &error);
  if (!uncased || !cased)
    g_error ("fuzz: %s", error->message);
  return 0;
}

static gboolean
has_space (const gchar *s)
{
  for (const gchar *p = s; *p; p = g_utf8_next_char (p))
    if (g_unichar_isspace (g_utf8_get_char (p)))
      return TRUE;
  return FALSE;
}

static void
decode_both (VlmWordpiece *tok, const gint32 *ids, gint n)
{
  for (gint skip = 0; skip < 2; skip++) {
    g_autofree gchar *text = vlm_wordpiece_decode (tok, ids, n, skip);
    g_assert_nonnull (text);
    g_assert_true (g_utf8_validate (text, -1, NULL));
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  guint8 flags = data[0];
  VlmWordpiece *tok = flags & 1 ? cased : uncased;
  data++;
  size--;

  if (flags & 2) {
    gint n = (gint) (size / sizeof (gint32));
    gint32 *ids = g_new (gint32, MAX (n, 1));
    memcpy (ids, data, n * sizeof (gint32));
    decode_both (tok, ids, n);
    g_free (ids);
    return 0;
  }

  g_autofree gchar *text = fuzz_string (data, size);
  gboolean utf8 = g_utf8_validate (text, -1, NULL);
  GError *error = NULL;
  GStrv words = vlm_wordpiece_basic_tokenize (tok, text, &error);
  g_assert_true (!words == !utf8);
  g_clear_error (&error);
  GArray *ids = NULL;
  gboolean ok = vlm_wordpiece_encode (tok, text, &ids, &error);
  g_assert_true (ok == utf8);
  if (!ok) {
    g_assert_null (ids);
    g_assert_true (error && error->domain == VLM_ERROR);
    g_error_free (error);
    return 0;
  }
  guint n_words = g_strv_length (words);
  for (guint i = 0; i < n_words; i++) {
    g_assert_true (words[i][0] != '\0');
    g_assert_true (g_utf8_validate (words[i], -1, NULL));
    if (vlm_wordpiece_token_to_id (tok, words[i]) < 0)   /* special tokens may hold spaces */
      g_assert_false (has_space (words[i]));
  }
  g_assert_cmpuint (ids->len, >=, n_words);
  guint vocab = vlm_wordpiece_get_vocab_size (tok);
  for (guint i = 0; i < ids->len; i++) {
    gint32 id = g_array_index (ids, gint32, i);
    g_assert_true (id >= 0 && (guint) id < vocab);
  }
  decode_both (tok, (const gint32 *) ids->data, (gint) ids->len);
  g_array_free (ids, TRUE);
  g_strfreev (words);
  return 0;
}
