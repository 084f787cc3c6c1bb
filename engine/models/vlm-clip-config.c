/* gst-vlm engine — CLIP config.json and preprocessor_config.json.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Absent keys take the Hugging Face class defaults (CLIPTextConfig,
 * CLIPVisionConfig, CLIPImageProcessor), which is what the files rely on.
 */
#include <string.h>

#include "vlm-clip.h"
#include "../loaders/vlm-json.h"

static gboolean
read_activation (const VlmJsonFile *f, JsonObject *o, VlmActivation *act, GError **error)
{
  const gchar *name;
  if (!vlm_json_string (f, o, "hidden_act", "quick_gelu", &name, error))
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

static gboolean
read_transformer (const VlmJsonFile *f, JsonObject *o, gint64 hidden, gint64 inter,
                  gint64 heads, gint64 layers, VlmTransformerConfig *c, GError **error)
{
  gint64 h, i, nh, nl;
  gdouble eps;
  if (!vlm_json_int (f, o, "hidden_size", 1, 65536, hidden, &h, error) ||
      !vlm_json_int (f, o, "intermediate_size", 1, 262144, inter, &i, error) ||
      !vlm_json_int (f, o, "num_attention_heads", 1, 1024, heads, &nh, error) ||
      !vlm_json_int (f, o, "num_hidden_layers", 1, 1024, layers, &nl, error) ||
      !vlm_json_double (f, o, "layer_norm_eps", 1e-5, &eps, error) ||
      !read_activation (f, o, &c->act, error))
    return FALSE;
  if (h % nh != 0) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                 "%s: hidden_size %" G_GINT64_FORMAT " is not a multiple of num_attention_heads %"
                 G_GINT64_FORMAT, f->path, h, nh);
    return FALSE;
  }
  if (eps < 0) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: layer_norm_eps is negative", f->path);
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

static gboolean
load_preprocessor (const gchar *dir, VlmClipConfig *c, GError **error)
{
  static const gdouble mean[3] = { 0.48145466, 0.4578275, 0.40821073 };
  static const gdouble std[3] = { 0.26862954, 0.26130258, 0.27577711 };
  g_autofree gchar *path = g_build_filename (dir, "preprocessor_config.json", NULL);
  VlmImageParams *p = &c->image;
  gdouble m[3], s[3];
  memset (p, 0, sizeof *p);
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    /* Optional: a model folder without it gets CLIP's standard values. */
    memcpy (m, mean, sizeof m);
    memcpy (s, std, sizeof s);
    p->resize_short = p->crop = c->image_size;
    p->resample = VLM_RESAMPLE_BICUBIC;
  } else {
    VlmJsonFile f;
    gint64 resample;
    if (!vlm_json_file_load (&f, path, error))
      return FALSE;
    gboolean ok = read_size (&f, "size", "shortest_edge", c->image_size, &p->resize_short, error)
        && read_size (&f, "crop_size", "height", c->image_size, &p->crop, error)
        && vlm_json_doubles (&f, f.root, "image_mean", 3, mean, m, error)
        && vlm_json_doubles (&f, f.root, "image_std", 3, std, s, error)
        && vlm_json_int (&f, f.root, "resample", 0, 5, 3, &resample, error);
    if (ok && (p->crop != c->image_size || p->resize_short < p->crop)) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                   "%s: crop %d and resize %d do not give the model's %d-pixel input", path,
                   p->crop, p->resize_short, c->image_size);
      ok = FALSE;
    }
    vlm_json_file_clear (&f);
    if (!ok)
      return FALSE;
    /* PIL codes: 2 bilinear, 3 bicubic; others (nearest, lanczos…) fall
     * back to bicubic, the closest filter we have. */
    p->resample = resample == 2 ? VLM_RESAMPLE_BILINEAR : VLM_RESAMPLE_BICUBIC;
  }
  for (gint i = 0; i < 3; i++) {
    if (s[i] <= 0) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: image_std must be positive", path);
      return FALSE;
    }
    p->mean[i] = (gfloat) m[i];
    p->std[i] = (gfloat) s[i];
  }
  return TRUE;
}

/**
 * vlm_clip_config_load:
 * @dir: a Hugging Face CLIP model folder
 * @config: (out caller-allocates): the configuration
 * @error: return location for a #GError
 *
 * Reads config.json (text_config / vision_config, or the older *_config_dict
 * keys) and preprocessor_config.json (optional: CLIP's standard values when
 * absent).
 *
 * Returns: %TRUE on success; %FALSE with an error naming the file and key.
 */
gboolean
vlm_clip_config_load (const gchar *dir, VlmClipConfig *config, GError **error)
{
  g_autofree gchar *path = g_build_filename (dir, "config.json", NULL);
  VlmJsonFile f;
  if (!vlm_json_file_load (&f, path, error))
    return FALSE;
  memset (config, 0, sizeof *config);
  GError *local = NULL;
  JsonObject *text = vlm_json_object (&f, f.root, "text_config", &local);
  if (!text && !local)
    text = vlm_json_object (&f, f.root, "text_config_dict", &local);
  JsonObject *vision = local ? NULL : vlm_json_object (&f, f.root, "vision_config", &local);
  if (!vision && !local)
    vision = vlm_json_object (&f, f.root, "vision_config_dict", &local);
  const gchar *type = NULL;
  if (!local)
    vlm_json_string (&f, f.root, "model_type", "clip", &type, &local);
  if (!local && strcmp (type, "clip") != 0)
    g_set_error (&local, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "%s: model_type \"%s\" is not a CLIP model", path, type);
  if (!local && (!text || !vision))
    g_set_error (&local, VLM_ERROR, VLM_ERROR_FORMAT, "%s: text_config and vision_config are "
                 "required", path);
  gint64 image, patch, vocab, positions, eot, proj;
  gboolean ok = !local &&
      read_transformer (&f, vision, 768, 3072, 12, 12, &config->vision, &local) &&
      vlm_json_int (&f, vision, "image_size", 1, 4096, 224, &image, &local) &&
      vlm_json_int (&f, vision, "patch_size", 1, 4096, 32, &patch, &local) &&
      read_transformer (&f, text, 512, 2048, 8, 12, &config->text, &local) &&
      vlm_json_int (&f, text, "vocab_size", 2, 1 << 24, 49408, &vocab, &local) &&
      vlm_json_int (&f, text, "max_position_embeddings", 2, 65536, 77, &positions, &local) &&
      vlm_json_int (&f, text, "eos_token_id", 0, 1 << 24, 49407, &eot, &local) &&
      vlm_json_int (&f, f.root, "projection_dim", 1, 65536, 512, &proj, &local);
  if (ok) {
    gint64 ch;
    ok = vlm_json_int (&f, vision, "num_channels", 3, 3, 3, &ch, &local);
  }
  if (ok && (image % patch != 0 || eot >= vocab)) {
    g_set_error (&local, VLM_ERROR, VLM_ERROR_FORMAT,
                 image % patch ? "%s: image_size is not a multiple of patch_size"
                 : "%s: eos_token_id is outside the vocabulary", path);
    ok = FALSE;
  }
  vlm_json_file_clear (&f);
  if (!ok) {
    g_propagate_error (error, local);
    return FALSE;
  }
  /* HF's CLIP configs once carried eos_token_id 2 (a placeholder) while the
   * vocabulary's eot is its last id; pooling then uses argmax of the ids. */
  config->eot_id = eot == 2 ? (gint) vocab - 1 : (gint) eot;
  config->image_size = (gint) image;
  config->patch_size = (gint) patch;
  config->vocab_size = (gint) vocab;
  config->max_positions = (gint) positions;
  config->projection_dim = (gint) proj;
  return load_preprocessor (dir, config, error);
}
