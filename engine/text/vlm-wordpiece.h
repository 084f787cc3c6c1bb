/* gst-vlm engine — the BERT WordPiece tokenizer (GIT's text side).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * VLM_WORDPIECE_MAX_WORD_CHARS:
 *
 * A word (after basic tokenization) of more characters than this becomes
 * one [UNK], as in BERT's `max_input_chars_per_word`.
 */
#define VLM_WORDPIECE_MAX_WORD_CHARS 100

/**
 * VlmWordpiece:
 *
 * An opaque BERT WordPiece tokenizer: the vocabulary (vocab.txt), the ids of
 * the special tokens and the options of tokenizer_config.json. Immutable
 * once loaded, so one tokenizer may encode and decode from several threads
 * at once.
 */
typedef struct _VlmWordpiece VlmWordpiece;

VlmWordpiece *vlm_wordpiece_new_from_dir (const gchar *dir, GError **error);
VlmWordpiece *vlm_wordpiece_new_from_file (const gchar *vocab_path, GError **error);
void vlm_wordpiece_free (VlmWordpiece *tok);

guint vlm_wordpiece_get_vocab_size (const VlmWordpiece *tok);
gint32 vlm_wordpiece_get_cls_id (const VlmWordpiece *tok);
gint32 vlm_wordpiece_get_sep_id (const VlmWordpiece *tok);
gint32 vlm_wordpiece_get_pad_id (const VlmWordpiece *tok);
gint32 vlm_wordpiece_get_unk_id (const VlmWordpiece *tok);
gint32 vlm_wordpiece_get_mask_id (const VlmWordpiece *tok);
gboolean vlm_wordpiece_get_do_lower_case (const VlmWordpiece *tok);

const gchar *vlm_wordpiece_id_to_token (const VlmWordpiece *tok, gint32 id);
gint32 vlm_wordpiece_token_to_id (const VlmWordpiece *tok, const gchar *token);

GStrv vlm_wordpiece_basic_tokenize (const VlmWordpiece *tok, const gchar *text, GError **error);
gboolean vlm_wordpiece_encode (const VlmWordpiece *tok, const gchar *text, GArray **ids_out,
                               GError **error);
gchar *vlm_wordpiece_decode (const VlmWordpiece *tok, const gint32 *ids, gint n,
                             gboolean skip_special);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VlmWordpiece, vlm_wordpiece_free)

G_END_DECLS
