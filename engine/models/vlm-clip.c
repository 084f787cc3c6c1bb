/* gst-vlm engine — CLIP image and text towers on the op API.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Vision: patchify → patch matmul (+ positions 1…N as the residual) →
 *   class token + position 0 → pre_layrnorm → blocks → token 0 →
 *   post_layernorm → visual_projection.
 * Text: token + position embeddings → causal blocks → the first eot of each
 *   sequence → final_layer_norm → text_projection. Only positions up to the
 *   longest eot in the batch are computed: the causal mask makes later
 *   positions irrelevant to the pooled output.
 * Blocks are pre-LN: x += out(attn(ln1(x))); x += fc2(act(fc1(ln2(x)))).
 * Outputs are L2-normalised on the host.
 */
#include <math.h>
#include <string.h>

#include "vlm-clip.h"
#include "../loaders/vlm-safetensors.h"
#include "../text/vlm-clip-tokenizer.h"

typedef struct {
  VlmTensor *ln1_w, *ln1_b, *ln2_w, *ln2_b;
  VlmTensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
  VlmTensor *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} Block;

typedef struct {
  const VlmTransformerConfig *cfg;
  Block *blocks;
} Tower;

struct _VlmClipModel {
  VlmClipConfig config;
  VlmDevice *device;
  GMutex lock;
  gfloat logit_scale;
  VlmClipTokenizer *tokenizer;     /* NULL when the folder has no tokenizer files */
  /* vision */
  Tower vision;
  VlmTensor *class_emb, *patch_w, *vis_pos, *pre_ln_w, *pre_ln_b, *post_ln_w, *post_ln_b;
  VlmTensor *vis_proj;
  /* text */
  Tower text;
  VlmTensor *tok_emb, *txt_pos, *final_ln_w, *final_ln_b, *txt_proj;
  GPtrArray *tensors;              /* every weight, for freeing */
};

typedef struct {
  VlmClipModel *m;
  VlmSafetensors *st;
  VlmDType wtype;                  /* matmul weights */
  GError **error;
  gboolean failed;
} Loader;

#define SHAPE(...) ((const gint64[]) { __VA_ARGS__ })

static VlmTensor *
load (Loader *l, VlmDType dtype, const gchar *name, gint ndim, const gint64 *shape)
{
  if (l->failed)
    return NULL;
  VlmTensor *t = vlm_safetensors_load (l->st, name, l->m->device, dtype, ndim, shape, l->error);
  if (!t) {
    l->failed = TRUE;
    return NULL;
  }
  g_ptr_array_add (l->m->tensors, t);
  return t;
}

static VlmTensor *
load_f32 (Loader *l, const gchar *name, gint ndim, const gint64 *shape)
{
  return load (l, VLM_DTYPE_F32, name, ndim, shape);
}

static gboolean
load_tower (Loader *l, Tower *tower, const gchar *prefix, const VlmTransformerConfig *c)
{
  gint64 D = c->hidden, I = c->intermediate;
  tower->cfg = c;
  tower->blocks = g_new0 (Block, c->layers);
  for (gint i = 0; i < c->layers && !l->failed; i++) {
    Block *b = &tower->blocks[i];
    g_autofree gchar *p = g_strdup_printf ("%s.encoder.layers.%d.", prefix, i);
#define N(suffix) g_strconcat (p, suffix, NULL)
    struct { VlmTensor **t; const gchar *name; gboolean matrix; gint64 rows, cols; } items[] = {
      { &b->ln1_w, "layer_norm1.weight", FALSE, D, 0 }, { &b->ln1_b, "layer_norm1.bias", FALSE, D, 0 },
      { &b->ln2_w, "layer_norm2.weight", FALSE, D, 0 }, { &b->ln2_b, "layer_norm2.bias", FALSE, D, 0 },
      { &b->q_w, "self_attn.q_proj.weight", TRUE, D, D }, { &b->q_b, "self_attn.q_proj.bias", FALSE, D, 0 },
      { &b->k_w, "self_attn.k_proj.weight", TRUE, D, D }, { &b->k_b, "self_attn.k_proj.bias", FALSE, D, 0 },
      { &b->v_w, "self_attn.v_proj.weight", TRUE, D, D }, { &b->v_b, "self_attn.v_proj.bias", FALSE, D, 0 },
      { &b->o_w, "self_attn.out_proj.weight", TRUE, D, D },
      { &b->o_b, "self_attn.out_proj.bias", FALSE, D, 0 },
      { &b->fc1_w, "mlp.fc1.weight", TRUE, I, D }, { &b->fc1_b, "mlp.fc1.bias", FALSE, I, 0 },
      { &b->fc2_w, "mlp.fc2.weight", TRUE, D, I }, { &b->fc2_b, "mlp.fc2.bias", FALSE, D, 0 },
    };
    for (gsize k = 0; k < G_N_ELEMENTS (items); k++) {
      g_autofree gchar *name = N (items[k].name);
      *items[k].t = items[k].matrix
          ? load (l, l->wtype, name, 2, SHAPE (items[k].rows, items[k].cols))
          : load_f32 (l, name, 1, SHAPE (items[k].rows));
    }
#undef N
  }
  return !l->failed;
}

static gboolean
load_weights (Loader *l)
{
  VlmClipModel *m = l->m;
  const VlmClipConfig *c = &m->config;
  gint64 Dv = c->vision.hidden, Dt = c->text.hidden, P = c->projection_dim;
  gint64 patch = c->patch_size, npos = (c->image_size / patch) * (c->image_size / patch) + 1;

  m->class_emb = load_f32 (l, "vision_model.embeddings.class_embedding", 1, SHAPE (Dv));
  m->patch_w = load (l, l->wtype, "vision_model.embeddings.patch_embedding.weight", 4,
                     SHAPE (Dv, 3, patch, patch));
  m->vis_pos = load_f32 (l, "vision_model.embeddings.position_embedding.weight", 2,
                         SHAPE (npos, Dv));
  m->pre_ln_w = load_f32 (l, "vision_model.pre_layrnorm.weight", 1, SHAPE (Dv));
  m->pre_ln_b = load_f32 (l, "vision_model.pre_layrnorm.bias", 1, SHAPE (Dv));
  m->post_ln_w = load_f32 (l, "vision_model.post_layernorm.weight", 1, SHAPE (Dv));
  m->post_ln_b = load_f32 (l, "vision_model.post_layernorm.bias", 1, SHAPE (Dv));
  m->vis_proj = load (l, l->wtype, "visual_projection.weight", 2, SHAPE (P, Dv));
  m->tok_emb = load_f32 (l, "text_model.embeddings.token_embedding.weight", 2,
                         SHAPE (c->vocab_size, Dt));
  m->txt_pos = load_f32 (l, "text_model.embeddings.position_embedding.weight", 2,
                         SHAPE (c->max_positions, Dt));
  m->final_ln_w = load_f32 (l, "text_model.final_layer_norm.weight", 1, SHAPE (Dt));
  m->final_ln_b = load_f32 (l, "text_model.final_layer_norm.bias", 1, SHAPE (Dt));
  m->txt_proj = load (l, l->wtype, "text_projection.weight", 2, SHAPE (P, Dt));
  if (!load_tower (l, &m->vision, "vision_model", &c->vision) ||
      !load_tower (l, &m->text, "text_model", &c->text))
    return FALSE;

  VlmTensor *ls = load_f32 (l, "logit_scale", 1, SHAPE (1));
  if (!ls || !vlm_tensor_download (ls, &m->logit_scale, sizeof (gfloat), l->error))
    return FALSE;
  if (!isfinite (m->logit_scale)) {
    g_set_error (l->error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: logit_scale is not finite",
                 vlm_safetensors_get_path (l->st));
    return FALSE;
  }
  return TRUE;
}

/**
 * vlm_clip_model_load:
 * @dir: a Hugging Face CLIP folder (config.json, model.safetensors, and
 *   optionally preprocessor_config.json, vocab.json + merges.txt)
 * @device: where to run
 * @weights: %VLM_DTYPE_F32, or %VLM_DTYPE_F16 to store matmul weights in
 *   half precision (the device must support it)
 * @error: return location for a #GError
 *
 * Loads the configuration, every weight (shapes checked against the
 * configuration, each mismatch reported by tensor name), and the tokenizer
 * when its files are present (texts can then be encoded by string).
 *
 * Returns: (transfer full) (nullable): the model, or %NULL with @error set.
 */
VlmClipModel *
vlm_clip_model_load (const gchar *dir, VlmDevice *device, VlmDType weights, GError **error)
{
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FILE, "%s: not a model folder (does not exist or "
                 "is not a directory)", dir);
    return NULL;
  }
  if (weights != VLM_DTYPE_F32 && weights != VLM_DTYPE_F16) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "%s: weights must be f32 or f16",
                 dir);
    return NULL;
  }
  if (weights == VLM_DTYPE_F16 && !vlm_device_supports_f16 (device)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED, "%s: f16 weights requested but %s has "
                 "no f16 support", dir, vlm_device_get_name (device));
    return NULL;
  }
  VlmClipModel *m = g_new0 (VlmClipModel, 1);
  g_mutex_init (&m->lock);
  m->device = vlm_device_ref (device);
  m->tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) vlm_tensor_unref);
  if (!vlm_clip_config_load (dir, &m->config, error)) {
    vlm_clip_model_free (m);
    return NULL;
  }
  g_autofree gchar *path = g_build_filename (dir, "model.safetensors", NULL);
  g_autoptr (VlmSafetensors) st = vlm_safetensors_open (path, error);
  if (!st) {
    vlm_clip_model_free (m);
    return NULL;
  }
  Loader l = { .m = m, .st = st, .wtype = weights, .error = error };
  if (!load_weights (&l)) {
    vlm_clip_model_free (m);
    return NULL;
  }
  g_autofree gchar *vocab = g_build_filename (dir, "vocab.json", NULL);
  if (g_file_test (vocab, G_FILE_TEST_EXISTS)) {
    m->tokenizer = vlm_clip_tokenizer_new_from_dir (dir, error);
    if (!m->tokenizer) {
      vlm_clip_model_free (m);
      return NULL;
    }
    if (vlm_clip_tokenizer_get_eot_id (m->tokenizer) != m->config.eot_id ||
        vlm_clip_tokenizer_get_vocab_size (m->tokenizer) > (guint) m->config.vocab_size) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                   "%s: the tokenizer (vocab.json: %u tokens, end-of-text %d) does not fit "
                   "config.json (vocab_size %d, eos_token_id %d)", dir,
                   vlm_clip_tokenizer_get_vocab_size (m->tokenizer),
                   vlm_clip_tokenizer_get_eot_id (m->tokenizer), m->config.vocab_size,
                   m->config.eot_id);
      vlm_clip_model_free (m);
      return NULL;
    }
  }
  return m;
}

/**
 * vlm_clip_model_free:
 * @model: (nullable): a model
 *
 * Frees the model and its weights.
 */
void
vlm_clip_model_free (VlmClipModel *model)
{
  if (!model)
    return;
  g_ptr_array_unref (model->tensors);
  g_free (model->vision.blocks);
  g_free (model->text.blocks);
  g_clear_pointer (&model->tokenizer, vlm_clip_tokenizer_free);
  vlm_device_unref (model->device);
  g_mutex_clear (&model->lock);
  g_free (model);
}

/**
 * vlm_clip_model_get_config:
 * @model: a model
 *
 * Returns: (transfer none): its configuration.
 */
const VlmClipConfig *
vlm_clip_model_get_config (VlmClipModel *model)
{
  return &model->config;
}

/**
 * vlm_clip_model_get_device:
 * @model: a model
 *
 * Returns: (transfer none): the device it runs on.
 */
VlmDevice *
vlm_clip_model_get_device (VlmClipModel *model)
{
  return model->device;
}

/**
 * vlm_clip_model_logit_scale:
 * @model: a model
 *
 * Returns: exp(logit_scale), the factor between cosine and logits (≈100 for
 *   OpenAI's weights).
 */
gfloat
vlm_clip_model_logit_scale (VlmClipModel *model)
{
  return expf (model->logit_scale);
}

/* Scratch tensors of one forward pass, freed together. */
typedef struct {
  VlmDevice *dev;
  GPtrArray *all;
  GError **error;
} Scratch;

static VlmTensor *
scratch (Scratch *s, VlmDType dtype, gint ndim, const gint64 *shape)
{
  VlmTensor *t = vlm_tensor_new (s->dev, dtype, ndim, shape, s->error);
  if (t)
    g_ptr_array_add (s->all, t);
  return t;
}

static VlmTensor *
view (Scratch *s, VlmTensor *base, gsize offset, gint ndim, const gint64 *shape)
{
  VlmTensor *t = vlm_tensor_view (base, offset, ndim, shape, s->error);
  if (t)
    g_ptr_array_add (s->all, t);
  return t;
}

/* Runs the blocks of @tower over x [B, T, D] in place. */
static gboolean
run_tower (Scratch *s, const Tower *tower, VlmTensor *x, gboolean causal)
{
  const VlmTransformerConfig *c = tower->cfg;
  gint64 B = x->shape[0], T = x->shape[1], D = c->hidden;
  VlmTensor *h = scratch (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *q = scratch (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *k = scratch (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *v = scratch (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *a = scratch (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *mlp = scratch (s, VLM_DTYPE_F32, 3, SHAPE (B, T, c->intermediate));
  if (!h || !q || !k || !v || !a || !mlp)
    return FALSE;
  VlmAttentionParams ap = { .n_heads = c->heads, .causal = causal };
  for (gint i = 0; i < c->layers; i++) {
    const Block *b = &tower->blocks[i];
    if (!vlm_op_layernorm (h, x, b->ln1_w, b->ln1_b, c->eps, s->error) ||
        !vlm_op_matmul (q, h, b->q_w, b->q_b, NULL, VLM_ACT_NONE, s->error) ||
        !vlm_op_matmul (k, h, b->k_w, b->k_b, NULL, VLM_ACT_NONE, s->error) ||
        !vlm_op_matmul (v, h, b->v_w, b->v_b, NULL, VLM_ACT_NONE, s->error) ||
        !vlm_op_attention (a, q, k, v, &ap, s->error) ||
        !vlm_op_matmul (x, a, b->o_w, b->o_b, x, VLM_ACT_NONE, s->error) ||
        !vlm_op_layernorm (h, x, b->ln2_w, b->ln2_b, c->eps, s->error) ||
        !vlm_op_matmul (mlp, h, b->fc1_w, b->fc1_b, NULL, c->act, s->error) ||
        !vlm_op_matmul (x, mlp, b->fc2_w, b->fc2_b, x, VLM_ACT_NONE, s->error))
      return FALSE;
  }
  return TRUE;
}

/* Pools rows @rows of x [B·T, D], normalises with (w, b), projects with
 * @proj and downloads L2-normalised vectors into @out [B, P]. */
static gboolean
pool_project (Scratch *s, VlmTensor *x, const gint32 *rows, gint64 B, VlmTensor *ln_w,
              VlmTensor *ln_b, gfloat eps, VlmTensor *proj, gfloat *out)
{
  gint64 D = x->shape[x->ndim - 1], P = proj->shape[0];
  VlmTensor *flat = view (s, x, 0, 2, SHAPE (vlm_tensor_rows (x), D));
  VlmTensor *ids = scratch (s, VLM_DTYPE_I32, 1, SHAPE (B));
  VlmTensor *pooled = scratch (s, VLM_DTYPE_F32, 2, SHAPE (B, D));
  VlmTensor *emb = scratch (s, VLM_DTYPE_F32, 2, SHAPE (B, P));
  if (!flat || !ids || !pooled || !emb ||
      !vlm_tensor_upload (ids, rows, B * sizeof (gint32), s->error) ||
      !vlm_op_gather_rows (pooled, flat, ids, s->error) ||
      !vlm_op_layernorm (pooled, pooled, ln_w, ln_b, eps, s->error) ||
      !vlm_op_matmul (emb, pooled, proj, NULL, NULL, VLM_ACT_NONE, s->error) ||
      !vlm_tensor_download (emb, out, B * P * sizeof (gfloat), s->error))
    return FALSE;
  for (gint64 b = 0; b < B; b++) {
    gdouble n = 0;
    for (gint64 i = 0; i < P; i++)
      n += (gdouble) out[b * P + i] * out[b * P + i];
    gfloat inv = n > 0 ? (gfloat) (1.0 / sqrt (n)) : 0.0f;
    for (gint64 i = 0; i < P; i++)
      out[b * P + i] *= inv;
  }
  return TRUE;
}

/* Vision tower from preprocessed pixels [B, 3, S, S] on the device. */
static gboolean
vision_forward (VlmClipModel *m, Scratch *s, VlmTensor *pixels, gfloat *out)
{
  const VlmClipConfig *c = &m->config;
  gint64 B = pixels->shape[0], D = c->vision.hidden, p = c->patch_size;
  gint64 np = (c->image_size / p) * (c->image_size / p), T = np + 1, inner = 3 * p * p;
  VlmTensor *patches = scratch (s, VLM_DTYPE_F32, 3, SHAPE (B, np, inner));
  VlmTensor *x = scratch (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *w = view (s, m->patch_w, 0, 2, SHAPE (D, inner));
  VlmTensor *pos_rest = view (s, m->vis_pos, D, 2, SHAPE (np, D));
  VlmTensor *pos0 = view (s, m->vis_pos, 0, 1, SHAPE (D));
  if (!patches || !x || !w || !pos_rest || !pos0 ||
      !vlm_op_patchify (patches, pixels, (gint) p, s->error))
    return FALSE;
  for (gint64 b = 0; b < B; b++) {
    VlmTensor *pb = view (s, patches, b * np * inner, 2, SHAPE (np, inner));
    VlmTensor *xb = view (s, x, b * T * D + D, 2, SHAPE (np, D));
    VlmTensor *cls = view (s, x, b * T * D, 1, SHAPE (D));
    if (!pb || !xb || !cls ||
        !vlm_op_matmul (xb, pb, w, NULL, pos_rest, VLM_ACT_NONE, s->error) ||
        !vlm_op_binary (cls, m->class_emb, pos0, VLM_BINARY_ADD, s->error))
      return FALSE;
  }
  if (!vlm_op_layernorm (x, x, m->pre_ln_w, m->pre_ln_b, c->vision.eps, s->error) ||
      !run_tower (s, &m->vision, x, FALSE))
    return FALSE;
  g_autofree gint32 *rows = g_new (gint32, B);
  for (gint64 b = 0; b < B; b++)
    rows[b] = (gint32) (b * T);
  return pool_project (s, x, rows, B, m->post_ln_w, m->post_ln_b, c->vision.eps, m->vis_proj,
                       out);
}

static gboolean
check_batch (gint n, GError **error)
{
  if (n < 1 || n > 4096) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "clip: batch of %d, expected "
                 "1 to 4096", n);
    return FALSE;
  }
  return TRUE;
}

/**
 * vlm_clip_encode_pixels:
 * @model: a model
 * @pixels: (array): @n preprocessed images, f32 [n, 3, S, S] with S the
 *   model's image size
 * @n: number of images
 * @embeddings: (out caller-allocates) (array): n × projection_dim floats,
 *   L2-normalised
 * @error: return location for a #GError
 *
 * Runs the image tower on images already preprocessed (as the reference
 * implementation's pixel_values).
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_clip_encode_pixels (VlmClipModel *m, const gfloat *pixels, gint n, gfloat *embeddings,
                        GError **error)
{
  if (!check_batch (n, error))
    return FALSE;
  gint64 S = m->config.image_size;
  g_mutex_lock (&m->lock);
  Scratch s = { m->device, g_ptr_array_new_with_free_func ((GDestroyNotify) vlm_tensor_unref),
                error };
  VlmTensor *px = scratch (&s, VLM_DTYPE_F32, 4, SHAPE (n, 3, S, S));
  gboolean ok = px && vlm_tensor_upload (px, pixels, px->nbytes, error) &&
      vision_forward (m, &s, px, embeddings);
  g_ptr_array_unref (s.all);
  g_mutex_unlock (&m->lock);
  return ok;
}

/**
 * vlm_clip_encode_frames:
 * @model: a model
 * @frames: (array length=n): raw frames in any #VlmPixelFormat
 * @n: number of frames
 * @embeddings: (out caller-allocates) (array): n × projection_dim floats,
 *   L2-normalised
 * @error: return location for a #GError
 *
 * Preprocesses frames on the device (colour conversion, short-side resize,
 * centre crop, normalisation from preprocessor_config.json) and runs the
 * image tower.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_clip_encode_frames (VlmClipModel *m, const VlmClipFrame *frames, gint n, gfloat *embeddings,
                        GError **error)
{
  if (!check_batch (n, error))
    return FALSE;
  gint64 S = m->config.image_size;
  g_mutex_lock (&m->lock);
  Scratch s = { m->device, g_ptr_array_new_with_free_func ((GDestroyNotify) vlm_tensor_unref),
                error };
  VlmTensor *px = scratch (&s, VLM_DTYPE_F32, 4, SHAPE (n, 3, S, S));
  gboolean ok = px != NULL;
  for (gint i = 0; ok && i < n; i++) {
    VlmImageParams p = m->config.image;
    p.format = frames[i].params.format;
    p.width = frames[i].params.width;
    p.height = frames[i].params.height;
    memcpy (p.stride, frames[i].params.stride, sizeof p.stride);
    memcpy (p.plane_offset, frames[i].params.plane_offset, sizeof p.plane_offset);
    VlmTensor *src = NULL;
    if (frames[i].data && frames[i].size > 0) {
      /* The CPU backend uses the caller's bytes in place; the work is done
       * before this function returns, so no copy is needed. */
      src = vlm_tensor_new_from_data (m->device, VLM_DTYPE_U8, 1,
                                      SHAPE ((gint64) frames[i].size), frames[i].data, NULL,
                                      NULL, error);
    } else {
      g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "clip: frame %d is empty", i);
    }
    VlmTensor *slot = src ? view (&s, px, (gsize) i * 3 * S * S, 3, SHAPE (3, S, S)) : NULL;
    ok = slot && vlm_op_preprocess (slot, src, &p, error);
    if (src)
      g_ptr_array_add (s.all, src);
  }
  ok = ok && vision_forward (m, &s, px, embeddings);
  g_ptr_array_unref (s.all);
  g_mutex_unlock (&m->lock);
  return ok;
}

/**
 * vlm_clip_encode_ids:
 * @model: a model
 * @ids: (array): n × max_positions token ids, each sequence holding an
 *   end-of-text token (padding after it is ignored)
 * @n: number of sequences
 * @embeddings: (out caller-allocates) (array): n × projection_dim floats,
 *   L2-normalised
 * @error: return location for a #GError
 *
 * Runs the text tower on tokenised text, pooling at each sequence's first
 * end-of-text token.
 *
 * Returns: %TRUE on success; %FALSE when an id is outside the vocabulary or
 *   a sequence has no end-of-text token.
 */
gboolean
vlm_clip_encode_ids (VlmClipModel *m, const gint32 *ids, gint n, gfloat *embeddings,
                     GError **error)
{
  const VlmClipConfig *c = &m->config;
  if (!check_batch (n, error))
    return FALSE;
  gint64 L = c->max_positions, D = c->text.hidden, T = 0;
  g_autofree gint32 *eot = g_new (gint32, n);
  for (gint b = 0; b < n; b++) {
    eot[b] = -1;
    for (gint64 i = 0; i < L; i++) {
      gint32 id = ids[b * L + i];
      if (id < 0 || id >= c->vocab_size) {
        g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "clip: token id %d at "
                     "sequence %d position %" G_GINT64_FORMAT " is outside the vocabulary (%d)",
                     id, b, i, c->vocab_size);
        return FALSE;
      }
      if (eot[b] < 0 && id == c->eot_id)
        eot[b] = (gint32) i;
    }
    if (eot[b] < 0) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "clip: sequence %d has no "
                   "end-of-text token (%d)", b, c->eot_id);
      return FALSE;
    }
    T = MAX (T, eot[b] + 1);
  }
  /* Compact the ids to the T positions that matter. */
  g_autofree gint32 *compact = g_new (gint32, n * T);
  g_autofree gint32 *rows = g_new (gint32, n);
  for (gint b = 0; b < n; b++) {
    memcpy (compact + b * T, ids + b * L, T * sizeof (gint32));
    rows[b] = (gint32) (b * T + eot[b]);
  }
  g_mutex_lock (&m->lock);
  Scratch s = { m->device, g_ptr_array_new_with_free_func ((GDestroyNotify) vlm_tensor_unref),
                error };
  VlmTensor *tid = scratch (&s, VLM_DTYPE_I32, 1, SHAPE (n * T));
  VlmTensor *x = scratch (&s, VLM_DTYPE_F32, 3, SHAPE (n, T, D));
  VlmTensor *pos = view (&s, m->txt_pos, 0, 2, SHAPE (T, D));
  gboolean ok = tid && x && pos &&
      vlm_tensor_upload (tid, compact, n * T * sizeof (gint32), error) &&
      vlm_op_gather_rows (x, m->tok_emb, tid, error) &&
      vlm_op_binary (x, x, pos, VLM_BINARY_ADD, error) &&
      run_tower (&s, &m->text, x, TRUE) &&
      pool_project (&s, x, rows, n, m->final_ln_w, m->final_ln_b, c->text.eps, m->txt_proj,
                    embeddings);
  g_ptr_array_unref (s.all);
  g_mutex_unlock (&m->lock);
  return ok;
}

/**
 * vlm_clip_encode_texts:
 * @model: a model loaded with its tokenizer files
 * @texts: (array length=n): UTF-8 strings
 * @n: number of texts
 * @embeddings: (out caller-allocates) (array): n × projection_dim floats,
 *   L2-normalised
 * @error: return location for a #GError
 *
 * Tokenises (truncating to the context length, end-of-text kept last) and
 * runs the text tower.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_clip_encode_texts (VlmClipModel *m, const gchar *const *texts, gint n, gfloat *embeddings,
                       GError **error)
{
  if (!check_batch (n, error))
    return FALSE;
  if (!m->tokenizer) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FILE, "clip: the model folder has no tokenizer "
                 "(vocab.json + merges.txt)");
    return FALSE;
  }
  gint L = m->config.max_positions;
  g_autofree gint32 *ids = g_new0 (gint32, (gsize) n * L);
  for (gint i = 0; i < n; i++) {
    gint eot_pos;
    gboolean truncated;
    if (!vlm_clip_tokenizer_encode (m->tokenizer, texts[i], L, m->config.eot_id, ids + i * L,
                                    &eot_pos, &truncated, error))
      return FALSE;
  }
  return vlm_clip_encode_ids (m, ids, n, embeddings, error);
}

/**
 * vlm_clip_scores:
 * @model: a model
 * @image_embeddings: (array): n_images × projection_dim, L2-normalised
 * @n_images: number of images
 * @text_embeddings: (array): n_texts × projection_dim, L2-normalised
 * @n_texts: number of texts
 * @logits: (out caller-allocates) (array) (nullable): n_images × n_texts,
 *   exp(logit_scale) · cosine
 * @probs: (out caller-allocates) (array) (nullable): n_images × n_texts,
 *   softmax of each image's logits over the texts
 *
 * Zero-shot scores, as CLIPModel's logits_per_image.
 */
void
vlm_clip_scores (VlmClipModel *m, const gfloat *image_embeddings, gint n_images,
                 const gfloat *text_embeddings, gint n_texts, gfloat *logits, gfloat *probs)
{
  gint P = m->config.projection_dim;
  gdouble scale = exp (m->logit_scale);
  g_autofree gdouble *row = g_new (gdouble, n_texts);
  for (gint i = 0; i < n_images; i++) {
    gdouble mx = -INFINITY, sum = 0;
    for (gint j = 0; j < n_texts; j++) {
      gdouble d = 0;
      for (gint k = 0; k < P; k++)
        d += (gdouble) image_embeddings[i * P + k] * text_embeddings[j * P + k];
      row[j] = scale * d;
      mx = MAX (mx, row[j]);
      if (logits)
        logits[i * n_texts + j] = (gfloat) row[j];
    }
    for (gint j = 0; j < n_texts; j++)
      sum += exp (row[j] - mx);
    for (gint j = 0; probs && j < n_texts; j++)
      probs[i * n_texts + j] = (gfloat) (exp (row[j] - mx) / sum);
  }
}
