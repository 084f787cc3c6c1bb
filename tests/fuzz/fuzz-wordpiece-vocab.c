/* gst-vlm — libFuzzer target: loading the WordPiece tokenizer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: vocab.txt [FUZZ_SEPARATOR tokenizer_config.json
 * [FUZZ_SEPARATOR special_tokens_map.json [FUZZ_SEPARATOR text]]]; an
 * empty config part means the file is absent. A tokenizer that loads must
 * have its special tokens inside the vocabulary, map ids and tokens both
 * ways, and encode the text (or a fixed sentence) into ids that decode to
 * UTF-8; a refusal must name the file.
 */
#include "fuzz-util.h"
#include "text/vlm-wordpiece.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

static void
check_tokenizer (VlmWordpiece *tok, const gchar *text)
{
  guint n = vlm_wordpiece_get_vocab_size (tok);
  g_assert_cmpuint (n, >=, 1);
  gint32 special[] = {
    vlm_wordpiece_get_cls_id (tok), vlm_wordpiece_get_sep_id (tok),
    vlm_wordpiece_get_pad_id (tok), vlm_wordpiece_get_unk_id (tok),
  };
  for (guint i = 0; i < G_N_ELEMENTS (special); i++)
    g_assert_true (special[i] >= 0 && (guint) special[i] < n);
  gint32 mask = vlm_wordpiece_get_mask_id (tok);
  g_assert_true (mask >= -1 && mask < (gint32) n);
  for (guint id = 0; id < MIN (n, 64); id++) {
    const gchar *t = vlm_wordpiece_id_to_token (tok, (gint32) id);
    g_assert_nonnull (t);
    gint32 back = vlm_wordpiece_token_to_id (tok, t);
    g_assert_true (back >= 0 && (guint) back < n);
    g_assert_cmpstr (vlm_wordpiece_id_to_token (tok, back), ==, t);
  }
  g_assert_null (vlm_wordpiece_id_to_token (tok, (gint32) n));
  g_assert_null (vlm_wordpiece_id_to_token (tok, -1));

  GArray *ids = NULL;
  GError *error = NULL;
  if (!vlm_wordpiece_encode (tok, text, &ids, &error)) {
    g_assert_false (g_utf8_validate (text, -1, NULL));
    g_error_free (error);
    return;
  }
  for (guint i = 0; i < ids->len; i++) {
    gint32 id = g_array_index (ids, gint32, i);
    g_assert_true (id >= 0 && (guint) id < n);
  }
  for (gint skip = 0; skip < 2; skip++) {
    g_autofree gchar *back = vlm_wordpiece_decode (tok, (const gint32 *) ids->data,
                                                   (gint) ids->len, skip);
    g_assert_true (g_utf8_validate (back, -1, NULL));
  }
  g_array_free (ids, TRUE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *parts[4];
  gsize lens[4];
  fuzz_split (data, size, 4, parts, lens);
  g_autofree gchar *vocab = fuzz_file ("vocab.txt", parts[0], lens[0]);
  g_free (fuzz_file ("tokenizer_config.json", lens[1] ? parts[1] : NULL, lens[1]));
  g_free (fuzz_file ("special_tokens_map.json", lens[2] ? parts[2] : NULL, lens[2]));
  const gchar *dir = fuzz_folder ();
  GError *error = NULL;
  VlmWordpiece *tok = vlm_wordpiece_new_from_dir (dir, &error);
  if (!tok) {
    fuzz_check_refusal (error, dir);
    g_clear_error (&error);
  } else {
    g_autofree gchar *text = parts[3] ? fuzz_string (parts[3], lens[3])
        : g_strdup ("A [MASK] photo of Two DOGS, naïve café 東京 don't [SEP]");
    check_tokenizer (tok, text);
    vlm_wordpiece_free (tok);
  }

  /* The same vocab.txt without any configuration file. */
  tok = vlm_wordpiece_new_from_file (vocab, &error);
  if (!tok) {
    fuzz_check_refusal (error, vocab);
    g_error_free (error);
    return 0;
  }
  check_tokenizer (tok, "Hello, WORLD! [CLS] x##y");
  vlm_wordpiece_free (tok);
  return 0;
}
