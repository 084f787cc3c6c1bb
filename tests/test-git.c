/* gst-vlm tests — GIT against the numpy reference (tests/git_reference.py).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Golden files from tests/make_git_golden.py on a random checkpoint written
 * by models/make_git_checkpoint.py (both at build time). Environment:
 * VLM_TEST_GIT_MODEL, VLM_TEST_GIT_GOLDEN. Every case runs on the CPU
 * backend and on Vulkan (lavapipe counts); without a Vulkan device the
 * Vulkan cases skip, or fail when CI=true.
 *
 * Checked: logits at every position (NMSE ≤ 1e-6 with f32 weights), greedy
 * and beam-search tokens identical to the reference's (sums of
 * log-probabilities within 1e-4), VQA in the git-base-vqav2 format, and the
 * KV-cache decoder against full recomputation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/vlm-git.h"

static const gchar *model_dir;
static const gchar *golden_dir;
static GHashTable *golden;        /* key → GArray of gdouble */
static gfloat *pixels;
static gfloat *ref_logits;
static gint vocab;

static GArray *
value (const gchar *key)
{
  GArray *a = g_hash_table_lookup (golden, key);
  if (!a)
    g_error ("golden.txt has no \"%s\"", key);
  return a;
}

static gdouble
scalar (const gchar *key)
{
  return g_array_index (value (key), gdouble, 0);
}

/* The scalar "KEY_SUFFIX". */
static gdouble
field (const gchar *key, const gchar *suffix)
{
  g_autofree gchar *name = g_strdup_printf ("%s_%s", key, suffix);
  return scalar (name);
}

static gint32 *
ids_of (const gchar *key, gint *n)
{
  GArray *a = value (key);
  gint32 *ids = g_new (gint32, a->len);
  for (guint i = 0; i < a->len; i++)
    ids[i] = (gint32) g_array_index (a, gdouble, i);
  *n = (gint) a->len;
  return ids;
}

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
  g_autofree gchar *path = g_build_filename (golden_dir, "golden.txt", NULL);
  g_autofree gchar *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    g_error ("cannot read %s", path);
  golden = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                  (GDestroyNotify) g_array_unref);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (gint i = 0; lines[i]; i++) {
    g_auto (GStrv) f = g_strsplit (lines[i], " ", -1);
    if (!f[0] || !*f[0])
      continue;
    GArray *a = g_array_new (FALSE, FALSE, sizeof (gdouble));
    for (gint j = 1; f[j]; j++) {
      gdouble d = g_ascii_strtod (f[j], NULL);
      g_array_append_val (a, d);
    }
    g_hash_table_insert (golden, g_strdup (f[0]), a);
  }
  vocab = (gint) scalar ("vocab");
  gint s = (gint) scalar ("image_size");
  gint n_ids = (gint) value ("ids")->len;
  pixels = read_raw ("pixels.f32", (gsize) 3 * s * s * 4);
  ref_logits = read_raw ("logits.f32", (gsize) n_ids * vocab * 4);
}

typedef struct {
  const gchar *device;
  VlmDType weights;
} Variant;

typedef struct {
  VlmGitModel *model;
  VlmGitImage *image;
} Fixture;

static gboolean
setup (Fixture *fx, const Variant *v)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) dev = vlm_device_open (v->device, &error);
  if (!dev) {
    if (g_strcmp0 (g_getenv ("CI"), "true") == 0)
      g_test_fail_printf ("CI=true and no device \"%s\": %s", v->device, error->message);
    else
      g_test_skip_printf ("no device \"%s\": %s", v->device, error->message);
    return FALSE;
  }
  g_test_message ("device: %s", vlm_device_get_name (dev));
  fx->model = vlm_git_model_load (model_dir, dev, v->weights, &error);
  g_assert_no_error (error);
  fx->image = vlm_git_encode_pixels (fx->model, pixels, &error);
  g_assert_no_error (error);
  return TRUE;
}

static void
teardown (Fixture *fx)
{
  vlm_git_image_free (fx->image);
  vlm_git_model_free (fx->model);
}

static void
test_logits (gconstpointer data)
{
  Fixture fx;
  if (!setup (&fx, data))
    return;
  gint n;
  g_autofree gint32 *ids = ids_of ("ids", &n);
  g_autofree gfloat *got = g_new (gfloat, (gsize) n * vocab);
  g_autoptr (GError) error = NULL;
  g_assert_true (vlm_git_logits (fx.model, fx.image, ids, n, got, &error));
  g_assert_no_error (error);
  gdouble num = 0, den = 0;
  for (gsize i = 0; i < (gsize) n * vocab; i++) {
    g_assert_true (isfinite (got[i]));
    num += ((gdouble) got[i] - ref_logits[i]) * ((gdouble) got[i] - ref_logits[i]);
    den += (gdouble) ref_logits[i] * ref_logits[i];
  }
  gdouble limit = ((const Variant *) data)->weights == VLM_DTYPE_F16 ? 5e-4 : 1e-6;
  g_test_message ("logits NMSE %.3g (limit %.0e)", num / den, limit);
  g_assert_cmpfloat (num / den, <=, limit);
  teardown (&fx);
}

/* Generates with the given options and compares with the golden `key`. */
static void
check_generation (Fixture *fx, const gchar *key, const gint32 *prefix, gint n_prefix, gint beams)
{
  VlmGitParams p = { .num_beams = beams, .max_tokens = (gint) scalar ("max_tokens"),
                     .length_penalty = 1.0f };
  VlmGitOutput out;
  g_autoptr (GError) error = NULL;
  g_assert_true (vlm_git_generate (fx->model, fx->image, prefix, n_prefix, &p, &out, &error));
  g_assert_no_error (error);
  gint n;
  g_autofree gint32 *want = ids_of (key, &n);
  gboolean finished = field (key, "finished") != 0;
  gint expect_len = finished ? n - 1 : n;          /* ours excludes the [SEP] */
  GString *got = g_string_new (NULL);
  for (guint i = 0; i < out.ids->len; i++)
    g_string_append_printf (got, " %d", g_array_index (out.ids, gint32, i));
  g_test_message ("%s: got [%s ] (%s), score %.6f; reference score %.6f", key, got->str,
                  out.truncated ? "truncated" : "finished", out.score,
                  field (key, "score"));
  g_string_free (got, TRUE);
  g_assert_cmpint (out.truncated, ==, !finished);
  g_assert_cmpint ((gint) out.ids->len, ==, expect_len);
  for (gint i = 0; i < expect_len; i++)
    g_assert_cmpint (g_array_index (out.ids, gint32, i), ==, want[i]);
  g_assert_cmpint (out.n_scored, ==, n);
  g_assert_cmpfloat_with_epsilon (out.sum_logprob, field (key, "sum"),
                                  1e-4);
  vlm_git_output_clear (&out);
}

static void
test_greedy (gconstpointer data)
{
  Fixture fx;
  if (!setup (&fx, data))
    return;
  check_generation (&fx, "greedy", NULL, 0, 1);
  teardown (&fx);
}

static void
test_beam (gconstpointer data)
{
  Fixture fx;
  if (!setup (&fx, data))
    return;
  check_generation (&fx, "beam", NULL, 0, (gint) scalar ("num_beams"));
  gint n;
  g_autofree gint32 *q = ids_of ("question", &n);
  check_generation (&fx, "beam_vqa", q, n, (gint) scalar ("num_beams"));
  teardown (&fx);
}

static void
test_vqa (gconstpointer data)
{
  Fixture fx;
  if (!setup (&fx, data))
    return;
  gint n;
  g_autofree gint32 *q = ids_of ("question", &n);
  check_generation (&fx, "answer", q, n, 1);
  teardown (&fx);
}

/* The cached decoder's choices equal a full recomputation's: every
 * generated token is the argmax of the full pass's logits at its position,
 * and the log-probabilities add up to the same sum. */
static void
test_cache (gconstpointer data)
{
  Fixture fx;
  if (!setup (&fx, data))
    return;
  VlmGitParams p = { .num_beams = 1, .max_tokens = (gint) scalar ("max_tokens"),
                     .length_penalty = 1.0f };
  VlmGitOutput out;
  g_autoptr (GError) error = NULL;
  g_assert_true (vlm_git_generate (fx.model, fx.image, NULL, 0, &p, &out, &error));
  gint bos = vlm_git_model_get_config (fx.model)->bos_id;
  gint eos = vlm_git_model_get_config (fx.model)->eos_id;
  gint n = (gint) out.ids->len + 1;
  g_autofree gint32 *seq = g_new (gint32, n + 1);
  seq[0] = bos;
  memcpy (seq + 1, out.ids->data, out.ids->len * sizeof (gint32));
  seq[n] = eos;
  gint scored = out.truncated ? n - 1 : n;
  g_autofree gfloat *logits = g_new (gfloat, (gsize) n * vocab);
  g_assert_true (vlm_git_logits (fx.model, fx.image, seq, n, logits, &error));
  g_assert_no_error (error);
  gdouble sum = 0;
  for (gint i = 0; i < scored; i++) {
    const gfloat *row = logits + (gsize) i * vocab;
    gint best = 0;
    gdouble mx = row[0], z = 0;
    for (gint j = 1; j < vocab; j++)
      if (row[j] > row[best])
        best = j, mx = row[j];
    for (gint j = 0; j < vocab; j++)
      z += exp ((gdouble) row[j] - mx);
    g_assert_cmpint (best, ==, seq[i + 1]);
    sum += row[best] - mx - log (z);
  }
  g_test_message ("cached sum %.6f, recomputed %.6f", out.sum_logprob, sum);
  g_assert_cmpfloat_with_epsilon (out.sum_logprob, sum, 1e-4);
  vlm_git_output_clear (&out);
  teardown (&fx);
}

static void
test_bad_input (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) cpu = vlm_device_open ("cpu", &error);
  g_assert_null (vlm_git_model_load ("/nonexistent/git", cpu, VLM_DTYPE_F32, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_FILE);
  g_clear_error (&error);
  struct { const gchar *dir; const gchar *needle; } broken[] = {
    { "bad-missing-tensor", "\"output.bias\" is missing" },
    { "bad-config-mismatch", "git.encoder.layer.0.intermediate.dense.weight" },
    { "bad-not-git", "not a GIT model" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (broken); i++) {
    g_autofree gchar *dir = g_build_filename (golden_dir, broken[i].dir, NULL);
    g_assert_null (vlm_git_model_load (dir, cpu, VLM_DTYPE_F32, &error));
    g_assert_nonnull (error);
    g_test_message ("%s: %s", broken[i].dir, error->message);
    g_assert_nonnull (strstr (error->message, broken[i].needle));
    g_clear_error (&error);
  }
  g_autoptr (VlmGitModel) m = vlm_git_model_load (model_dir, cpu, VLM_DTYPE_F32, &error);
  g_assert_no_error (error);
  g_autoptr (VlmGitImage) img = vlm_git_encode_pixels (m, pixels, &error);
  VlmGitParams p = { .num_beams = 0, .max_tokens = 5, .length_penalty = 1 };
  VlmGitOutput out;
  g_assert_false (vlm_git_generate (m, img, NULL, 0, &p, &out, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  gint32 bad = vocab + 5;
  p.num_beams = 1;
  g_assert_false (vlm_git_generate (m, img, &bad, 1, &p, &out, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (vlm_git_answer (m, img, "   ", &p, NULL, NULL, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_test_message ("empty question: %s", error->message);
  g_clear_error (&error);
  g_assert_null (vlm_git_answer (m, img, "caf\xc3", &p, NULL, NULL, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* an over-long question is cut to fit and flagged */
  GString *q = g_string_new (NULL);
  for (gint i = 0; i < 400; i++)
    g_string_append (q, "what color is the square ");
  gboolean cut = FALSE;
  g_autofree gchar *answer = vlm_git_answer (m, img, q->str, &p, NULL, &cut, &error);
  g_assert_no_error (error);
  g_assert_nonnull (answer);
  g_assert_true (cut);
  g_string_free (q, TRUE);
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
  model_dir = g_getenv ("VLM_TEST_GIT_MODEL");
  golden_dir = g_getenv ("VLM_TEST_GIT_GOLDEN");
  if (!model_dir || !golden_dir) {
    g_printerr ("test-git: set VLM_TEST_GIT_MODEL and VLM_TEST_GIT_GOLDEN\n");
    return 2;
  }
  load_golden ();
  for (gsize i = 0; i < G_N_ELEMENTS (variants); i++) {
    const Variant *v = &variants[i];
    gboolean f16 = v->weights == VLM_DTYPE_F16;
    struct { const gchar *name; GTestDataFunc fn; gboolean f16_too; } cases[] = {
      { "logits", test_logits, TRUE }, { "greedy", test_greedy, FALSE },
      { "beam", test_beam, FALSE }, { "vqa", test_vqa, FALSE }, { "cache", test_cache, TRUE },
    };
    for (gsize c = 0; c < G_N_ELEMENTS (cases); c++) {
      /* f16 weights change logits by ~1e-4 relative: token-for-token
       * equality with the f64 reference is only asserted for f32. */
      if (f16 && !cases[c].f16_too)
        continue;
      g_autofree gchar *path = g_strdup_printf ("/git/%s/%s/%s", v->device,
                                                f16 ? "f16" : "f32", cases[c].name);
      g_test_add_data_func (path, v, cases[c].fn);
    }
  }
  g_test_add_func ("/git/bad-input", test_bad_input);
  return g_test_run ();
}
