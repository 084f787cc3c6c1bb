/* gst-vlm engine — CLIP (Hugging Face CLIPModel layout): image and text towers.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "../vlm-ops.h"

G_BEGIN_DECLS

/**
 * VlmTransformerConfig:
 * @hidden: width of the residual stream
 * @intermediate: MLP width
 * @heads: attention heads
 * @layers: number of blocks
 * @act: MLP activation (`hidden_act`)
 * @eps: layer-norm epsilon
 *
 * Geometry of one CLIP tower's transformer.
 */
typedef struct {
  gint hidden;
  gint intermediate;
  gint heads;
  gint layers;
  VlmActivation act;
  gfloat eps;
} VlmTransformerConfig;

/**
 * VlmClipConfig:
 * @vision: the image tower's transformer
 * @image_size: input side in pixels
 * @patch_size: patch side in pixels
 * @text: the text tower's transformer
 * @vocab_size: token embedding rows
 * @max_positions: text context length
 * @eot_id: end-of-text token id (`eos_token_id`, 49407 in OpenAI's vocabulary)
 * @projection_dim: width of the shared embedding space
 * @image: preprocessing (format and frame size left for each frame)
 *
 * Everything the engine reads from config.json and preprocessor_config.json.
 */
typedef struct {
  VlmTransformerConfig vision;
  gint image_size;
  gint patch_size;
  VlmTransformerConfig text;
  gint vocab_size;
  gint max_positions;
  gint eot_id;
  gint projection_dim;
  VlmImageParams image;
} VlmClipConfig;

/**
 * VlmFrame:
 * @data: the frame's bytes
 * @size: byte length of @data
 * @params: layout (format, width, height, strides, plane offsets); the
 *   resize/crop/normalisation fields are ignored (the model's are used)
 *
 * One raw video frame or decoded image to encode.
 */
typedef struct {
  gconstpointer data;
  gsize size;
  VlmImageParams params;
} VlmFrame;

/**
 * VlmClipModel:
 *
 * A loaded CLIP model on one device. Encoding calls are serialised
 * internally, so one model can serve several threads.
 */
typedef struct _VlmClipModel VlmClipModel;

gboolean      vlm_clip_config_load        (const gchar *dir, VlmClipConfig *config,
                                           GError **error);

VlmClipModel *vlm_clip_model_load         (const gchar *dir, VlmDevice *device,
                                           VlmDType weights, GError **error);
void          vlm_clip_model_free         (VlmClipModel *model);
const VlmClipConfig *vlm_clip_model_get_config (VlmClipModel *model);
VlmDevice    *vlm_clip_model_get_device   (VlmClipModel *model);
gfloat        vlm_clip_model_logit_scale  (VlmClipModel *model);

gboolean      vlm_clip_encode_pixels      (VlmClipModel *model, const gfloat *pixels, gint n,
                                           gfloat *embeddings, GError **error);
gboolean      vlm_clip_encode_frames      (VlmClipModel *model, const VlmFrame *frames,
                                           gint n, gfloat *embeddings, GError **error);
gboolean      vlm_clip_encode_ids         (VlmClipModel *model, const gint32 *ids, gint n,
                                           gfloat *embeddings, GError **error);
gboolean      vlm_clip_encode_texts       (VlmClipModel *model, const gchar *const *texts, gint n,
                                           gfloat *embeddings, GError **error);

void          vlm_clip_scores             (VlmClipModel *model, const gfloat *image_embeddings,
                                           gint n_images, const gfloat *text_embeddings,
                                           gint n_texts, gfloat *logits, gfloat *probs);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VlmClipModel, vlm_clip_model_free)

G_END_DECLS
