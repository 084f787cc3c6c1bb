/* gst-vlm engine — the CLIP byte-level BPE tokenizer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * VLM_CLIP_CONTEXT_LENGTH:
 *
 * The context length of every published CLIP text tower: 77 tokens,
 * start-of-text and end-of-text included.
 */
#define VLM_CLIP_CONTEXT_LENGTH 77

/**
 * VLM_CLIP_N_MERGES:
 *
 * Number of BPE merges CLIP uses: 49152 − 256 − 2 = 48 894. The original
 * gzip vocabulary holds more; only the first ones count.
 */
#define VLM_CLIP_N_MERGES (49152 - 256 - 2)

/**
 * VlmClipTokenizer:
 *
 * An opaque CLIP tokenizer: the vocabulary, the BPE merge ranks, the split
 * pattern and a cache of recently encoded words. Immutable once loaded except
 * for the cache, which has its own lock, so one tokenizer may encode from
 * several threads at once.
 */
typedef struct _VlmClipTokenizer VlmClipTokenizer;

VlmClipTokenizer *vlm_clip_tokenizer_new_from_dir (const gchar *dir, GError **error);
VlmClipTokenizer *vlm_clip_tokenizer_new_from_bpe_gz (const gchar *path, GError **error);
void vlm_clip_tokenizer_free (VlmClipTokenizer *tok);

guint vlm_clip_tokenizer_get_vocab_size (const VlmClipTokenizer *tok);
gint32 vlm_clip_tokenizer_get_sot_id (const VlmClipTokenizer *tok);
gint32 vlm_clip_tokenizer_get_eot_id (const VlmClipTokenizer *tok);

gchar *vlm_clip_tokenizer_normalize_text (const gchar *text, GError **error);
GArray *vlm_clip_tokenizer_encode_tokens (VlmClipTokenizer *tok, const gchar *text,
                                          GError **error);
gboolean vlm_clip_tokenizer_encode (VlmClipTokenizer *tok, const gchar *text, gint context_len,
                                    gint32 pad_id, gint32 *ids_out, gint *eot_pos_out,
                                    gboolean *truncated_out, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VlmClipTokenizer, vlm_clip_tokenizer_free)

G_END_DECLS
