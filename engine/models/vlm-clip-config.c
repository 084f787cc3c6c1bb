/* gst-vlm engine — CLIP config.json and preprocessor_config.json.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Absent keys take the Hugging Face class defaults (CLIPTextConfig,
 * CLIPVisionConfig, CLIPImageProcessor), which is what the files rely on.
 */
#include <string.h>

#include "vlm-clip-encoder.h"

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
      vlm_transformer_config_read (&f, vision, 768, 3072, 12, 12, "quick_gelu", 1e-5,
                                   &config->vision, &local) &&
      vlm_json_int (&f, vision, "image_size", 1, 4096, 224, &image, &local) &&
      vlm_json_int (&f, vision, "patch_size", 1, 4096, 32, &patch, &local) &&
      vlm_transformer_config_read (&f, text, 512, 2048, 8, 12, "quick_gelu", 1e-5,
                                   &config->text, &local) &&
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
  return vlm_image_config_load (dir, config->image_size, &config->image, error);
}
