/* vlm embed-image / embed-text / match — CLIP from the command line, JSON out.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "vlm-cmd.h"
#include "vlm-image.h"
#include "models/vlm-clip.h"

typedef struct {
  gchar *model;
  gchar *device;
  gchar *weights;
} ClipOptions;

static void
clip_options_clear (ClipOptions *o)
{
  g_free (o->model);
  g_free (o->device);
  g_free (o->weights);
}

static gboolean
parse (int *argc, char ***argv, const gchar *params, const gchar *summary, ClipOptions *o)
{
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &o->model, "Hugging Face CLIP folder (default: the demo CLIP)", "DIR" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &o->device,
      "auto (default), cpu, vulkan or vulkan:N", "DEV" },
    { "weights", 'w', 0, G_OPTION_ARG_STRING, &o->weights,
      "matmul weight precision: f32 (default) or f16", "TYPE" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new (params);
  g_option_context_set_summary (ctx, summary);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!vlm_cmd_parse (ctx, argc, argv))
    return FALSE;
  if (!o->model) {
    o->model = vlm_cmd_model_or_demo ((*argv)[0], NULL, NULL, VLM_DEMO_MODEL_CLIP);
    if (!o->model)
      return FALSE;
  }
  if (o->weights && strcmp (o->weights, "f32") != 0 && strcmp (o->weights, "f16") != 0) {
    fprintf (stderr, "vlm %s: --weights must be f32 or f16, not \"%s\"\n", (*argv)[0],
             o->weights);
    return FALSE;
  }
  return TRUE;
}

static VlmClipModel *
open_model (const gchar *cmd, const ClipOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) dev = vlm_device_open (o->device, &error);
  if (!dev) {
    fprintf (stderr, "vlm %s: %s\n", cmd, error->message);
    return NULL;
  }
  VlmDType w = o->weights && strcmp (o->weights, "f16") == 0 ? VLM_DTYPE_F16 : VLM_DTYPE_F32;
  VlmClipModel *m = vlm_clip_model_load (o->model, dev, w, &error);
  if (!m)
    fprintf (stderr, "vlm %s: %s\n", cmd, error->message);
  return m;
}

static void
add_vector (JsonBuilder *b, const gchar *key, const gfloat *v, gint n)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (gint i = 0; i < n; i++)
    json_builder_add_double_value (b, v[i]);
  json_builder_end_array (b);
}

static void
begin_output (JsonBuilder *b, VlmClipModel *m, const ClipOptions *o)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, o->model);
  json_builder_set_member_name (b, "device");
  json_builder_add_string_value (b, vlm_device_get_name (vlm_clip_model_get_device (m)));
}

static void
print_output (JsonBuilder *b)
{
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  g_autofree gchar *text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}

/* Decodes and encodes @n image files into @out. */
static gboolean
encode_files (VlmClipModel *m, char **files, gint n, gfloat *out, GError **error)
{
  gint P = vlm_clip_model_get_config (m)->projection_dim;
  for (gint i = 0; i < n; i++) {
    VlmImage img;
    if (!vlm_image_load (files[i], &img, error))
      return FALSE;
    VlmFrame f = { .data = img.data, .size = img.size };
    vlm_pixel_format_frame_size (VLM_PIXEL_RGB, img.width, img.height, &f.params);
    f.params.stride[0] = img.stride;
    gboolean ok = vlm_clip_encode_frames (m, &f, 1, out + (gsize) i * P, error);
    vlm_image_clear (&img);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

static int
fail (const gchar *cmd, GError *error)
{
  fprintf (stderr, "vlm %s: %s\n", cmd, error->message);
  g_error_free (error);
  return 1;
}

/**
 * vlm_cmd_embed_image:
 * @argc: argument count
 * @argv: arguments from the command name on
 *
 * `vlm embed-image --model DIR IMAGE…`: prints each image's embedding.
 *
 * Returns: the exit status.
 */
int
vlm_cmd_embed_image (int argc, char **argv)
{
  ClipOptions o = { 0 };
  gst_init (NULL, NULL);
  if (!parse (&argc, &argv, "IMAGE… — print CLIP image embeddings as JSON",
              "Decodes each image with GStreamer, preprocesses it as the model's "
              "preprocessor_config.json says and prints its L2-normalised embedding.", &o) ||
      argc < 2) {
    if (argc < 2 && o.model)
      fprintf (stderr, "vlm embed-image: give at least one image file\n");
    clip_options_clear (&o);
    return 2;
  }
  g_autoptr (VlmClipModel) m = open_model (argv[0], &o);
  if (!m) {
    clip_options_clear (&o);
    return 1;
  }
  gint n = argc - 1, P = vlm_clip_model_get_config (m)->projection_dim;
  g_autofree gfloat *emb = g_new (gfloat, (gsize) n * P);
  GError *error = NULL;
  if (!encode_files (m, argv + 1, n, emb, &error)) {
    clip_options_clear (&o);
    return fail (argv[0], error);
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  begin_output (b, m, &o);
  json_builder_set_member_name (b, "images");
  json_builder_begin_array (b);
  for (gint i = 0; i < n; i++) {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "file");
    json_builder_add_string_value (b, argv[i + 1]);
    add_vector (b, "embedding", emb + (gsize) i * P, P);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  print_output (b);
  clip_options_clear (&o);
  return 0;
}

static gboolean
check_texts (char **texts, gint n, GError **error)
{
  for (gint i = 0; i < n; i++)
    if (!g_utf8_validate (texts[i], -1, NULL)) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "text %d is not valid UTF-8",
                   i + 1);
      return FALSE;
    }
  return TRUE;
}

/**
 * vlm_cmd_embed_text:
 * @argc: argument count
 * @argv: arguments from the command name on
 *
 * `vlm embed-text --model DIR TEXT…`: prints each text's embedding.
 *
 * Returns: the exit status.
 */
int
vlm_cmd_embed_text (int argc, char **argv)
{
  ClipOptions o = { 0 };
  if (!parse (&argc, &argv, "TEXT… — print CLIP text embeddings as JSON",
              "Tokenises each text with the model's vocab.json + merges.txt (truncated to the "
              "context length) and prints its L2-normalised embedding.", &o) || argc < 2) {
    if (argc < 2 && o.model)
      fprintf (stderr, "vlm embed-text: give at least one text\n");
    clip_options_clear (&o);
    return 2;
  }
  g_autoptr (VlmClipModel) m = open_model (argv[0], &o);
  if (!m) {
    clip_options_clear (&o);
    return 1;
  }
  gint n = argc - 1, P = vlm_clip_model_get_config (m)->projection_dim;
  g_autofree gfloat *emb = g_new (gfloat, (gsize) n * P);
  GError *error = NULL;
  if (!check_texts (argv + 1, n, &error) ||
      !vlm_clip_encode_texts (m, (const gchar *const *) argv + 1, n, emb, &error)) {
    clip_options_clear (&o);
    return fail (argv[0], error);
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  begin_output (b, m, &o);
  json_builder_set_member_name (b, "texts");
  json_builder_begin_array (b);
  for (gint i = 0; i < n; i++) {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "text");
    json_builder_add_string_value (b, argv[i + 1]);
    add_vector (b, "embedding", emb + (gsize) i * P, P);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  print_output (b);
  clip_options_clear (&o);
  return 0;
}

/**
 * vlm_cmd_match:
 * @argc: argument count
 * @argv: arguments from the command name on
 *
 * `vlm match --model DIR IMAGE TEXT…`: prints the image's similarity to each
 * text (cosine, logits, softmax probabilities) and the best text.
 *
 * Returns: the exit status.
 */
int
vlm_cmd_match (int argc, char **argv)
{
  ClipOptions o = { 0 };
  gst_init (NULL, NULL);
  if (!parse (&argc, &argv, "IMAGE TEXT… — zero-shot match an image against texts",
              "Prints, for each text, the cosine similarity to the image, the logit "
              "(exp(logit_scale) × cosine) and the softmax probability over the texts.", &o) ||
      argc < 3) {
    if (argc < 3 && o.model)
      fprintf (stderr, "vlm match: give an image and at least one text\n");
    clip_options_clear (&o);
    return 2;
  }
  g_autoptr (VlmClipModel) m = open_model (argv[0], &o);
  if (!m) {
    clip_options_clear (&o);
    return 1;
  }
  gint n = argc - 2, P = vlm_clip_model_get_config (m)->projection_dim;
  g_autofree gfloat *img = g_new (gfloat, P);
  g_autofree gfloat *txt = g_new (gfloat, (gsize) n * P);
  g_autofree gfloat *logits = g_new (gfloat, n);
  g_autofree gfloat *probs = g_new (gfloat, n);
  GError *error = NULL;
  if (!encode_files (m, argv + 1, 1, img, &error) || !check_texts (argv + 2, n, &error) ||
      !vlm_clip_encode_texts (m, (const gchar *const *) argv + 2, n, txt, &error)) {
    clip_options_clear (&o);
    return fail (argv[0], error);
  }
  vlm_clip_scores (m, img, 1, txt, n, logits, probs);
  gint best = 0;
  for (gint i = 1; i < n; i++)
    if (probs[i] > probs[best])
      best = i;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  begin_output (b, m, &o);
  json_builder_set_member_name (b, "image");
  json_builder_add_string_value (b, argv[1]);
  json_builder_set_member_name (b, "matches");
  json_builder_begin_array (b);
  gfloat scale = vlm_clip_model_logit_scale (m);
  for (gint i = 0; i < n; i++) {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "text");
    json_builder_add_string_value (b, argv[i + 2]);
    json_builder_set_member_name (b, "cosine");
    json_builder_add_double_value (b, logits[i] / scale);
    json_builder_set_member_name (b, "logit");
    json_builder_add_double_value (b, logits[i]);
    json_builder_set_member_name (b, "probability");
    json_builder_add_double_value (b, probs[i]);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "best");
  json_builder_add_string_value (b, argv[best + 2]);
  print_output (b);
  clip_options_clear (&o);
  return 0;
}
