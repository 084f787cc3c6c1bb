/* gst-vlm — libFuzzer target: loading the CLIP BPE tokenizer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: vocab.json FUZZ_SEPARATOR merges.txt [FUZZ_SEPARATOR text]; a
 * missing merges.txt is absent from the folder. An input that starts with
 * the gzip magic (1f 8b) is instead OpenAI's bpe_simple_vocab_16e6.txt.gz
 * and goes to vlm_clip_tokenizer_new_from_bpe_gz(). A tokenizer that loads
 * must encode the text (or a fixed sentence) into ids inside its
 * vocabulary; a refusal must name the file.
 */
#include "fuzz-util.h"
#include "text/vlm-clip-tokenizer.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

static void
check_encode (VlmClipTokenizer *tok, const gchar *text)
{
  guint vocab = vlm_clip_tokenizer_get_vocab_size (tok);
  gint32 sot = vlm_clip_tokenizer_get_sot_id (tok), eot = vlm_clip_tokenizer_get_eot_id (tok);
  g_assert_true (sot >= 0 && (guint) sot < vocab);
  g_assert_true (eot >= 0 && (guint) eot < vocab);
  gint32 ids[VLM_CLIP_CONTEXT_LENGTH];
  gint eot_pos = -1;
  gboolean truncated;
  GError *error = NULL;
  if (!vlm_clip_tokenizer_encode (tok, text, VLM_CLIP_CONTEXT_LENGTH, 0, ids, &eot_pos,
                                  &truncated, &error)) {
    g_assert_true (!g_utf8_validate (text, -1, NULL));
    g_error_free (error);
    return;
  }
  g_assert_cmpint (ids[0], ==, sot);
  g_assert_true (eot_pos >= 1 && eot_pos < VLM_CLIP_CONTEXT_LENGTH);
  g_assert_cmpint (ids[eot_pos], ==, eot);
  for (gint i = 0; i < VLM_CLIP_CONTEXT_LENGTH; i++)
    g_assert_true (ids[i] >= 0 && (guint) ids[i] < vocab);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    g_autofree gchar *gz = fuzz_file ("bpe.txt.gz", data, size);
    VlmClipTokenizer *tok = vlm_clip_tokenizer_new_from_bpe_gz (gz, &error);
    if (!tok) {
      fuzz_check_refusal (error, gz);
      g_error_free (error);
      return 0;
    }
    check_encode (tok, "A photo of a cat, 3 dogs &amp; <|endoftext|> more.");
    vlm_clip_tokenizer_free (tok);
    return 0;
  }

  const uint8_t *parts[3];
  gsize lens[3];
  fuzz_split (data, size, 3, parts, lens);
  g_free (fuzz_file ("vocab.json", parts[0], lens[0]));
  g_free (fuzz_file ("merges.txt", parts[1], lens[1]));
  const gchar *dir = fuzz_folder ();
  VlmClipTokenizer *tok = vlm_clip_tokenizer_new_from_dir (dir, &error);
  if (!tok) {
    fuzz_check_refusal (error, dir);
    g_error_free (error);
    return 0;
  }
  g_assert_cmpuint (vlm_clip_tokenizer_get_vocab_size (tok), >=, 514);
  g_autofree gchar *text = parts[2] ? fuzz_string (parts[2], lens[2])
      : g_strdup ("A photo of a cat, 3 dogs &amp; <|endoftext|> more.");
  check_encode (tok, text);
  check_encode (tok, text);         /* through the word cache */
  vlm_clip_tokenizer_free (tok);
  return 0;
}
