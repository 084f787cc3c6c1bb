/* gst-vlm tests — CLIP towers against the numpy reference (tests/clip_reference.py).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The golden files come from tests/make_clip_golden.py run on a random
 * checkpoint written by models/make_clip_checkpoint.py (both at build time).
 * Environment: VLM_TEST_CLIP_MODEL (the checkpoint), VLM_TEST_CLIP_GOLDEN
 * (the golden folder). Each case runs on the CPU backend and on Vulkan
 * (lavapipe counts); without a Vulkan device the Vulkan cases skip, or fail
 * when CI=true.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/vlm-clip.h"

typedef struct {
  gint n_images, n_texts, size, proj, length;
  gfloat *pixels, *image_embeds, *text_embeds, *logits;
  gint32 *ids;
} Golden;

static Golden golden;
static const gchar *model_dir;
static const gchar *golden_dir;

static gpointer
read_raw (const gchar *name, gsize expect)
{
  g_autofree gchar *path = g_build_filename (golden_dir, name, NULL);
  gchar *data = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;
  if (!g_file_get_contents (path, &data, &len, &error))
    g_error ("golden file: %s", error->message);
  if (len != expect)
    g_error ("golden file %s: %" G_GSIZE_FORMAT " bytes, expected %" G_GSIZE_FORMAT, path, len,
             expect);
  return data;
}

static void
load_golden (void)
{
  g_autofree gchar *path = g_build_filename (golden_dir, "shapes.txt", NULL);
  g_autofree gchar *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL) ||
      sscanf (text, "%d %d %d %d %d", &golden.n_images, &golden.n_texts, &golden.size,
              &golden.proj, &golden.length) != 5)
    g_error ("cannot read %s", path);
  Golden *g = &golden;
  g->pixels = read_raw ("pixels.f32", (gsize) g->n_images * 3 * g->size * g->size * 4);
  g->ids = read_raw ("ids.i32", (gsize) g->n_texts * g->length * 4);
  g->image_embeds = read_raw ("image_embeds.f32", (gsize) g->n_images * g->proj * 4);
  g->text_embeds = read_raw ("text_embeds.f32", (gsize) g->n_texts * g->proj * 4);
  g->logits = read_raw ("logits.f32", (gsize) g->n_images * g->n_texts * 4);
}

typedef struct {
  const gchar *device;
  VlmDType weights;
} Variant;

/* Opens the variant's device, or skips (fails under CI=true) without one. */
static VlmDevice *
open_device (const Variant *v)
{
  g_autoptr (GError) error = NULL;
  VlmDevice *dev = vlm_device_open (v->device, &error);
  if (!dev) {
    if (g_strcmp0 (g_getenv ("CI"), "true") == 0)
      g_test_fail_printf ("CI=true and no device \"%s\": %s", v->device, error->message);
    else
      g_test_skip_printf ("no device \"%s\": %s", v->device, error->message);
    return NULL;
  }
  g_test_message ("device: %s", vlm_device_get_name (dev));
  return dev;
}

static VlmClipModel *
open_model (const Variant *v)
{
  g_autoptr (VlmDevice) dev = open_device (v);
  if (!dev)
    return NULL;
  g_autoptr (GError) error = NULL;
  VlmClipModel *m = vlm_clip_model_load (model_dir, dev, v->weights, &error);
  g_assert_no_error (error);
  g_assert_nonnull (m);
  const VlmClipConfig *c = vlm_clip_model_get_config (m);
  g_assert_cmpint (c->projection_dim, ==, golden.proj);
  g_assert_cmpint (c->image_size, ==, golden.size);
  return m;
}

/* Cosine of each row pair; fails the test below @limit. */
static void
check_cosines (const gchar *what, const gfloat *ref, const gfloat *got, gint rows, gint dim,
               gdouble limit)
{
  for (gint r = 0; r < rows; r++) {
    gdouble dot = 0, na = 0, nb = 0;
    for (gint i = 0; i < dim; i++) {
      gdouble a = ref[r * dim + i], b = got[r * dim + i];
      g_assert_true (isfinite (b));
      dot += a * b;
      na += a * a;
      nb += b * b;
    }
    gdouble cosine = dot / sqrt (na * nb);
    g_test_message ("%s row %d: cosine %.8f (limit %.4f), norm %.6f", what, r, cosine, limit,
                    sqrt (nb));
    g_assert_cmpfloat (fabs (sqrt (nb) - 1.0), <, 1e-4);
    g_assert_cmpfloat (cosine, >=, limit);
  }
}

static gdouble
limit_for (const Variant *v)
{
  return v->weights == VLM_DTYPE_F16 ? 0.999 : 0.9999;
}

static void
test_image (gconstpointer data)
{
  const Variant *v = data;
  g_autoptr (VlmClipModel) m = open_model (v);
  if (!m)
    return;
  g_autofree gfloat *emb = g_new (gfloat, (gsize) golden.n_images * golden.proj);
  g_autoptr (GError) error = NULL;
  g_assert_true (vlm_clip_encode_pixels (m, golden.pixels, golden.n_images, emb, &error));
  g_assert_no_error (error);
  check_cosines ("image", golden.image_embeds, emb, golden.n_images, golden.proj, limit_for (v));
}

static void
test_text (gconstpointer data)
{
  const Variant *v = data;
  g_autoptr (VlmClipModel) m = open_model (v);
  if (!m)
    return;
  g_autofree gfloat *emb = g_new (gfloat, (gsize) golden.n_texts * golden.proj);
  g_autoptr (GError) error = NULL;
  g_assert_true (vlm_clip_encode_ids (m, golden.ids, golden.n_texts, emb, &error));
  g_assert_no_error (error);
  check_cosines ("text", golden.text_embeds, emb, golden.n_texts, golden.proj, limit_for (v));

  /* The same rows one at a time: batching must not change a row. */
  g_autofree gfloat *one = g_new (gfloat, golden.proj);
  for (gint r = 0; r < golden.n_texts; r++) {
    g_assert_true (vlm_clip_encode_ids (m, golden.ids + (gsize) r * golden.length, 1, one,
                                        &error));
    check_cosines ("text (batch of 1)", emb + (gsize) r * golden.proj, one, 1, golden.proj,
                   0.99999);
  }
}

static void
test_scores (gconstpointer data)
{
  const Variant *v = data;
  g_autoptr (VlmClipModel) m = open_model (v);
  if (!m)
    return;
  gint ni = golden.n_images, nt = golden.n_texts;
  g_autofree gfloat *logits = g_new (gfloat, ni * nt);
  g_autofree gfloat *probs = g_new (gfloat, ni * nt);
  vlm_clip_scores (m, golden.image_embeds, ni, golden.text_embeds, nt, logits, probs);
  for (gint i = 0; i < ni; i++) {
    gdouble sum = 0;
    for (gint j = 0; j < nt; j++) {
      g_assert_cmpfloat_with_epsilon (logits[i * nt + j], golden.logits[i * nt + j], 1e-3);
      sum += probs[i * nt + j];
    }
    g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
  }
}

/* A synthetic RGB frame of odd size through the device's preprocessing: the
 * CPU and Vulkan results must agree (the preprocessing itself is checked
 * against a naive reference in the op tests). */
static void
test_frames (gconstpointer data)
{
  const Variant *v = data;
  g_autoptr (VlmClipModel) m = open_model (v);
  if (!m)
    return;
  Variant cv = { "cpu", v->weights };
  g_autoptr (VlmClipModel) ref = open_model (&cv);
  gint w = 61, h = 47;
  VlmFrame f = { 0 };
  f.size = vlm_pixel_format_frame_size (VLM_PIXEL_RGB, w, h, &f.params);
  g_autofree guint8 *rgb = g_new (guint8, f.size);
  for (gsize i = 0; i < f.size; i++)
    rgb[i] = (guint8) ((i * 2654435761u) >> 13);
  f.data = rgb;
  g_autofree gfloat *a = g_new (gfloat, golden.proj);
  g_autofree gfloat *b = g_new (gfloat, golden.proj);
  g_autoptr (GError) error = NULL;
  g_assert_true (vlm_clip_encode_frames (m, &f, 1, a, &error));
  g_assert_true (vlm_clip_encode_frames (ref, &f, 1, b, &error));
  g_assert_no_error (error);
  check_cosines ("frame vs cpu", b, a, 1, golden.proj, 0.9999);
}

static void
test_texts (gconstpointer data)
{
  const Variant *v = data;
  g_autoptr (VlmClipModel) m = open_model (v);
  if (!m)
    return;
  g_autoptr (GError) error = NULL;
  GString *longer = g_string_new (NULL);
  for (gint i = 0; i < 200; i++)
    g_string_append (longer, "a red car and ");
  const gchar *texts[] = { "a photo of a cat", "", longer->str };
  g_autofree gfloat *emb = g_new (gfloat, 3 * golden.proj);
  g_assert_true (vlm_clip_encode_texts (m, texts, 3, emb, &error));
  g_assert_no_error (error);
  for (gint i = 0; i < 3 * golden.proj; i++)
    g_assert_true (isfinite (emb[i]));
  g_string_free (longer, TRUE);

  const gchar *bad[] = { "caf\xc3" };
  g_assert_false (vlm_clip_encode_texts (m, bad, 1, emb, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_test_message ("non-UTF-8: %s", error->message);
}

static void
expect_load_error (const gchar *sub, const gchar *const *needles)
{
  g_autofree gchar *dir = sub[0] == '/' ? g_strdup (sub) : g_build_filename (golden_dir, sub, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) cpu = vlm_device_open ("cpu", &error);
  g_assert_no_error (error);
  g_autoptr (VlmClipModel) m = vlm_clip_model_load (dir, cpu, VLM_DTYPE_F32, &error);
  g_assert_null (m);
  g_assert_nonnull (error);
  g_test_message ("%s: %s", sub, error->message);
  for (gint i = 0; needles[i]; i++)
    if (!strstr (error->message, needles[i]))
      g_test_fail_printf ("%s: the error \"%s\" does not mention \"%s\"", sub, error->message,
                          needles[i]);
}

static void
test_bad_models (void)
{
  expect_load_error ("bad-missing-tensor", (const gchar *[]) {
                       "model.safetensors", "text_model.final_layer_norm.bias", "missing", NULL });
  expect_load_error ("bad-wrong-shape", (const gchar *[]) {
                       "vision_model.encoder.layers.0.mlp.fc1.weight", "expected", NULL });
  expect_load_error ("bad-truncated", (const gchar *[]) { "model.safetensors", NULL });
  expect_load_error ("bad-config-mismatch", (const gchar *[]) { "text_model.", "expected", NULL });
  expect_load_error ("bad-no-config", (const gchar *[]) { "config.json", NULL });
  expect_load_error ("/nonexistent/clip-model", (const gchar *[]) { "/nonexistent/clip-model",
                       NULL });
}

static const Variant variants[] = {
  { "cpu", VLM_DTYPE_F32 },
  { "cpu", VLM_DTYPE_F16 },
  { "vulkan", VLM_DTYPE_F32 },
  { "vulkan", VLM_DTYPE_F16 },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("VLM_VULKAN_ALLOW_CPU", "1", FALSE);
  model_dir = g_getenv ("VLM_TEST_CLIP_MODEL");
  golden_dir = g_getenv ("VLM_TEST_CLIP_GOLDEN");
  if (!model_dir || !golden_dir) {
    g_printerr ("test-clip: set VLM_TEST_CLIP_MODEL and VLM_TEST_CLIP_GOLDEN\n");
    return 2;
  }
  load_golden ();
  for (gsize i = 0; i < G_N_ELEMENTS (variants); i++) {
    const Variant *v = &variants[i];
    const gchar *w = v->weights == VLM_DTYPE_F16 ? "f16" : "f32";
    struct { const gchar *name; GTestDataFunc fn; } cases[] = {
      { "image", test_image }, { "text", test_text }, { "scores", test_scores },
      { "frames", test_frames }, { "texts", test_texts },
    };
    for (gsize c = 0; c < G_N_ELEMENTS (cases); c++) {
      if (strcmp (v->device, "cpu") == 0 && cases[c].fn == test_frames)
        continue;   /* CPU against itself proves nothing */
      g_autofree gchar *path = g_strdup_printf ("/clip/%s/%s/%s", v->device, w, cases[c].name);
      g_test_add_data_func (path, v, cases[c].fn);
    }
  }
  g_test_add_func ("/clip/bad-models", test_bad_models);
  return g_test_run ();
}
