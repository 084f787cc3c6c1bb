/* gst-vlm engine — CLIP image and text towers on the op API.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Vision: patchify → patch matmul → + positions 1…N → class token +
 *   position 0 → pre_layrnorm → blocks → token 0 → post_layernorm →
 *   visual_projection.
 * Text: token + position embeddings → causal blocks → the first eot of each
 *   sequence → final_layer_norm → text_projection. Only positions up to the
 *   longest eot in the batch are computed: the causal mask makes later
 *   positions irrelevant to the pooled output.
 * Both towers run their last block on the pooled row only (keys and values
 *   still from every position): nothing else of it reaches the output.
 * Blocks are pre-LN: x += out(attn(ln1(x))); x += fc2(act(fc1(ln2(x)))).
 * Outputs are L2-normalised on the host.
 */
#include <math.h>
#include <string.h>

#include "vlm-clip-encoder.h"
#include "../text/vlm-clip-tokenizer.h"

struct _VlmClipModel {
  VlmClipConfig config;
  VlmDevice *device;
  GMutex lock;
  gfloat logit_scale;
  VlmClipTokenizer *tokenizer;     /* NULL when the folder has no tokenizer files */
  VlmVit vision;
  VlmTensor *vis_proj;
  VlmClipEncoder text;
  VlmTensor *tok_emb, *txt_pos, *final_ln_w, *final_ln_b, *txt_proj;
  GPtrArray *tensors;              /* every weight, for freeing */
};

static gboolean
load_weights (VlmClipModel *m, VlmWeightLoader *wl)
{
  const VlmClipConfig *c = &m->config;
  gint64 Dv = c->vision.hidden, Dt = c->text.hidden, P = c->projection_dim;
  if (!vlm_vit_load (&m->vision, wl, "vision_model", &c->vision, c->image_size, c->patch_size) ||
      !vlm_clip_encoder_load (&m->text, wl, "text_model", &c->text))
    return FALSE;
  m->vis_proj = vlm_load_as (wl, vlm_clip_dense_dtype (wl), "visual_projection.weight", 2,
                             SHAPE (P, Dv));
  m->tok_emb = vlm_load_f32 (wl, "text_model.embeddings.token_embedding.weight", 2,
                             SHAPE (c->vocab_size, Dt));
  m->txt_pos = vlm_load_f32 (wl, "text_model.embeddings.position_embedding.weight", 2,
                             SHAPE (c->max_positions, Dt));
  m->final_ln_w = vlm_load_vector (wl, "text_model.final_layer_norm.weight", Dt);
  m->final_ln_b = vlm_load_vector (wl, "text_model.final_layer_norm.bias", Dt);
  m->txt_proj = vlm_load_as (wl, vlm_clip_dense_dtype (wl), "text_projection.weight", 2,
                             SHAPE (P, Dt));
  VlmTensor *ls = vlm_load_f32 (wl, "logit_scale", 1, SHAPE (1));
  if (!ls || !vlm_tensor_download (ls, &m->logit_scale, sizeof (gfloat), wl->error))
    return FALSE;
  if (!isfinite (m->logit_scale)) {
    g_set_error (wl->error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: logit_scale is not finite",
                 vlm_safetensors_get_path (wl->st));
    return FALSE;
  }
  return TRUE;
}

/**
 * vlm_clip_model_load:
 * @dir: a Hugging Face CLIP folder (config.json, model.safetensors, and
 *   optionally preprocessor_config.json, vocab.json + merges.txt)
 * @device: where to run
 * @weights: %VLM_DTYPE_F32, or %VLM_DTYPE_F16 or %VLM_DTYPE_BF16 to store
 *   matmul weights in half precision, or %VLM_DTYPE_I8 to quantize the
 *   transformer blocks' matrices to int8 with a scale per row (the other
 *   matrices then bf16); the device must support it: see
 *   vlm_op_matmul_supports_weights()
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
  if (weights != VLM_DTYPE_F32 && weights != VLM_DTYPE_F16 && weights != VLM_DTYPE_BF16 &&
      weights != VLM_DTYPE_I8) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "%s: weights must be f32, f16, "
                 "bf16 or i8", dir);
    return NULL;
  }
  if (!vlm_op_matmul_supports_weights (device, weights)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED, "%s: %s weights requested but %s has "
                 "no %s support", dir, vlm_dtype_to_string (weights),
                 vlm_device_get_name (device), vlm_dtype_to_string (weights));
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
  VlmWeightLoader wl = { .st = st, .device = device, .matrix_dtype = weights,
                         .owned = m->tensors, .error = error };
  if (!load_weights (m, &wl)) {
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
  vlm_clip_encoder_clear (&model->vision.enc);
  vlm_clip_encoder_clear (&model->text);
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

/* Pools rows @rows of x [B·T, D], normalises with (w, b), projects with
 * @proj and downloads L2-normalised vectors into @out [B, P]. */
static gboolean
pool_project (VlmScratch *s, VlmTensor *x, const gint32 *rows, gint64 B, VlmTensor *ln_w,
              VlmTensor *ln_b, gfloat eps, VlmTensor *proj, gfloat *out)
{
  gint64 D = x->shape[x->ndim - 1], P = proj->shape[0];
  VlmTensor *flat = vlm_scratch_view (s, x, 0, 2, SHAPE (vlm_tensor_rows (x), D));
  VlmTensor *ids = vlm_scratch_new (s, VLM_DTYPE_I32, 1, SHAPE (B));
  VlmTensor *pooled = vlm_scratch_new (s, VLM_DTYPE_F32, 2, SHAPE (B, D));
  VlmTensor *emb = vlm_scratch_new (s, VLM_DTYPE_F32, 2, SHAPE (B, P));
  if (!flat || !ids || !pooled || !emb ||
      !vlm_tensor_upload (ids, rows, B * sizeof (gint32), s->error) ||
      !vlm_op_gather_rows (pooled, flat, ids, s->error) ||
      !vlm_op_layernorm (pooled, pooled, ln_w, ln_b, eps, s->error) ||
      !vlm_op_matmul (emb, pooled, proj, NULL, NULL, VLM_ACT_NONE, s->error) ||
      !vlm_tensor_download (emb, out, B * P * sizeof (gfloat), s->error))
    return FALSE;
  vlm_l2_normalize (out, B, P);
  return TRUE;
}

/* Vision tower from preprocessed pixels [B, 3, S, S] on the device. */
static gboolean
vision_forward (VlmClipModel *m, VlmScratch *s, VlmTensor *pixels, gfloat *out)
{
  VlmTensor *x = pixels ? vlm_vit_forward_class (&m->vision, s, pixels) : NULL;
  if (!x)
    return FALSE;
  gint64 B = pixels->shape[0];
  g_autofree gint32 *rows = g_new (gint32, B);
  for (gint64 b = 0; b < B; b++)
    rows[b] = (gint32) b;
  return pool_project (s, x, rows, B, m->vision.post_ln_w, m->vision.post_ln_b,
                       m->config.vision.eps, m->vis_proj, out);
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
  VlmScratch s;
  g_mutex_lock (&m->lock);
  vlm_scratch_init (&s, m->device, error);
  VlmTensor *px = vlm_scratch_new (&s, VLM_DTYPE_F32, 4, SHAPE (n, 3, S, S));
  gboolean ok = px && vlm_tensor_upload (px, pixels, px->nbytes, error) &&
      vision_forward (m, &s, px, embeddings);
  vlm_scratch_clear (&s);
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
vlm_clip_encode_frames (VlmClipModel *m, const VlmFrame *frames, gint n, gfloat *embeddings,
                        GError **error)
{
  if (!check_batch (n, error))
    return FALSE;
  VlmScratch s;
  g_mutex_lock (&m->lock);
  vlm_scratch_init (&s, m->device, error);
  VlmTensor *px = vlm_vit_preprocess (&s, frames, n, &m->config.image);
  gboolean ok = px && vision_forward (m, &s, px, embeddings);
  vlm_scratch_clear (&s);
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
    rows[b] = b;
  }
  VlmScratch s;
  g_mutex_lock (&m->lock);
  vlm_scratch_init (&s, m->device, error);
  VlmTensor *tid = vlm_scratch_new (&s, VLM_DTYPE_I32, 1, SHAPE (n * T));
  VlmTensor *x = vlm_scratch_new (&s, VLM_DTYPE_F32, 3, SHAPE (n, T, D));
  VlmTensor *pos = vlm_scratch_view (&s, m->txt_pos, 0, 2, SHAPE (T, D));
  VlmTensor *pooled = NULL;
  gboolean ok = tid && x && pos &&
      vlm_tensor_upload (tid, compact, n * T * sizeof (gint32), error) &&
      vlm_op_gather_rows (x, m->tok_emb, tid, error) &&
      vlm_op_binary (x, x, pos, VLM_BINARY_ADD, error) &&
      (pooled = vlm_clip_encoder_run_pooled (&m->text, &s, x, TRUE, eot)) &&
      pool_project (&s, pooled, rows, n, m->final_ln_w, m->final_ln_b, c->text.eps,
                    m->txt_proj, embeddings);
  vlm_scratch_clear (&s);
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
