/* gst-vlm engine — GIT: CLIP image encoder + BERT-style decoder, with a KV cache.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Image: CLIP ViT → post_layernorm on every token → visual projection
 *   (Linear + LayerNorm with the vision eps) → image tokens [Ni, D].
 * Decoder input: [image tokens ; LN(word + position embeddings of the text)],
 *   text positions counting from 0.
 * Decoder layer (post-LN): a = LN(x + dense(attn(x))); x = LN(a + dense(gelu(dense(a)))).
 *   Attention mask: image rows see image columns only; text rows see every
 *   image column and the text columns up to their own — the engine's causal
 *   attention with n_prefix = Ni.
 * Image rows never see text, so their keys and values are the same for every
 * caption: the cache is filled once by the prefix pass and each new token
 * costs one decoder step over one position per beam.
 */
#include <math.h>
#include <string.h>

#include "vlm-git.h"
#include "vlm-clip-encoder.h"
#include "../text/vlm-wordpiece.h"

typedef struct {
  VlmTensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;
  VlmTensor *ao_w, *ao_b, *ln1_w, *ln1_b;
  VlmTensor *in_w, *in_b, *out_w, *out_b, *ln2_w, *ln2_b;
} GitLayer;

struct _VlmGitModel {
  VlmGitConfig config;
  VlmDevice *device;
  GMutex lock;
  VlmVit vision;
  VlmTensor *proj_w, *proj_b, *proj_ln_w, *proj_ln_b, *temporal;
  VlmTensor *word_emb, *pos_emb, *emb_ln_w, *emb_ln_b;
  GitLayer *layers;
  VlmTensor *head_w, *head_b;
  VlmWordpiece *tokenizer;      /* NULL when the folder has no vocab.txt */
  GPtrArray *tensors;
};

struct _VlmGitImage {
  VlmGitModel *model;
  VlmTensor *tokens;            /* [1, Ni, D] */
};

/* ---------------------------------------------------------------------- */
/* Configuration                                                          */

/**
 * vlm_git_config_load:
 * @dir: a Hugging Face GIT folder
 * @config: (out caller-allocates): the configuration
 * @error: return location for a #GError
 *
 * Reads config.json (absent keys take GitConfig's and GitVisionConfig's
 * defaults) and preprocessor_config.json (optional).
 *
 * Returns: %TRUE on success; %FALSE with an error naming the file and key.
 */
gboolean
vlm_git_config_load (const gchar *dir, VlmGitConfig *config, GError **error)
{
  g_autofree gchar *path = g_build_filename (dir, "config.json", NULL);
  VlmJsonFile f;
  if (!vlm_json_file_load (&f, path, error))
    return FALSE;
  memset (config, 0, sizeof *config);
  GError *local = NULL;
  const gchar *type = NULL;
  vlm_json_string (&f, f.root, "model_type", "git", &type, &local);
  if (!local && strcmp (type, "git") != 0)
    g_set_error (&local, VLM_ERROR, VLM_ERROR_UNSUPPORTED, "%s: model_type \"%s\" is not a GIT "
                 "model", path, type);
  JsonObject *vision = local ? NULL : vlm_json_object (&f, f.root, "vision_config", &local);
  if (!local && !vision)
    g_set_error (&local, VLM_ERROR, VLM_ERROR_FORMAT, "%s: vision_config is required", path);
  gint64 image, patch, vocab, positions, bos, eos, pad;
  gboolean ok = !local &&
      vlm_transformer_config_read (&f, vision, 768, 3072, 12, 12, "quick_gelu", 1e-5,
                                   &config->vision, &local) &&
      vlm_json_int (&f, vision, "image_size", 1, 4096, 224, &image, &local) &&
      vlm_json_int (&f, vision, "patch_size", 1, 4096, 16, &patch, &local) &&
      vlm_transformer_config_read (&f, f.root, 768, 3072, 12, 6, "gelu", 1e-12,
                                   &config->decoder, &local) &&
      vlm_json_int (&f, f.root, "vocab_size", 4, 1 << 24, 30522, &vocab, &local) &&
      vlm_json_int (&f, f.root, "max_position_embeddings", 2, 1 << 20, 1024, &positions,
                    &local) &&
      vlm_json_int (&f, f.root, "bos_token_id", 0, vocab - 1, 101, &bos, &local) &&
      vlm_json_int (&f, f.root, "eos_token_id", 0, vocab - 1, 102, &eos, &local) &&
      vlm_json_int (&f, f.root, "pad_token_id", 0, vocab - 1, 0, &pad, &local);
  if (ok && image % patch != 0) {
    g_set_error (&local, VLM_ERROR, VLM_ERROR_FORMAT, "%s: vision image_size is not a multiple "
                 "of patch_size", path);
    ok = FALSE;
  }
  if (ok) {
    JsonNode *n = json_object_get_member (f.root, "num_image_with_embedding");
    config->temporal_embedding = n && !JSON_NODE_HOLDS_NULL (n);
  }
  vlm_json_file_clear (&f);
  if (!ok) {
    g_propagate_error (error, local);
    return FALSE;
  }
  config->image_size = (gint) image;
  config->patch_size = (gint) patch;
  config->vocab_size = (gint) vocab;
  config->max_positions = (gint) positions;
  config->bos_id = (gint) bos;
  config->eos_id = (gint) eos;
  config->pad_id = (gint) pad;
  return vlm_image_config_load (dir, config->image_size, &config->image, error);
}

/* ---------------------------------------------------------------------- */
/* Loading                                                                */

static gboolean
load_layers (VlmGitModel *m, VlmWeightLoader *wl)
{
  const VlmTransformerConfig *c = &m->config.decoder;
  gint64 D = c->hidden, I = c->intermediate;
  m->layers = g_new0 (GitLayer, c->layers);
  for (gint i = 0; i < c->layers && !wl->failed; i++) {
    GitLayer *L = &m->layers[i];
    struct {
      VlmTensor **t;
      const gchar *name;
      gint64 rows, cols;         /* cols 0: a vector */
    } items[] = {
      { &L->q_w, "attention.self.query.weight", D, D }, { &L->q_b, "attention.self.query.bias", D, 0 },
      { &L->k_w, "attention.self.key.weight", D, D }, { &L->k_b, "attention.self.key.bias", D, 0 },
      { &L->v_w, "attention.self.value.weight", D, D }, { &L->v_b, "attention.self.value.bias", D, 0 },
      { &L->ao_w, "attention.output.dense.weight", D, D },
      { &L->ao_b, "attention.output.dense.bias", D, 0 },
      { &L->ln1_w, "attention.output.LayerNorm.weight", D, 0 },
      { &L->ln1_b, "attention.output.LayerNorm.bias", D, 0 },
      { &L->in_w, "intermediate.dense.weight", I, D }, { &L->in_b, "intermediate.dense.bias", I, 0 },
      { &L->out_w, "output.dense.weight", D, I }, { &L->out_b, "output.dense.bias", D, 0 },
      { &L->ln2_w, "output.LayerNorm.weight", D, 0 }, { &L->ln2_b, "output.LayerNorm.bias", D, 0 },
    };
    for (gsize k = 0; k < G_N_ELEMENTS (items); k++) {
      g_autofree gchar *name = g_strdup_printf ("git.encoder.layer.%d.%s", i, items[k].name);
      *items[k].t = items[k].cols ? vlm_load_matrix (wl, name, items[k].rows, items[k].cols)
          : vlm_load_vector (wl, name, items[k].rows);
    }
  }
  return !wl->failed;
}

static gboolean
load_weights (VlmGitModel *m, VlmWeightLoader *wl)
{
  VlmGitConfig *c = &m->config;
  gint64 D = c->decoder.hidden, Dv = c->vision.hidden, V = c->vocab_size;
  if (!vlm_vit_load (&m->vision, wl, "git.image_encoder.vision_model", &c->vision, c->image_size,
                     c->patch_size))
    return FALSE;
  m->proj_w = vlm_load_matrix (wl, "git.visual_projection.visual_projection.0.weight", D, Dv);
  m->proj_b = vlm_load_vector (wl, "git.visual_projection.visual_projection.0.bias", D);
  m->proj_ln_w = vlm_load_vector (wl, "git.visual_projection.visual_projection.1.weight", D);
  m->proj_ln_b = vlm_load_vector (wl, "git.visual_projection.visual_projection.1.bias", D);
  if (c->temporal_embedding)
    m->temporal = vlm_load_f32 (wl, "git.img_temperal_embedding.0", 3, SHAPE (1, 1, D));
  m->word_emb = vlm_load_f32 (wl, "git.embeddings.word_embeddings.weight", 2, SHAPE (V, D));
  m->pos_emb = vlm_load_f32 (wl, "git.embeddings.position_embeddings.weight", 2,
                             SHAPE (c->max_positions, D));
  m->emb_ln_w = vlm_load_vector (wl, "git.embeddings.LayerNorm.weight", D);
  m->emb_ln_b = vlm_load_vector (wl, "git.embeddings.LayerNorm.bias", D);
  if (!load_layers (m, wl))
    return FALSE;
  /* The LM head: `output.weight`, or the word embeddings when tied. */
  c->tied_head = vlm_safetensors_find (wl->st, "output.weight") == NULL;
  m->head_w = vlm_load_matrix (wl, c->tied_head ? "git.embeddings.word_embeddings.weight"
                               : "output.weight", V, D);
  m->head_b = vlm_load_vector (wl, "output.bias", V);
  return !wl->failed;
}

/**
 * vlm_git_model_load:
 * @dir: a Hugging Face GIT folder (config.json, model.safetensors, and
 *   optionally preprocessor_config.json and vocab.txt)
 * @device: where to run
 * @weights: %VLM_DTYPE_F32, or %VLM_DTYPE_F16 for half-precision matmul
 *   weights (the device must support it)
 * @error: return location for a #GError
 *
 * Loads the configuration, every weight (shapes checked, mismatches
 * reported by tensor name) and the WordPiece tokenizer when vocab.txt is
 * present.
 *
 * Returns: (transfer full) (nullable): the model, or %NULL with @error set.
 */
VlmGitModel *
vlm_git_model_load (const gchar *dir, VlmDevice *device, VlmDType weights, GError **error)
{
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FILE, "%s: not a model folder (does not exist or "
                 "is not a directory)", dir);
    return NULL;
  }
  if (weights != VLM_DTYPE_F32 && (weights != VLM_DTYPE_F16 ||
                                   !vlm_device_supports_f16 (device))) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED, "%s: weights must be f32, or f16 on a "
                 "device with f16 support (%s)", dir, vlm_device_get_name (device));
    return NULL;
  }
  VlmGitModel *m = g_new0 (VlmGitModel, 1);
  g_mutex_init (&m->lock);
  m->device = vlm_device_ref (device);
  m->tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) vlm_tensor_unref);
  g_autofree gchar *path = g_build_filename (dir, "model.safetensors", NULL);
  g_autoptr (VlmSafetensors) st = NULL;
  if (!vlm_git_config_load (dir, &m->config, error) ||
      !(st = vlm_safetensors_open (path, error))) {
    vlm_git_model_free (m);
    return NULL;
  }
  VlmWeightLoader wl = { .st = st, .device = device, .matrix_dtype = weights,
                         .owned = m->tensors, .error = error };
  if (!load_weights (m, &wl)) {
    vlm_git_model_free (m);
    return NULL;
  }
  g_autofree gchar *vocab = g_build_filename (dir, "vocab.txt", NULL);
  if (g_file_test (vocab, G_FILE_TEST_EXISTS)) {
    m->tokenizer = vlm_wordpiece_new_from_dir (dir, error);
    if (!m->tokenizer) {
      vlm_git_model_free (m);
      return NULL;
    }
    if (vlm_wordpiece_get_vocab_size (m->tokenizer) > (guint) m->config.vocab_size) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: vocab.txt has %u tokens but "
                   "config.json's vocab_size is %d", dir,
                   vlm_wordpiece_get_vocab_size (m->tokenizer), m->config.vocab_size);
      vlm_git_model_free (m);
      return NULL;
    }
  }
  return m;
}

/**
 * vlm_git_model_free:
 * @model: (nullable): a model
 *
 * Frees the model and its weights.
 */
void
vlm_git_model_free (VlmGitModel *model)
{
  if (!model)
    return;
  g_ptr_array_unref (model->tensors);
  vlm_clip_encoder_clear (&model->vision.enc);
  g_free (model->layers);
  g_clear_pointer (&model->tokenizer, vlm_wordpiece_free);
  vlm_device_unref (model->device);
  g_mutex_clear (&model->lock);
  g_free (model);
}

/**
 * vlm_git_model_get_config:
 * @model: a model
 *
 * Returns: (transfer none): its configuration.
 */
const VlmGitConfig *
vlm_git_model_get_config (VlmGitModel *model)
{
  return &model->config;
}

/**
 * vlm_git_model_get_device:
 * @model: a model
 *
 * Returns: (transfer none): the device it runs on.
 */
VlmDevice *
vlm_git_model_get_device (VlmGitModel *model)
{
  return model->device;
}

/* ---------------------------------------------------------------------- */
/* Image                                                                  */

static VlmGitImage *
encode (VlmGitModel *m, VlmScratch *s, VlmTensor *pixels)
{
  const VlmGitConfig *c = &m->config;
  VlmTensor *x = pixels ? vlm_vit_forward (&m->vision, s, pixels) : NULL;
  if (!x)
    return NULL;
  gint64 Ni = x->shape[1], D = c->decoder.hidden;
  VlmTensor *tokens = vlm_tensor_new (m->device, VLM_DTYPE_F32, 3, SHAPE (1, Ni, D), s->error);
  if (!tokens)
    return NULL;
  if (!vlm_op_layernorm (x, x, m->vision.post_ln_w, m->vision.post_ln_b, c->vision.eps,
                         s->error) ||
      !vlm_op_matmul (tokens, x, m->proj_w, m->proj_b, NULL, VLM_ACT_NONE, s->error) ||
      !vlm_op_layernorm (tokens, tokens, m->proj_ln_w, m->proj_ln_b, c->vision.eps, s->error) ||
      (m->temporal && !vlm_op_binary (tokens, tokens, m->temporal, VLM_BINARY_ADD, s->error)) ||
      !vlm_device_sync (m->device, s->error)) {
    vlm_tensor_unref (tokens);
    return NULL;
  }
  VlmGitImage *img = g_new0 (VlmGitImage, 1);
  img->model = m;
  img->tokens = tokens;
  return img;
}

/**
 * vlm_git_encode_frame:
 * @model: a model
 * @frame: a raw frame
 * @error: return location for a #GError
 *
 * Preprocesses the frame and runs the image encoder and the visual
 * projection once.
 *
 * Returns: (transfer full) (nullable): the encoded image.
 */
VlmGitImage *
vlm_git_encode_frame (VlmGitModel *m, const VlmFrame *frame, GError **error)
{
  VlmScratch s;
  g_mutex_lock (&m->lock);
  vlm_scratch_init (&s, m->device, error);
  VlmGitImage *img = encode (m, &s, vlm_vit_preprocess (&s, frame, 1, &m->config.image));
  vlm_scratch_clear (&s);
  g_mutex_unlock (&m->lock);
  return img;
}

/**
 * vlm_git_encode_pixels:
 * @model: a model
 * @pixels: (array): one preprocessed image, f32 [3, S, S]
 * @error: return location for a #GError
 *
 * Runs the image encoder on an image already preprocessed.
 *
 * Returns: (transfer full) (nullable): the encoded image.
 */
VlmGitImage *
vlm_git_encode_pixels (VlmGitModel *m, const gfloat *pixels, GError **error)
{
  gint64 S = m->config.image_size;
  VlmScratch s;
  g_mutex_lock (&m->lock);
  vlm_scratch_init (&s, m->device, error);
  VlmTensor *px = vlm_scratch_new (&s, VLM_DTYPE_F32, 4, SHAPE (1, 3, S, S));
  VlmGitImage *img = NULL;
  if (px && vlm_tensor_upload (px, pixels, px->nbytes, error))
    img = encode (m, &s, px);
  vlm_scratch_clear (&s);
  g_mutex_unlock (&m->lock);
  return img;
}

/**
 * vlm_git_image_free:
 * @image: (nullable): an encoded image
 *
 * Frees it.
 */
void
vlm_git_image_free (VlmGitImage *image)
{
  if (!image)
    return;
  vlm_tensor_unref (image->tokens);
  g_free (image);
}

/* ---------------------------------------------------------------------- */
/* Decoder                                                                */

/* Keys and values of every layer for up to n_beams sequences of max_len
 * positions; a second set when beams must be reordered. */
typedef struct {
  gint n_beams;
  gint64 max_len;
  VlmTensor **k, **v, **k_alt, **v_alt;
} KvCache;

static gboolean
cache_init (VlmGitModel *m, VlmScratch *s, KvCache *kv, gint n_beams, gint64 max_len)
{
  gint n = m->config.decoder.layers;
  gint64 D = m->config.decoder.hidden;
  kv->n_beams = n_beams;
  kv->max_len = max_len;
  kv->k = g_new0 (VlmTensor *, n);
  kv->v = g_new0 (VlmTensor *, n);
  kv->k_alt = g_new0 (VlmTensor *, n);
  kv->v_alt = g_new0 (VlmTensor *, n);
  for (gint l = 0; l < n; l++) {
    kv->k[l] = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (n_beams, max_len, D));
    kv->v[l] = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (n_beams, max_len, D));
    if (!kv->k[l] || !kv->v[l])
      return FALSE;
    if (n_beams > 1) {
      kv->k_alt[l] = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (n_beams, max_len, D));
      kv->v_alt[l] = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (n_beams, max_len, D));
      if (!kv->k_alt[l] || !kv->v_alt[l])
        return FALSE;
    }
  }
  return TRUE;
}

static void
cache_clear (KvCache *kv)
{
  g_free (kv->k);
  g_free (kv->v);
  g_free (kv->k_alt);
  g_free (kv->v_alt);
}

/* Beam b of the cache takes what beam parents[b] held (b < n). */
static gboolean
cache_reorder (VlmGitModel *m, VlmScratch *s, KvCache *kv, gint n_from, const gint32 *parents,
               gint n)
{
  gint64 row = kv->max_len * m->config.decoder.hidden;
  VlmTensor *ids = vlm_scratch_new (s, VLM_DTYPE_I32, 1, SHAPE (n));
  if (!ids || !vlm_tensor_upload (ids, parents, n * sizeof (gint32), s->error))
    return FALSE;
  for (gint l = 0; l < m->config.decoder.layers; l++) {
    VlmTensor *pairs[2][2] = { { kv->k[l], kv->k_alt[l] }, { kv->v[l], kv->v_alt[l] } };
    for (gint i = 0; i < 2; i++) {
      VlmTensor *from = vlm_scratch_view (s, pairs[i][0], 0, 2, SHAPE (n_from, row));
      VlmTensor *to = vlm_scratch_view (s, pairs[i][1], 0, 2, SHAPE (n, row));
      if (!from || !to || !vlm_op_gather_rows (to, from, ids, s->error))
        return FALSE;
    }
    VlmTensor *t = kv->k[l];
    kv->k[l] = kv->k_alt[l];
    kv->k_alt[l] = t;
    t = kv->v[l];
    kv->v[l] = kv->v_alt[l];
    kv->v_alt[l] = t;
  }
  return TRUE;
}

/* Writes src [B, T, D] into the cache rows [pos, pos + T) of beams 0…B−1. */
static gboolean
cache_store (VlmScratch *s, VlmTensor *cache, VlmTensor *src, gint64 max_len, gint64 pos)
{
  gint64 B = src->shape[0], T = src->shape[1], D = src->shape[2];
  for (gint64 b = 0; b < B; b++) {
    VlmTensor *dst = vlm_scratch_view (s, cache, (b * max_len + pos) * D, 3, SHAPE (1, T, D));
    VlmTensor *row = B == 1 ? src : vlm_scratch_view (s, src, b * T * D, 3, SHAPE (1, T, D));
    if (!dst || !row || !vlm_op_unary (dst, row, VLM_ACT_NONE, s->error))
      return FALSE;
  }
  return TRUE;
}

/* Runs every decoder layer over h [B, T, D] whose first row is at position
 * @pos, filling the cache rows [pos, pos + T) and attending to [0, pos + T). */
static gboolean
run_decoder (VlmGitModel *m, VlmScratch *s, KvCache *kv, VlmTensor *h, gint64 pos)
{
  const VlmTransformerConfig *c = &m->config.decoder;
  gint64 B = h->shape[0], T = h->shape[1], D = c->hidden;
  GError **e = s->error;
  VlmTensor *q = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *k = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *v = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *a = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *t = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, D));
  VlmTensor *mid = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (B, T, c->intermediate));
  if (!q || !k || !v || !a || !t || !mid)
    return FALSE;
  VlmAttentionParams ap = {
    .n_heads = c->heads, .causal = TRUE, .n_prefix = vlm_vit_n_tokens (&m->vision),
    .q_offset = (gint) pos, .kv_len = (gint) (pos + T),
  };
  for (gint l = 0; l < c->layers; l++) {
    const GitLayer *L = &m->layers[l];
    VlmTensor *kc = vlm_scratch_view (s, kv->k[l], 0, 3, SHAPE (B, kv->max_len, D));
    VlmTensor *vc = vlm_scratch_view (s, kv->v[l], 0, 3, SHAPE (B, kv->max_len, D));
    if (!kc || !vc ||
        !vlm_op_matmul (q, h, L->q_w, L->q_b, NULL, VLM_ACT_NONE, e) ||
        !vlm_op_matmul (k, h, L->k_w, L->k_b, NULL, VLM_ACT_NONE, e) ||
        !vlm_op_matmul (v, h, L->v_w, L->v_b, NULL, VLM_ACT_NONE, e) ||
        !cache_store (s, kv->k[l], k, kv->max_len, pos) ||
        !cache_store (s, kv->v[l], v, kv->max_len, pos) ||
        !vlm_op_attention (a, q, kc, vc, &ap, e) ||
        !vlm_op_matmul (t, a, L->ao_w, L->ao_b, h, VLM_ACT_NONE, e) ||
        !vlm_op_layernorm (t, t, L->ln1_w, L->ln1_b, c->eps, e) ||
        !vlm_op_matmul (mid, t, L->in_w, L->in_b, NULL, c->act, e) ||
        !vlm_op_matmul (h, mid, L->out_w, L->out_b, t, VLM_ACT_NONE, e) ||
        !vlm_op_layernorm (h, h, L->ln2_w, L->ln2_b, c->eps, e))
      return FALSE;
  }
  return TRUE;
}

/* LN(word + position embeddings) of @n tokens at text positions
 * [text_pos, text_pos + n) into dst [n, D] (or [B, 1, D] with one token per
 * beam, all at text_pos when @same_pos). */
static gboolean
embed_text (VlmGitModel *m, VlmScratch *s, VlmTensor *dst, const gint32 *ids, gint64 n,
            gint64 text_pos, gboolean same_pos)
{
  gint64 D = m->config.decoder.hidden;
  VlmTensor *t = vlm_scratch_new (s, VLM_DTYPE_I32, 1, SHAPE (n));
  VlmTensor *e = vlm_scratch_new (s, VLM_DTYPE_F32, 2, SHAPE (n, D));
  VlmTensor *pos = vlm_scratch_view (s, m->pos_emb, text_pos * D, 2,
                                     SHAPE (same_pos ? 1 : n, D));
  VlmTensor *out = vlm_scratch_view (s, dst, 0, 2, SHAPE (n, D));
  return t && e && pos && out &&
      vlm_tensor_upload (t, ids, n * sizeof (gint32), s->error) &&
      vlm_op_gather_rows (e, m->word_emb, t, s->error) &&
      vlm_op_binary (e, e, pos, VLM_BINARY_ADD, s->error) &&
      vlm_op_layernorm (out, e, m->emb_ln_w, m->emb_ln_b, m->config.decoder.eps, s->error);
}

/* The prefix pass for one sequence: h = [image ; text(ids)], run through the
 * decoder filling the cache rows [0, Ni + n). Returns h. */
static VlmTensor *
prefix_pass (VlmGitModel *m, VlmScratch *s, KvCache *kv, VlmGitImage *img, const gint32 *ids,
             gint64 n)
{
  gint64 Ni = img->tokens->shape[1], D = m->config.decoder.hidden;
  VlmTensor *h = vlm_scratch_new (s, VLM_DTYPE_F32, 3, SHAPE (1, Ni + n, D));
  VlmTensor *hi = vlm_scratch_view (s, h, 0, 3, SHAPE (1, Ni, D));
  VlmTensor *ht = vlm_scratch_view (s, h, Ni * D, 2, SHAPE (n, D));
  if (!h || !hi || !ht || !vlm_op_unary (hi, img->tokens, VLM_ACT_NONE, s->error) ||
      !embed_text (m, s, ht, ids, n, 0, FALSE) || !run_decoder (m, s, kv, h, 0))
    return NULL;
  return h;
}

/* Logits of @rows rows of h [*, D] starting at row @first, downloaded. */
static gboolean
head (VlmGitModel *m, VlmScratch *s, VlmTensor *h, gint64 first, gint64 rows, gfloat *out)
{
  gint64 D = m->config.decoder.hidden, V = m->config.vocab_size;
  VlmTensor *x = vlm_scratch_view (s, h, first * D, 2, SHAPE (rows, D));
  VlmTensor *y = vlm_scratch_new (s, VLM_DTYPE_F32, 2, SHAPE (rows, V));
  return x && y && vlm_op_matmul (y, x, m->head_w, m->head_b, NULL, VLM_ACT_NONE, s->error) &&
      vlm_tensor_download (y, out, rows * V * sizeof (gfloat), s->error);
}

static gboolean
check_ids (VlmGitModel *m, const gint32 *ids, gint n, GError **error)
{
  for (gint i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= m->config.vocab_size) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "git: token id %d at position "
                   "%d is outside the vocabulary (%d)", ids[i], i, m->config.vocab_size);
      return FALSE;
    }
  return TRUE;
}

/**
 * vlm_git_logits:
 * @model: a model
 * @image: an image encoded by this model
 * @ids: (array length=n_ids): text tokens, usually starting with [CLS]
 * @n_ids: number of tokens
 * @logits: (out caller-allocates) (array): n_ids × vocab_size floats
 * @error: return location for a #GError
 *
 * The LM head's logits at every text position, from one full pass (no
 * cache reuse): the reference the incremental decoder is tested against.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_git_logits (VlmGitModel *m, VlmGitImage *image, const gint32 *ids, gint n_ids,
                gfloat *logits, GError **error)
{
  gint64 Ni = image->tokens->shape[1];
  if (n_ids < 1 || n_ids > m->config.max_positions) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "git: %d tokens, expected 1 to "
                 "%d", n_ids, m->config.max_positions);
    return FALSE;
  }
  if (!check_ids (m, ids, n_ids, error))
    return FALSE;
  VlmScratch s;
  KvCache kv = { 0 };
  g_mutex_lock (&m->lock);
  vlm_scratch_init (&s, m->device, error);
  VlmTensor *h = NULL;
  gboolean ok = cache_init (m, &s, &kv, 1, Ni + n_ids) &&
      (h = prefix_pass (m, &s, &kv, image, ids, n_ids)) && head (m, &s, h, Ni, n_ids, logits);
  cache_clear (&kv);
  vlm_scratch_clear (&s);
  g_mutex_unlock (&m->lock);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Search                                                                 */

typedef struct {
  GArray *tokens;              /* generated so far (gint32) */
  gdouble sum;                 /* sum of their log-probabilities */
} Beam;

typedef struct {
  gdouble score;
  gint32 token;
  gint parent;
} Candidate;

/* Larger score first; equal scores: lower token id, then lower parent. */
static gint
candidate_cmp (gconstpointer pa, gconstpointer pb)
{
  const Candidate *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  if (a->token != b->token)
    return a->token < b->token ? -1 : 1;
  return (a->parent > b->parent) - (a->parent < b->parent);
}

/* log-softmax of one row of logits, in double. */
static void
log_softmax (const gfloat *x, gint n, gdouble *out)
{
  gdouble mx = -INFINITY, sum = 0;
  for (gint i = 0; i < n; i++)
    mx = MAX (mx, (gdouble) x[i]);
  for (gint i = 0; i < n; i++)
    sum += exp ((gdouble) x[i] - mx);
  gdouble lse = mx + log (sum);
  for (gint i = 0; i < n; i++)
    out[i] = (gdouble) x[i] - lse;
}

/* Appends the @k best tokens of @lp (ties: lower id) as candidates. */
static void
top_candidates (const gdouble *lp, gint n, gint k, gdouble base, gint parent, GArray *out)
{
  g_autofree gint32 *best = g_new (gint32, k);
  gint have = 0;
  for (gint i = 0; i < n; i++) {
    if (have == k && lp[i] <= lp[best[k - 1]])
      continue;
    gint j = have < k ? have++ : k - 1;
    while (j > 0 && lp[best[j - 1]] < lp[i])
      j--, best[j + 1] = best[j];
    best[j] = i;
  }
  for (gint i = 0; i < have; i++) {
    Candidate c = { base + lp[best[i]], best[i], parent };
    g_array_append_val (out, c);
  }
}

static gdouble
normalised (gdouble sum, gint length, gdouble penalty)
{
  return sum / pow ((gdouble) MAX (length, 1), penalty);
}

static void
set_output (VlmGitOutput *out, const GArray *tokens, gdouble sum, gint n_scored,
            gdouble penalty, gboolean truncated)
{
  out->ids = g_array_sized_new (FALSE, FALSE, sizeof (gint32), tokens->len);
  g_array_append_vals (out->ids, tokens->data, tokens->len);
  out->sum_logprob = sum;
  out->n_scored = n_scored;
  out->score = normalised (sum, n_scored, penalty);
  out->truncated = truncated;
}

/**
 * vlm_git_generate:
 * @model: a model
 * @image: an image encoded by this model
 * @prefix: (array length=n_prefix) (nullable): text tokens after [CLS] (a
 *   VQA question, without [SEP]); empty for a caption
 * @n_prefix: number of prefix tokens
 * @params: decoding options
 * @output: (out caller-allocates): the result; clear with vlm_git_output_clear()
 * @error: return location for a #GError
 *
 * Generates text after [CLS] + @prefix. The image and the prefix run once;
 * each further token is one decoder step per beam over one position, with
 * the keys and values of earlier positions cached.
 *
 * Beam search (num_beams = n; greedy decoding is n = 1), the rules of
 * tests/git_reference.py: live beams start as the empty continuation. Each
 * step scores, for every live beam, its n most likely next tokens (equal
 * log-probabilities: lower id first) as sum(log p), log-softmax in double
 * precision; all candidates are ranked by that sum (ties: lower token id,
 * then lower beam index). Walking down the ranking, a candidate ending in
 * [SEP] within the first n ranks becomes a finished sequence; other
 * candidates become the next live beams until there are n. A sequence's
 * score is sum(log p) / length^length_penalty, its length counting the
 * generated tokens including [SEP]. Search stops once n sequences have
 * finished, no beam is live, or after max_tokens steps. The result is the
 * best-scoring entry of a pool holding the finished sequences in finishing
 * order, followed, when fewer than n finished, by the live beams (those are
 * flagged truncated); on equal scores the earlier entry wins.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_git_generate (VlmGitModel *m, VlmGitImage *image, const gint32 *prefix, gint n_prefix,
                  const VlmGitParams *params, VlmGitOutput *output, GError **error)
{
  const VlmGitConfig *c = &m->config;
  memset (output, 0, sizeof *output);
  gint nb = params->num_beams, max_tokens = params->max_tokens;
  gdouble penalty = params->length_penalty;
  if (nb < 1 || nb > 16 || max_tokens < 1 || max_tokens > 512 || !isfinite (penalty) ||
      n_prefix < 0) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "git: num-beams %d (1 to 16), "
                 "max-tokens %d (1 to 512) or length penalty %g invalid", nb, max_tokens,
                 penalty);
    return FALSE;
  }
  /* The last generated token is never fed back, so [CLS] + prefix + all but
   * one generated token must fit the position embeddings. */
  gint64 lp = 1 + n_prefix;
  if (lp > c->max_positions) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "git: %d prefix tokens leave no "
                 "room to generate in %d text positions", n_prefix, c->max_positions);
    return FALSE;
  }
  max_tokens = (gint) MIN ((gint64) max_tokens, c->max_positions - lp + 1);
  if (n_prefix && !check_ids (m, prefix, n_prefix, error))
    return FALSE;
  g_autofree gint32 *ids = g_new (gint32, lp);
  ids[0] = c->bos_id;
  if (n_prefix)
    memcpy (ids + 1, prefix, n_prefix * sizeof (gint32));

  gint64 Ni = image->tokens->shape[1], V = c->vocab_size;
  gint64 start = Ni + lp;               /* position of the first generated token */
  VlmScratch s;
  KvCache kv = { 0 };
  g_autofree gfloat *logits = g_new (gfloat, nb * V);
  g_autofree gdouble *lsm = g_new (gdouble, V);
  GArray *cands = g_array_new (FALSE, FALSE, sizeof (Candidate));
  Beam *live = g_new0 (Beam, nb), *next = g_new0 (Beam, nb);
  for (gint b = 0; b < nb; b++) {
    live[b].tokens = g_array_new (FALSE, FALSE, sizeof (gint32));
    next[b].tokens = g_array_new (FALSE, FALSE, sizeof (gint32));
  }
  GArray *finished = g_array_new (FALSE, FALSE, sizeof (Beam));
  g_autofree gint32 *parents = g_new (gint32, nb);
  g_autofree gint32 *last = g_new (gint32, nb);
  gint n_live = 1;

  g_mutex_lock (&m->lock);
  vlm_scratch_init (&s, m->device, error);
  VlmTensor *h = NULL;
  gboolean ok = cache_init (m, &s, &kv, nb, start + max_tokens) &&
      (h = prefix_pass (m, &s, &kv, image, ids, lp)) && head (m, &s, h, Ni + lp - 1, 1, logits);
  gint step;
  for (step = 0; ok && step < max_tokens; step++) {
    /* Rank the continuations of every live beam. */
    g_array_set_size (cands, 0);
    for (gint b = 0; b < n_live; b++) {
      log_softmax (logits + b * V, (gint) V, lsm);
      top_candidates (lsm, (gint) V, MIN (nb, (gint) V), live[b].sum, b, cands);
    }
    g_array_sort (cands, candidate_cmp);
    gint n_next = 0;
    for (guint r = 0; r < cands->len && n_next < nb; r++) {
      Candidate *cd = &g_array_index (cands, Candidate, r);
      const Beam *from = &live[cd->parent];
      if (cd->token == c->eos_id) {
        if (r < (guint) nb) {
          Beam f = { g_array_copy (from->tokens), cd->score };
          g_array_append_val (finished, f);
        }
        continue;
      }
      g_array_set_size (next[n_next].tokens, 0);
      g_array_append_vals (next[n_next].tokens, from->tokens->data, from->tokens->len);
      g_array_append_val (next[n_next].tokens, cd->token);
      next[n_next].sum = cd->score;
      parents[n_next] = cd->parent;
      last[n_next] = cd->token;
      n_next++;
    }
    Beam *tmp = live;
    live = next;
    next = tmp;
    gint n_prev = n_live;
    n_live = n_next;
    if (finished->len >= (guint) nb || n_live == 0 || step + 1 == max_tokens)
      break;
    /* One decoder step for every live beam. */
    gboolean identity = n_live == n_prev;
    for (gint b = 0; identity && b < n_live; b++)
      identity = parents[b] == b;
    gint64 pos = start + step;
    VlmTensor *x = vlm_scratch_new (&s, VLM_DTYPE_F32, 3, SHAPE (n_live, 1, c->decoder.hidden));
    ok = x && (identity || cache_reorder (m, &s, &kv, n_prev, parents, n_live)) &&
        embed_text (m, &s, x, last, n_live, pos - Ni, TRUE) &&
        run_decoder (m, &s, &kv, x, pos) && head (m, &s, x, 0, n_live, logits);
  }
  vlm_scratch_clear (&s);
  g_mutex_unlock (&m->lock);

  if (ok) {
    /* The pool: finished sequences in finishing order, then, when fewer
     * than n finished, the live beams; the first best score wins. */
    gint best = -1;
    gboolean best_live = FALSE;
    gdouble best_score = -INFINITY;
    for (guint i = 0; i < finished->len; i++) {
      Beam *f = &g_array_index (finished, Beam, i);
      gdouble sc = normalised (f->sum, f->tokens->len + 1, penalty);
      if (best < 0 || sc > best_score) {
        best_score = sc;
        best = (gint) i;
      }
    }
    for (gint b = 0; finished->len < (guint) nb && b < n_live; b++) {
      gdouble sc = normalised (live[b].sum, live[b].tokens->len, penalty);
      if (best < 0 || sc > best_score) {
        best_score = sc;
        best = b;
        best_live = TRUE;
      }
    }
    if (best_live)
      set_output (output, live[best].tokens, live[best].sum, live[best].tokens->len, penalty,
                  TRUE);
    else
      set_output (output, g_array_index (finished, Beam, best).tokens,
                  g_array_index (finished, Beam, best).sum,
                  g_array_index (finished, Beam, best).tokens->len + 1, penalty, FALSE);
  }
  for (guint i = 0; i < finished->len; i++)
    g_array_unref (g_array_index (finished, Beam, i).tokens);
  g_array_unref (finished);
  for (gint b = 0; b < nb; b++) {
    g_array_unref (live[b].tokens);
    g_array_unref (next[b].tokens);
  }
  g_free (live);
  g_free (next);
  g_array_unref (cands);
  cache_clear (&kv);
  return ok;
}

/**
 * vlm_git_output_clear:
 * @output: an output filled by vlm_git_generate()
 *
 * Frees what it holds.
 */
void
vlm_git_output_clear (VlmGitOutput *output)
{
  g_clear_pointer (&output->ids, g_array_unref);
}

/* ---------------------------------------------------------------------- */
/* Text in, text out                                                      */

static gboolean
need_tokenizer (VlmGitModel *m, GError **error)
{
  if (m->tokenizer)
    return TRUE;
  g_set_error (error, VLM_ERROR, VLM_ERROR_FILE, "git: the model folder has no tokenizer "
               "(vocab.txt)");
  return FALSE;
}

/**
 * vlm_git_caption:
 * @model: a model loaded with its vocab.txt
 * @image: an image encoded by this model
 * @params: decoding options
 * @output: (out caller-allocates) (nullable): the tokens and scores; clear
 *   with vlm_git_output_clear()
 * @error: return location for a #GError
 *
 * Captions the image: generation from [CLS], decoded to clean text.
 *
 * Returns: (transfer full) (nullable): the caption.
 */
gchar *
vlm_git_caption (VlmGitModel *m, VlmGitImage *image, const VlmGitParams *params,
                 VlmGitOutput *output, GError **error)
{
  VlmGitOutput local;
  VlmGitOutput *out = output ? output : &local;
  if (!need_tokenizer (m, error) || !vlm_git_generate (m, image, NULL, 0, params, out, error))
    return NULL;
  gchar *text = vlm_wordpiece_decode (m->tokenizer, (const gint32 *) out->ids->data,
                                      (gint) out->ids->len, TRUE);
  if (!output)
    vlm_git_output_clear (&local);
  return text;
}

/**
 * vlm_git_answer:
 * @model: a model loaded with its vocab.txt (a VQA checkpoint such as
 *   git-base-vqav2)
 * @image: an image encoded by this model
 * @question: UTF-8 text
 * @params: decoding options
 * @output: (out caller-allocates) (nullable): the answer's tokens and
 *   scores; clear with vlm_git_output_clear()
 * @question_truncated: (out) (optional): set when the question had to be
 *   shortened to fit the model's positions
 * @error: return location for a #GError
 *
 * Answers a question in the git-base-vqav2 format: the question's tokens
 * follow [CLS] (no [SEP]) and the answer is what the model generates after
 * them.
 *
 * Returns: (transfer full) (nullable): the answer.
 */
gchar *
vlm_git_answer (VlmGitModel *m, VlmGitImage *image, const gchar *question,
                const VlmGitParams *params, VlmGitOutput *output, gboolean *question_truncated,
                GError **error)
{
  if (!need_tokenizer (m, error))
    return NULL;
  g_autoptr (GArray) q = NULL;
  if (!vlm_wordpiece_encode (m->tokenizer, question, &q, error))
    return NULL;
  if (q->len == 0) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "git: the question is empty");
    return NULL;
  }
  /* [CLS] + question + max_tokens − 1 fed tokens must fit the positions. */
  gint room = m->config.max_positions - params->max_tokens;
  gboolean cut = (gint) q->len > room;
  if (question_truncated)
    *question_truncated = cut;
  if (cut) {
    if (room < 1) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "git: max-tokens %d leaves no "
                   "room for a question in %d positions", params->max_tokens,
                   m->config.max_positions);
      return NULL;
    }
    g_array_set_size (q, room);
  }
  VlmGitOutput local;
  VlmGitOutput *out = output ? output : &local;
  if (!vlm_git_generate (m, image, (const gint32 *) q->data, (gint) q->len, params, out, error))
    return NULL;
  gchar *text = vlm_wordpiece_decode (m->tokenizer, (const gint32 *) out->ids->data,
                                      (gint) out->ids->len, TRUE);
  if (!output)
    vlm_git_output_clear (&local);
  return text;
}
