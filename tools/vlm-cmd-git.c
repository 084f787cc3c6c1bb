/* vlm caption / ask — GIT image captioning and visual question answering, JSON out.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "vlm-cmd.h"
#include "vlm-image.h"
#include "models/vlm-git.h"

typedef struct {
  gchar *model;
  gchar *device;
  gchar *weights;
  gint num_beams;
  gint max_tokens;
  gdouble length_penalty;
} GitOptions;

static void
git_options_clear (GitOptions *o)
{
  g_free (o->model);
  g_free (o->device);
  g_free (o->weights);
}

/* Parses the options; on a usage error prints why and returns FALSE. */
static gboolean
parse (int *argc, char ***argv, const gchar *params, const gchar *summary, GitOptions *o)
{
  o->num_beams = 1;
  o->max_tokens = 20;
  o->length_penalty = 1.0;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &o->model, "Hugging Face GIT folder (default: the demo GIT)", "DIR" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &o->device,
      "auto (default), cpu, vulkan or vulkan:N", "DEV" },
    { "num-beams", 'b', 0, G_OPTION_ARG_INT, &o->num_beams,
      "beam search width, 1 (default, greedy) to 16", "N" },
    { "max-tokens", 't', 0, G_OPTION_ARG_INT, &o->max_tokens,
      "most generated tokens, 1 to 512 (default 20)", "N" },
    { "length-penalty", 0, 0, G_OPTION_ARG_DOUBLE, &o->length_penalty,
      "beam search ranks by sum(log p) / length^P (default 1)", "P" },
    { "weights", 'w', 0, G_OPTION_ARG_STRING, &o->weights,
      "matmul weight precision: f32 (default) or f16", "TYPE" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new (params);
  g_option_context_set_summary (ctx, summary);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!vlm_cmd_parse (ctx, argc, argv))
    return FALSE;
  const gchar *cmd = (*argv)[0];
  if (!o->model) {
    o->model = vlm_cmd_model_or_demo (cmd, NULL, NULL, VLM_DEMO_MODEL_GIT);
    if (!o->model)
      return FALSE;
  }
  if (o->num_beams < 1 || o->num_beams > 16) {
    fprintf (stderr, "vlm %s: --num-beams must be 1 to 16, not %d\n", cmd, o->num_beams);
    return FALSE;
  }
  if (o->max_tokens < 1 || o->max_tokens > 512) {
    fprintf (stderr, "vlm %s: --max-tokens must be 1 to 512, not %d\n", cmd, o->max_tokens);
    return FALSE;
  }
  if (!(o->length_penalty >= -8.0 && o->length_penalty <= 8.0)) {
    fprintf (stderr, "vlm %s: --length-penalty must be -8 to 8\n", cmd);
    return FALSE;
  }
  if (o->weights && strcmp (o->weights, "f32") != 0 && strcmp (o->weights, "f16") != 0) {
    fprintf (stderr, "vlm %s: --weights must be f32 or f16, not \"%s\"\n", cmd, o->weights);
    return FALSE;
  }
  return TRUE;
}

static VlmGitModel *
open_model (const gchar *cmd, const GitOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) dev = vlm_device_open (o->device, &error);
  if (!dev) {
    fprintf (stderr, "vlm %s: %s\n", cmd, error->message);
    return NULL;
  }
  VlmDType w = o->weights && strcmp (o->weights, "f16") == 0 ? VLM_DTYPE_F16 : VLM_DTYPE_F32;
  VlmGitModel *m = vlm_git_model_load (o->model, dev, w, &error);
  if (!m) {
    fprintf (stderr, "vlm %s: %s\n", cmd, error->message);
    return NULL;
  }
  g_autofree gchar *vocab = g_build_filename (o->model, "vocab.txt", NULL);
  if (!g_file_test (vocab, G_FILE_TEST_IS_REGULAR)) {
    fprintf (stderr, "vlm %s: %s: no vocab.txt (the WordPiece vocabulary is needed to "
             "write text)\n", cmd, o->model);
    vlm_git_model_free (m);
    return NULL;
  }
  return m;
}

/* Decodes an image file and encodes it once. */
static VlmGitImage *
encode_file (VlmGitModel *m, const gchar *path, GError **error)
{
  VlmImage img;
  if (!vlm_image_load (path, &img, error))
    return NULL;
  VlmFrame f = { .data = img.data, .size = img.size };
  vlm_pixel_format_frame_size (VLM_PIXEL_RGB, img.width, img.height, &f.params);
  f.params.stride[0] = img.stride;
  VlmGitImage *image = vlm_git_encode_frame (m, &f, error);
  vlm_image_clear (&img);
  return image;
}

static void
begin_output (JsonBuilder *b, VlmGitModel *m, const GitOptions *o)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, o->model);
  json_builder_set_member_name (b, "device");
  json_builder_add_string_value (b, vlm_device_get_name (vlm_git_model_get_device (m)));
  json_builder_set_member_name (b, "num_beams");
  json_builder_add_int_value (b, o->num_beams);
  json_builder_set_member_name (b, "max_tokens");
  json_builder_add_int_value (b, o->max_tokens);
}

/* "score" (mean log-probability), "truncated" and "tokens" of one result. */
static void
add_result (JsonBuilder *b, const VlmGitOutput *out)
{
  json_builder_set_member_name (b, "score");
  json_builder_add_double_value (b, out->n_scored > 0 ? out->sum_logprob / out->n_scored : 0.0);
  json_builder_set_member_name (b, "truncated");
  json_builder_add_boolean_value (b, out->truncated);
  json_builder_set_member_name (b, "tokens");
  json_builder_begin_array (b);
  for (guint i = 0; out->ids && i < out->ids->len; i++)
    json_builder_add_int_value (b, g_array_index (out->ids, gint32, i));
  json_builder_end_array (b);
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

static int
fail (const gchar *cmd, GError *error)
{
  fprintf (stderr, "vlm %s: %s\n", cmd, error->message);
  g_error_free (error);
  return 1;
}

static VlmGitParams
params_of (const GitOptions *o)
{
  VlmGitParams p = { .num_beams = o->num_beams, .max_tokens = o->max_tokens,
                     .length_penalty = (gfloat) o->length_penalty };
  return p;
}

/**
 * vlm_cmd_caption:
 * @argc: argument count
 * @argv: arguments from the command name on
 *
 * `vlm caption --model DIR IMAGE…`: prints a caption per image.
 *
 * Returns: the exit status (0; 1 when a model or image fails; 2 on usage
 *   errors).
 */
int
vlm_cmd_caption (int argc, char **argv)
{
  GitOptions o = { 0 };
  gst_init (NULL, NULL);
  if (!parse (&argc, &argv, "IMAGE… — caption images with a GIT model, JSON out",
              "Decodes each image with GStreamer, encodes it with the model's image encoder and "
              "generates a caption (greedy, or beam search with --num-beams). Prints the "
              "caption, its score (mean log-probability of the generated tokens, end token "
              "included), whether it hit --max-tokens and the token ids.", &o) || argc < 2) {
    if (argc < 2 && o.model)
      fprintf (stderr, "vlm caption: give at least one image file\n");
    git_options_clear (&o);
    return 2;
  }
  g_autoptr (VlmGitModel) m = open_model (argv[0], &o);
  if (!m) {
    git_options_clear (&o);
    return 1;
  }
  VlmGitParams params = params_of (&o);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  begin_output (b, m, &o);
  json_builder_set_member_name (b, "images");
  json_builder_begin_array (b);
  for (gint i = 1; i < argc; i++) {
    GError *error = NULL;
    g_autoptr (VlmGitImage) image = encode_file (m, argv[i], &error);
    VlmGitOutput out = { 0 };
    g_autofree gchar *text = image ? vlm_git_caption (m, image, &params, &out, &error) : NULL;
    if (!text) {
      git_options_clear (&o);
      return fail (argv[0], error);
    }
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "file");
    json_builder_add_string_value (b, argv[i]);
    json_builder_set_member_name (b, "caption");
    json_builder_add_string_value (b, text);
    add_result (b, &out);
    json_builder_end_object (b);
    vlm_git_output_clear (&out);
  }
  json_builder_end_array (b);
  print_output (b);
  git_options_clear (&o);
  return 0;
}

/**
 * vlm_cmd_ask:
 * @argc: argument count
 * @argv: arguments from the command name on
 *
 * `vlm ask --model DIR IMAGE QUESTION`: prints the answer.
 *
 * Returns: the exit status (0; 1 when the model or image fails; 2 on usage
 *   errors, an empty or non-UTF-8 question included).
 */
int
vlm_cmd_ask (int argc, char **argv)
{
  GitOptions o = { 0 };
  gst_init (NULL, NULL);
  if (!parse (&argc, &argv, "IMAGE QUESTION — answer a question about an image (GIT VQA)",
              "The question's tokens follow [CLS] as in git-base-vqav2 and the model generates "
              "the answer. Prints the answer, its score (mean log-probability), whether it hit "
              "--max-tokens, whether the question had to be shortened, and the token ids.",
              &o) || argc != 3) {
    if (argc != 3 && o.model)
      fprintf (stderr, "vlm ask: give one image file and one question (quote it)\n");
    git_options_clear (&o);
    return 2;
  }
  const gchar *question = argv[2];
  g_autofree gchar *stripped = g_strstrip (g_strdup (question));
  if (!g_utf8_validate (question, -1, NULL) || !*stripped) {
    fprintf (stderr, "vlm ask: the question is %s\n", *stripped ? "not valid UTF-8" : "empty");
    git_options_clear (&o);
    return 2;
  }
  g_autoptr (VlmGitModel) m = open_model (argv[0], &o);
  if (!m) {
    git_options_clear (&o);
    return 1;
  }
  VlmGitParams params = params_of (&o);
  GError *error = NULL;
  g_autoptr (VlmGitImage) image = encode_file (m, argv[1], &error);
  VlmGitOutput out = { 0 };
  gboolean question_truncated = FALSE;
  g_autofree gchar *answer = image ? vlm_git_answer (m, image, stripped, &params, &out,
                                                     &question_truncated, &error) : NULL;
  if (!answer) {
    git_options_clear (&o);
    return fail (argv[0], error);
  }
  if (question_truncated)
    fprintf (stderr, "vlm ask: warning: the question is longer than the model takes with "
             "--max-tokens %d; only its beginning was used\n", o.max_tokens);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  begin_output (b, m, &o);
  json_builder_set_member_name (b, "image");
  json_builder_add_string_value (b, argv[1]);
  json_builder_set_member_name (b, "question");
  json_builder_add_string_value (b, stripped);
  json_builder_set_member_name (b, "answer");
  json_builder_add_string_value (b, answer);
  add_result (b, &out);
  json_builder_set_member_name (b, "question_truncated");
  json_builder_add_boolean_value (b, question_truncated);
  vlm_git_output_clear (&out);
  print_output (b);
  git_options_clear (&o);
  return 0;
}
