/* gst-vlm engine — GIT (Hugging Face GitForCausalLM): captions and VQA.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "vlm-clip.h"

G_BEGIN_DECLS

/**
 * VlmGitConfig:
 * @vision: the CLIP image encoder's transformer
 * @image_size: input side in pixels
 * @patch_size: patch side in pixels
 * @decoder: the text decoder (BERT-style post-LN layers)
 * @vocab_size: word embedding rows and LM-head outputs
 * @max_positions: text position embeddings
 * @bos_id: the token generation starts from ([CLS], 101 in BERT's vocabulary)
 * @eos_id: the token that ends a sequence ([SEP], 102)
 * @pad_id: padding ([PAD], 0)
 * @tied_head: the LM head reuses the word embeddings (no `output.weight`)
 * @temporal_embedding: the model adds `git.img_temperal_embedding.0` to the
 *   image tokens (video variants, `num_image_with_embedding` set)
 * @image: preprocessing (format and frame size left for each frame)
 *
 * Everything the engine reads from a GIT folder's config.json and
 * preprocessor_config.json.
 */
typedef struct {
  VlmTransformerConfig vision;
  gint image_size;
  gint patch_size;
  VlmTransformerConfig decoder;
  gint vocab_size;
  gint max_positions;
  gint bos_id;
  gint eos_id;
  gint pad_id;
  gboolean tied_head;
  gboolean temporal_embedding;
  VlmImageParams image;
} VlmGitConfig;

/**
 * VlmGitParams:
 * @num_beams: 1 for greedy decoding, more for beam search
 * @max_tokens: most tokens generated after the prefix (the end token counts)
 * @length_penalty: beam scores are sum(log p) / length^length_penalty
 *
 * Decoding options; see vlm_git_generate() for the exact rules.
 */
typedef struct {
  gint num_beams;
  gint max_tokens;
  gfloat length_penalty;
} VlmGitParams;

/**
 * VlmGitOutput:
 * @ids: the generated token ids, without the prefix and without the end token
 * @sum_logprob: sum of the log-probabilities of the generated tokens
 *   (including the end token when one was generated)
 * @n_scored: how many tokens @sum_logprob covers
 * @score: the ranking score, sum_logprob / n_scored^length_penalty
 * @truncated: %TRUE when max_tokens ran out before an end token
 *
 * One decoded sequence. Free @ids with g_array_unref().
 */
typedef struct {
  GArray *ids;
  gdouble sum_logprob;
  gint n_scored;
  gdouble score;
  gboolean truncated;
} VlmGitOutput;

/**
 * VlmGitModel:
 *
 * A loaded GIT model on one device; calls are serialised internally.
 */
typedef struct _VlmGitModel VlmGitModel;

/**
 * VlmGitImage:
 *
 * An image encoded once (projected image tokens on the device), reusable
 * for any number of captions and questions.
 */
typedef struct _VlmGitImage VlmGitImage;

gboolean      vlm_git_config_load        (const gchar *dir, VlmGitConfig *config,
                                          GError **error);
VlmGitModel  *vlm_git_model_load         (const gchar *dir, VlmDevice *device, VlmDType weights,
                                          GError **error);
void          vlm_git_model_free         (VlmGitModel *model);
const VlmGitConfig *vlm_git_model_get_config (VlmGitModel *model);
VlmDevice    *vlm_git_model_get_device   (VlmGitModel *model);

VlmGitImage  *vlm_git_encode_frame       (VlmGitModel *model, const VlmFrame *frame,
                                          GError **error);
VlmGitImage  *vlm_git_encode_pixels      (VlmGitModel *model, const gfloat *pixels,
                                          GError **error);
void          vlm_git_image_free         (VlmGitImage *image);

gboolean      vlm_git_logits             (VlmGitModel *model, VlmGitImage *image,
                                          const gint32 *ids, gint n_ids, gfloat *logits,
                                          GError **error);
gboolean      vlm_git_generate           (VlmGitModel *model, VlmGitImage *image,
                                          const gint32 *prefix, gint n_prefix,
                                          const VlmGitParams *params, VlmGitOutput *output,
                                          GError **error);
void          vlm_git_output_clear       (VlmGitOutput *output);

gchar        *vlm_git_caption            (VlmGitModel *model, VlmGitImage *image,
                                          const VlmGitParams *params, VlmGitOutput *output,
                                          GError **error);
gchar        *vlm_git_answer             (VlmGitModel *model, VlmGitImage *image,
                                          const gchar *question, const VlmGitParams *params,
                                          VlmGitOutput *output, gboolean *question_truncated,
                                          GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VlmGitModel, vlm_git_model_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VlmGitImage, vlm_git_image_free)

G_END_DECLS
