/* gst-vlm engine — CLIP's transformer and vision tower, shared by CLIP and GIT.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <string.h>

#include "vlm-clip-encoder.h"

/* A linear layer's weight: int8 with row scales when the loader's matrix
 * dtype is i8, else in that dtype (*@scale NULL). */
static VlmTensor *
load_linear (VlmWeightLoader *wl, const gchar *name, gint64 rows, gint64 cols,
             VlmTensor **scale)
{
  *scale = NULL;
  if (wl->matrix_dtype != VLM_DTYPE_I8)
    return vlm_load_matrix (wl, name, rows, cols);
  if (wl->failed)
    return NULL;
  VlmTensor *t = vlm_safetensors_load_q8 (wl->st, name, wl->device, rows, cols, scale,
                                          wl->error);
  if (!t) {
    wl->failed = TRUE;
    return NULL;
  }
  g_ptr_array_add (wl->owned, t);
  g_ptr_array_add (wl->owned, *scale);
  return t;
}

/**
 * vlm_clip_dense_dtype:
 * @wl: a weight loader
 *
 * The dtype of matrices outside the blocks (patch embedding, projections):
 * the loader's matrix dtype, but with int8 blocks bf16 where the device
 * takes it (else f32) — they are few and int8 is only done for the blocks.
 *
 * Returns: the dtype.
 */
VlmDType
vlm_clip_dense_dtype (const VlmWeightLoader *wl)
{
  if (wl->matrix_dtype != VLM_DTYPE_I8)
    return wl->matrix_dtype;
  return vlm_op_matmul_supports_weights (wl->device, VLM_DTYPE_BF16) ? VLM_DTYPE_BF16
      : VLM_DTYPE_F32;
}

/**
 * vlm_clip_encoder_load:
 * @enc: (out caller-allocates): the encoder
 * @wl: the weight loader
 * @prefix: name prefix, e.g. "vision_model" or "git.image_encoder.vision_model"
 * @cfg: geometry
 *
 * Loads `PREFIX.encoder.layers.{i}.*` (CLIP names); with the loader's
 * matrix dtype i8 the six matrices of each block are quantized to int8
 * with a scale per row (vlm_safetensors_load_q8()).
 *
 * Returns: %TRUE on success; on failure the loader holds the error.
 */
gboolean
vlm_clip_encoder_load (VlmClipEncoder *enc, VlmWeightLoader *wl, const gchar *prefix,
                       const VlmTransformerConfig *cfg)
{
  gint64 D = cfg->hidden, I = cfg->intermediate;
  enc->cfg = *cfg;
  enc->blocks = g_new0 (VlmClipBlock, cfg->layers);
  for (gint i = 0; i < cfg->layers && !wl->failed; i++) {
    VlmClipBlock *b = &enc->blocks[i];
    struct {
      VlmTensor **t, **scale;      /* scale: matrices, int8 when the loader says so */
      const gchar *name;
      gint64 rows, cols;           /* cols 0: a vector of rows */
    } items[] = {
      { &b->ln1_w, NULL, "layer_norm1.weight", D, 0 },
      { &b->ln1_b, NULL, "layer_norm1.bias", D, 0 },
      { &b->ln2_w, NULL, "layer_norm2.weight", D, 0 },
      { &b->ln2_b, NULL, "layer_norm2.bias", D, 0 },
      { &b->q_w, &b->q_s, "self_attn.q_proj.weight", D, D },
      { &b->q_b, NULL, "self_attn.q_proj.bias", D, 0 },
      { &b->k_w, &b->k_s, "self_attn.k_proj.weight", D, D },
      { &b->k_b, NULL, "self_attn.k_proj.bias", D, 0 },
      { &b->v_w, &b->v_s, "self_attn.v_proj.weight", D, D },
      { &b->v_b, NULL, "self_attn.v_proj.bias", D, 0 },
      { &b->o_w, &b->o_s, "self_attn.out_proj.weight", D, D },
      { &b->o_b, NULL, "self_attn.out_proj.bias", D, 0 },
      { &b->fc1_w, &b->fc1_s, "mlp.fc1.weight", I, D },
      { &b->fc1_b, NULL, "mlp.fc1.bias", I, 0 },
      { &b->fc2_w, &b->fc2_s, "mlp.fc2.weight", D, I },
      { &b->fc2_b, NULL, "mlp.fc2.bias", D, 0 },
    };
    for (gsize k = 0; k < G_N_ELEMENTS (items); k++) {
      g_autofree gchar *name = g_strdup_printf ("%s.encoder.layers.%d.%s", prefix, i,
                                                items[k].name);
      *items[k].t = items[k].cols ? load_linear (wl, name, items[k].rows, items[k].cols,
                                                 items[k].scale)
          : vlm_load_vector (wl, name, items[k].rows);
    }
  }
  return !wl->failed;
}

/**
 * vlm_clip_encoder_clear:
 * @enc: an encoder
 *
 * Frees the block table (the tensors belong to the loader's owner).
 */
void
vlm_clip_encoder_clear (VlmClipEncoder *enc)
{
  g_clear_pointer (&enc->blocks, g_free);
}

/* A linear layer: int8 weights (with their row scales) or float ones. */
static gboolean
linear (VlmTensor *y, const VlmTensor *x, const VlmTensor *w, const VlmTensor *w_scale,
        const VlmTensor *bias, const VlmTensor *residual, VlmActivation act, GError **error)
{
  if (w_scale)
    return vlm_op_matmul_scaled (y, x, w, w_scale, bias, residual, act, error);
  return vlm_op_matmul (y, x, w, bias, residual, act, error);
}

/* Activations of one pass over [B, T, D]. */
typedef struct {
  VlmTensor *h, *q, *k, *v, *a, *mlp;
} BlockScratch;

static gboolean
block_scratch_init (BlockScratch *bs, const VlmTransformerConfig *c, VlmScratch *s, gint64 B,
                    gint64 T)
{
  gint64 D = c->hidden;
  bs->h = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  bs->q = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  bs->k = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  bs->v = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  bs->a = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  bs->mlp = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, c->intermediate));
  return bs->h && bs->q && bs->k && bs->v && bs->a && bs->mlp;
}

/* x += fc2(act(fc1(ln2(x)))) with @h and @mlp shaped like x. */
static gboolean
run_mlp (const VlmTransformerConfig *c, const VlmClipBlock *b, VlmTensor *x, VlmTensor *h,
         VlmTensor *mlp, GError **e)
{
  return vlm_op_layernorm (h, x, b->ln2_w, b->ln2_b, c->eps, e) &&
      linear (mlp, h, b->fc1_w, b->fc1_s, b->fc1_b, NULL, c->act, e) &&
      linear (x, mlp, b->fc2_w, b->fc2_s, b->fc2_b, x, VLM_ACT_NONE, e);
}

static gboolean
run_block (const VlmTransformerConfig *c, const VlmClipBlock *b, const BlockScratch *bs,
           VlmTensor *x, const VlmAttentionParams *ap, GError **e)
{
  return vlm_op_layernorm (bs->h, x, b->ln1_w, b->ln1_b, c->eps, e) &&
      linear (bs->q, bs->h, b->q_w, b->q_s, b->q_b, NULL, VLM_ACT_NONE, e) &&
      linear (bs->k, bs->h, b->k_w, b->k_s, b->k_b, NULL, VLM_ACT_NONE, e) &&
      linear (bs->v, bs->h, b->v_w, b->v_s, b->v_b, NULL, VLM_ACT_NONE, e) &&
      vlm_op_attention (bs->a, bs->q, bs->k, bs->v, ap, e) &&
      linear (x, bs->a, b->o_w, b->o_s, b->o_b, x, VLM_ACT_NONE, e) &&
      run_mlp (c, b, x, bs->h, bs->mlp, e);
}

/**
 * vlm_clip_encoder_run:
 * @enc: an encoder
 * @s: scratch for the pass
 * @x: F32 [B, T, D], transformed in place
 * @causal: causal self-attention (the text tower)
 *
 * Runs every block over @x.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_clip_encoder_run (const VlmClipEncoder *enc, VlmScratch *s, VlmTensor *x, gboolean causal)
{
  const VlmTransformerConfig *c = &enc->cfg;
  BlockScratch bs;
  if (!block_scratch_init (&bs, c, s, x->shape[0], x->shape[1]))
    return FALSE;
  VlmAttentionParams ap = { .n_heads = c->heads, .causal = causal };
  for (gint i = 0; i < c->layers; i++)
    if (!run_block (c, &enc->blocks[i], &bs, x, &ap, s->error))
      return FALSE;
  return TRUE;
}

/**
 * vlm_clip_encoder_run_pooled:
 * @enc: an encoder
 * @s: scratch for the pass
 * @x: F32 [B, T, D], the input; overwritten (it holds the states before
 *   the last block on return)
 * @causal: causal self-attention (the text tower)
 * @pos: (array): for each sequence of the batch, the one position whose
 *   output is wanted (CLIP pools one token: the class token of an image,
 *   the end-of-text token of a text)
 *
 * Runs every block, the last one only for the rows that are pooled: its
 * keys and values still come from every position, but its query, output
 * projection and MLP run on one row per sequence, which gives the same
 * numbers as the full pass for those rows. (A ViT-B/32 image: 50 rows, so
 * the last block's MLP and projections are 50 times cheaper.)
 *
 * Returns: (transfer none) (nullable): the pooled states [B, 1, D], owned
 *   by @s.
 */
VlmTensor *
vlm_clip_encoder_run_pooled (const VlmClipEncoder *enc, VlmScratch *s, VlmTensor *x,
                             gboolean causal, const gint32 *pos)
{
  const VlmTransformerConfig *c = &enc->cfg;
  gint64 B = x->shape[0], T = x->shape[1], D = c->hidden;
  GError **e = s->error;
  BlockScratch bs, one;
  if (!block_scratch_init (&bs, c, s, B, T) || !block_scratch_init (&one, c, s, B, 1))
    return NULL;
  VlmAttentionParams ap = { .n_heads = c->heads, .causal = causal };
  for (gint i = 0; i < c->layers - 1; i++)
    if (!run_block (c, &enc->blocks[i], &bs, x, &ap, e))
      return NULL;

  const VlmClipBlock *b = &enc->blocks[c->layers - 1];
  g_autofree gint32 *rows = g_new (gint32, B);
  for (gint64 i = 0; i < B; i++)
    rows[i] = (gint32) (i * T + pos[i]);
  VlmTensor *ids = vlm_scratch_new (s, VLM_DTYPE_I32, 1, SHAPE (B));
  VlmTensor *x_rows = vlm_scratch_view (s, x, 0, 2, SHAPE (B * T, D));
  VlmTensor *h_rows = vlm_scratch_view (s, bs.h, 0, 2, SHAPE (B * T, D));
  VlmTensor *y = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, 1, D));
  if (!ids || !x_rows || !h_rows || !y ||
      !vlm_tensor_upload (ids, rows, B * sizeof (gint32), e) ||
      !vlm_op_layernorm (bs.h, x, b->ln1_w, b->ln1_b, c->eps, e) ||
      !linear (bs.k, bs.h, b->k_w, b->k_s, b->k_b, NULL, VLM_ACT_NONE, e) ||
      !linear (bs.v, bs.h, b->v_w, b->v_s, b->v_b, NULL, VLM_ACT_NONE, e) ||
      !vlm_op_gather_rows (one.h, h_rows, ids, e) ||
      !vlm_op_gather_rows (y, x_rows, ids, e) ||
      !linear (one.q, one.h, b->q_w, b->q_s, b->q_b, NULL, VLM_ACT_NONE, e))
    return NULL;
  if (!causal) {
    if (!vlm_op_attention (one.a, one.q, bs.k, bs.v, &ap, e))
      return NULL;
  } else {
    /* The query at position p of a causal pass sees keys 0 … p: the same
     * as a full attention over the first p + 1 keys. */
    for (gint64 i = 0; i < B; i++) {
      VlmAttentionParams one_ap = { .n_heads = c->heads, .kv_len = pos[i] + 1 };
      VlmTensor *qi = vlm_scratch_view (s, one.q, i * D, 3, SHAPE (1, 1, D));
      VlmTensor *ai = vlm_scratch_view (s, one.a, i * D, 3, SHAPE (1, 1, D));
      VlmTensor *ki = vlm_scratch_view (s, bs.k, i * T * D, 3, SHAPE (1, T, D));
      VlmTensor *vi = vlm_scratch_view (s, bs.v, i * T * D, 3, SHAPE (1, T, D));
      if (!qi || !ai || !ki || !vi || !vlm_op_attention (ai, qi, ki, vi, &one_ap, e))
        return NULL;
    }
  }
  if (!linear (y, one.a, b->o_w, b->o_s, b->o_b, y, VLM_ACT_NONE, e) ||
      !run_mlp (c, b, y, one.h, one.mlp, e))
    return NULL;
  return y;
}

/**
 * vlm_vit_load:
 * @vit: (out caller-allocates): the vision tower
 * @wl: the weight loader
 * @prefix: e.g. "vision_model"
 * @cfg: transformer geometry
 * @image_size: input side
 * @patch_size: patch side
 *
 * Loads embeddings, pre_layrnorm (sic, as the files name it), blocks and
 * post_layernorm.
 *
 * Returns: %TRUE on success; on failure the loader holds the error.
 */
gboolean
vlm_vit_load (VlmVit *vit, VlmWeightLoader *wl, const gchar *prefix,
              const VlmTransformerConfig *cfg, gint image_size, gint patch_size)
{
  gint64 D = cfg->hidden, p = patch_size;
  vit->image_size = image_size;
  vit->patch_size = patch_size;
  gint64 T = vlm_vit_n_tokens (vit);
  g_autofree gchar *cls = g_strconcat (prefix, ".embeddings.class_embedding", NULL);
  g_autofree gchar *patch = g_strconcat (prefix, ".embeddings.patch_embedding.weight", NULL);
  g_autofree gchar *pos = g_strconcat (prefix, ".embeddings.position_embedding.weight", NULL);
  g_autofree gchar *pre_w = g_strconcat (prefix, ".pre_layrnorm.weight", NULL);
  g_autofree gchar *pre_b = g_strconcat (prefix, ".pre_layrnorm.bias", NULL);
  g_autofree gchar *post_w = g_strconcat (prefix, ".post_layernorm.weight", NULL);
  g_autofree gchar *post_b = g_strconcat (prefix, ".post_layernorm.bias", NULL);
  vit->class_emb = vlm_load_vector (wl, cls, D);
  vit->patch_w = vlm_load_as (wl, vlm_clip_dense_dtype (wl), patch, 4, SHAPE (D, 3, p, p));
  vit->pos = vlm_load_f32 (wl, pos, 2, SHAPE (T, D));
  vit->pre_ln_w = vlm_load_vector (wl, pre_w, D);
  vit->pre_ln_b = vlm_load_vector (wl, pre_b, D);
  vit->post_ln_w = vlm_load_vector (wl, post_w, D);
  vit->post_ln_b = vlm_load_vector (wl, post_b, D);
  return !wl->failed && vlm_clip_encoder_load (&vit->enc, wl, prefix, cfg);
}

/**
 * vlm_vit_n_tokens:
 * @vit: a vision tower
 *
 * Returns: tokens per image: patches + the class token.
 */
gint
vlm_vit_n_tokens (const VlmVit *vit)
{
  gint g = vit->image_size / vit->patch_size;
  return g * g + 1;
}

/* Patch embedding (one matmul over every patch of the batch), class token
 * and positions, pre_layrnorm: the input of the first block [B, T, D]. */
static VlmTensor *
vit_embed (const VlmVit *vit, VlmScratch *s, VlmTensor *pixels)
{
  gint64 B = pixels->shape[0], D = vit->enc.cfg.hidden, p = vit->patch_size;
  gint64 T = vlm_vit_n_tokens (vit), np = T - 1, inner = 3 * p * p;
  VlmTensor *patches = vlm_scratch_new (s, VLM_DTYPE_F32, 2, SHAPE (B * np, inner));
  VlmTensor *emb = vlm_scratch_new (s, VLM_DTYPE_F32, 2, SHAPE (B * np, D));
  VlmTensor *x = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *w = vlm_scratch_view (s, vit->patch_w, 0, 2, SHAPE (D, inner));
  VlmTensor *pos_rest = vlm_scratch_view (s, vit->pos, D, 2, SHAPE (np, D));
  VlmTensor *pos0 = vlm_scratch_view (s, vit->pos, 0, 1, SHAPE (D));
  VlmTensor *patches3 = vlm_scratch_view (s, patches, 0, 3, SHAPE (B, np, inner));
  if (!patches || !emb || !x || !w || !pos_rest || !pos0 || !patches3 ||
      !vlm_op_patchify (patches3, pixels, (gint) p, s->error) ||
      !vlm_op_matmul (emb, patches, w, NULL, NULL, VLM_ACT_NONE, s->error))
    return NULL;
  for (gint64 b = 0; b < B; b++) {
    VlmTensor *eb = vlm_scratch_view (s, emb, b * np * D, 2, SHAPE (np, D));
    VlmTensor *xb = vlm_scratch_view (s, x, b * T * D + D, 2, SHAPE (np, D));
    VlmTensor *cls = vlm_scratch_view (s, x, b * T * D, 1, SHAPE (D));
    if (!eb || !xb || !cls ||
        !vlm_op_binary (xb, eb, pos_rest, VLM_BINARY_ADD, s->error) ||
        !vlm_op_binary (cls, vit->class_emb, pos0, VLM_BINARY_ADD, s->error))
      return NULL;
  }
  if (!vlm_op_layernorm (x, x, vit->pre_ln_w, vit->pre_ln_b, vit->enc.cfg.eps, s->error))
    return NULL;
  return x;
}

/**
 * vlm_vit_forward:
 * @vit: a vision tower
 * @s: scratch for the pass
 * @pixels: F32 [B, 3, S, S] preprocessed images
 *
 * Patch embedding (patchify + one matmul for the batch, positions 1…
 * added), class token + position 0, pre_layrnorm, every block. The
 * post_layernorm is left to the caller (CLIP applies it to token 0, GIT to
 * every token).
 *
 * Returns: (transfer none) (nullable): hidden states [B, T, D], owned by @s.
 */
VlmTensor *
vlm_vit_forward (const VlmVit *vit, VlmScratch *s, VlmTensor *pixels)
{
  VlmTensor *x = vit_embed (vit, s, pixels);
  if (!x || !vlm_clip_encoder_run (&vit->enc, s, x, FALSE))
    return NULL;
  return x;
}

/**
 * vlm_vit_forward_class:
 * @vit: a vision tower
 * @s: scratch for the pass
 * @pixels: F32 [B, 3, S, S] preprocessed images
 *
 * As vlm_vit_forward(), for callers that only use the class token: the
 * last block runs on that row alone (see vlm_clip_encoder_run_pooled()).
 *
 * Returns: (transfer none) (nullable): the class token's states [B, 1, D],
 *   owned by @s.
 */
VlmTensor *
vlm_vit_forward_class (const VlmVit *vit, VlmScratch *s, VlmTensor *pixels)
{
  VlmTensor *x = vit_embed (vit, s, pixels);
  if (!x)
    return NULL;
  g_autofree gint32 *pos = g_new0 (gint32, pixels->shape[0]);
  return vlm_clip_encoder_run_pooled (&vit->enc, s, x, FALSE, pos);
}

/**
 * vlm_vit_preprocess:
 * @s: scratch for the pass
 * @frames: (array length=n): raw frames
 * @n: number of frames
 * @model_params: the model's resize, crop and normalisation
 *
 * Preprocesses frames on the device into one batch.
 *
 * Returns: (transfer none) (nullable): pixels [n, 3, crop, crop], owned by @s.
 */
VlmTensor *
vlm_vit_preprocess (VlmScratch *s, const VlmFrame *frames, gint n,
                    const VlmImageParams *model_params)
{
  gint64 S = model_params->crop;
  VlmTensor *px = vlm_scratch_new (s, VLM_DTYPE_F32, 4, SHAPE (n, 3, S, S));
  if (!px)
    return NULL;
  for (gint i = 0; i < n; i++) {
    VlmImageParams p = *model_params;
    p.format = frames[i].params.format;
    p.width = frames[i].params.width;
    p.height = frames[i].params.height;
    memcpy (p.stride, frames[i].params.stride, sizeof p.stride);
    memcpy (p.plane_offset, frames[i].params.plane_offset, sizeof p.plane_offset);
    if (!frames[i].data || frames[i].size == 0) {
      g_set_error (s->error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "frame %d is empty", i);
      return NULL;
    }
    /* The CPU backend reads the caller's bytes in place: the work is done
     * before the caller gets control back, so no copy is needed. */
    VlmTensor *src = vlm_scratch_take (s, vlm_tensor_new_from_data (
        s->device, VLM_DTYPE_U8, 1, SHAPE ((gint64) frames[i].size), frames[i].data, NULL, NULL,
        s->error));
    VlmTensor *slot = vlm_scratch_view (s, px, (gsize) i * 3 * S * S, 3, SHAPE (3, S, S));
    if (!src || !slot || !vlm_op_preprocess (slot, src, &p, s->error))
      return NULL;
  }
  return px;
}

static gboolean
read_activation (const VlmJsonFile *f, JsonObject *o, const gchar *fallback, VlmActivation *act,
                 GError **error)
{
  const gchar *name;
  if (!vlm_json_string (f, o, "hidden_act", fallback, &name, error))
    return FALSE;
  if (strcmp (name, "quick_gelu") == 0)
    *act = VLM_ACT_QUICK_GELU;
  else if (strcmp (name, "gelu") == 0)
    *act = VLM_ACT_GELU_ERF;
  else if (strcmp (name, "gelu_new") == 0 || strcmp (name, "gelu_pytorch_tanh") == 0)
    *act = VLM_ACT_GELU_TANH;
  else {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "%s: hidden_act \"%s\" is not supported (quick_gelu, gelu, gelu_new, "
                 "gelu_pytorch_tanh are)", f->path, name);
    return FALSE;
  }
  return TRUE;
}

/**
 * vlm_transformer_config_read:
 * @f: the config file, for messages
 * @o: the object holding hidden_size, intermediate_size, …
 * @hidden: default hidden_size
 * @intermediate: default intermediate_size
 * @heads: default num_attention_heads
 * @layers: default num_hidden_layers
 * @default_act: default hidden_act
 * @default_eps: default layer_norm_eps
 * @c: (out caller-allocates): the geometry
 * @error: return location for a #GError
 *
 * Reads one transformer's geometry; absent keys take the given defaults
 * (the Hugging Face class defaults).
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_transformer_config_read (const VlmJsonFile *f, JsonObject *o, gint64 hidden,
                             gint64 intermediate, gint64 heads, gint64 layers,
                             const gchar *default_act, gdouble default_eps,
                             VlmTransformerConfig *c, GError **error)
{
  gint64 h, i, nh, nl;
  gdouble eps;
  if (!vlm_json_int (f, o, "hidden_size", 1, 65536, hidden, &h, error) ||
      !vlm_json_int (f, o, "intermediate_size", 1, 262144, intermediate, &i, error) ||
      !vlm_json_int (f, o, "num_attention_heads", 1, 1024, heads, &nh, error) ||
      !vlm_json_int (f, o, "num_hidden_layers", 1, 1024, layers, &nl, error) ||
      !vlm_json_double (f, o, "layer_norm_eps", default_eps, &eps, error) ||
      !read_activation (f, o, default_act, &c->act, error))
    return FALSE;
  if (h % nh != 0) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                 "%s: hidden_size %" G_GINT64_FORMAT " is not a multiple of num_attention_heads %"
                 G_GINT64_FORMAT, f->path, h, nh);
    return FALSE;
  }
  if (eps < 0 || eps > 1) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: layer_norm_eps %g is outside 0..1",
                 f->path, eps);
    return FALSE;
  }
  c->hidden = (gint) h;
  c->intermediate = (gint) i;
  c->heads = (gint) nh;
  c->layers = (gint) nl;
  c->eps = (gfloat) eps;
  return TRUE;
}

/* "size": 224 | {"shortest_edge": 224} | {"height": 224, "width": 224} */
static gboolean
read_size (const VlmJsonFile *f, const gchar *key, const gchar *inner, gint64 fallback,
           gint *out, GError **error)
{
  JsonNode *n = json_object_get_member (f->root, key);
  gint64 v = fallback;
  if (n && JSON_NODE_HOLDS_OBJECT (n)) {
    JsonObject *o = json_node_get_object (n);
    const gchar *k = json_object_has_member (o, inner) ? inner : "height";
    if (!vlm_json_int (f, o, k, 1, 4096, fallback, &v, error))
      return FALSE;
  } else if (!vlm_json_int (f, f->root, key, 1, 4096, fallback, &v, error)) {
    return FALSE;
  }
  *out = (gint) v;
  return TRUE;
}

/**
 * vlm_image_config_load:
 * @dir: a model folder
 * @image_size: the vision tower's input side
 * @p: (out caller-allocates): resize, crop, mean, std and filter (the
 *   frame fields are zeroed)
 * @error: return location for a #GError
 *
 * Reads preprocessor_config.json (a CLIPImageProcessor). The file is
 * optional: without it CLIP's standard values are used.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_image_config_load (const gchar *dir, gint image_size, VlmImageParams *p, GError **error)
{
  static const gdouble mean[3] = { 0.48145466, 0.4578275, 0.40821073 };
  static const gdouble std[3] = { 0.26862954, 0.26130258, 0.27577711 };
  g_autofree gchar *path = g_build_filename (dir, "preprocessor_config.json", NULL);
  gdouble m[3], sd[3];
  memset (p, 0, sizeof *p);
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    memcpy (m, mean, sizeof m);
    memcpy (sd, std, sizeof sd);
    p->resize_short = p->crop = image_size;
    p->resample = VLM_RESAMPLE_BICUBIC;
  } else {
    VlmJsonFile f;
    gint64 resample;
    if (!vlm_json_file_load (&f, path, error))
      return FALSE;
    gboolean ok = read_size (&f, "size", "shortest_edge", image_size, &p->resize_short, error)
        && read_size (&f, "crop_size", "height", image_size, &p->crop, error)
        && vlm_json_doubles (&f, f.root, "image_mean", 3, mean, m, error)
        && vlm_json_doubles (&f, f.root, "image_std", 3, std, sd, error)
        && vlm_json_int (&f, f.root, "resample", 0, 5, 3, &resample, error);
    if (ok && (p->crop != image_size || p->resize_short < p->crop)) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                   "%s: crop %d and resize %d do not give the model's %d-pixel input", path,
                   p->crop, p->resize_short, image_size);
      ok = FALSE;
    }
    vlm_json_file_clear (&f);
    if (!ok)
      return FALSE;
    /* PIL codes: 2 bilinear, 3 bicubic; the others (nearest, lanczos …)
     * fall back to bicubic, the closest filter we have. */
    p->resample = resample == 2 ? VLM_RESAMPLE_BILINEAR : VLM_RESAMPLE_BICUBIC;
  }
  for (gint i = 0; i < 3; i++) {
    /* In float range: a std that rounds to 0 or to infinity, or an
     * infinite mean, would make every pixel NaN or infinite. */
    if (!(sd[i] >= 1e-30 && sd[i] <= 1e30)) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: image_std %g is not in 1e-30..1e30",
                   path, sd[i]);
      return FALSE;
    }
    if (!(fabs (m[i]) <= 1e30)) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: image_mean %g is not in "
                   "-1e30..1e30", path, m[i]);
      return FALSE;
    }
    p->mean[i] = (gfloat) m[i];
    p->std[i] = (gfloat) sd[i];
  }
  return TRUE;
}
