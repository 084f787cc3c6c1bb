/* gst-vlm engine — CLIP's transformer and vision tower, shared by CLIP and GIT.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Private to engine/models/. GIT's image encoder is a CLIP vision tower
 * under another prefix, so both models build on these pieces.
 */
#pragma once

#include "vlm-clip.h"
#include "vlm-graph.h"
#include "../loaders/vlm-json.h"

G_BEGIN_DECLS

/* One pre-LN block: x += out(attn(ln1(x))); x += fc2(act(fc1(ln2(x)))). */
typedef struct {
  VlmTensor *ln1_w, *ln1_b, *ln2_w, *ln2_b;
  VlmTensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
  VlmTensor *fc1_w, *fc1_b, *fc2_w, *fc2_b;
  /* Row scales of int8 matrices (vlm_op_matmul_scaled()), else NULL. */
  VlmTensor *q_s, *k_s, *v_s, *o_s, *fc1_s, *fc2_s;
} VlmClipBlock;

typedef struct {
  VlmTransformerConfig cfg;
  VlmClipBlock *blocks;
} VlmClipEncoder;

gboolean vlm_clip_encoder_load  (VlmClipEncoder *enc, VlmWeightLoader *wl, const gchar *prefix,
                                 const VlmTransformerConfig *cfg);
gboolean vlm_clip_encoder_run   (const VlmClipEncoder *enc, VlmScratch *s, VlmTensor *x,
                                 gboolean causal);
VlmTensor *vlm_clip_encoder_run_pooled (const VlmClipEncoder *enc, VlmScratch *s, VlmTensor *x,
                                        gboolean causal, const gint32 *pos);
void     vlm_clip_encoder_clear (VlmClipEncoder *enc);
VlmDType vlm_clip_dense_dtype   (const VlmWeightLoader *wl);

/* The vision tower up to the last block (no post-LN, no pooling). */
typedef struct {
  VlmClipEncoder enc;
  gint image_size;
  gint patch_size;
  VlmTensor *class_emb, *patch_w, *pos, *pre_ln_w, *pre_ln_b, *post_ln_w, *post_ln_b;
} VlmVit;

gboolean   vlm_vit_load       (VlmVit *vit, VlmWeightLoader *wl, const gchar *prefix,
                               const VlmTransformerConfig *cfg, gint image_size, gint patch_size);
gint       vlm_vit_n_tokens   (const VlmVit *vit);
VlmTensor *vlm_vit_forward    (const VlmVit *vit, VlmScratch *s, VlmTensor *pixels);
VlmTensor *vlm_vit_forward_class (const VlmVit *vit, VlmScratch *s, VlmTensor *pixels);
VlmTensor *vlm_vit_preprocess (VlmScratch *s, const VlmFrame *frames, gint n,
                               const VlmImageParams *model_params);

/* config.json pieces. */
gboolean vlm_transformer_config_read (const VlmJsonFile *f, JsonObject *o, gint64 hidden,
                                      gint64 intermediate, gint64 heads, gint64 layers,
                                      const gchar *default_act, gdouble default_eps,
                                      VlmTransformerConfig *c, GError **error);
gboolean vlm_image_config_load       (const gchar *dir, gint image_size, VlmImageParams *p,
                                      GError **error);

G_END_DECLS
