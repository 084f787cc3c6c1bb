/* vlm bench-ops — time single ops on a device at CLIP ViT-B/32 shapes.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A benchmark, not a test: it prints figures and asserts nothing. Each case
 * runs once to warm up (pipelines, packed weights), then `--runs` timed
 * repetitions of `--reps` calls each; the median repetition is reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vlm-cmd.h"
#include "vlm-ops.h"

typedef struct {
  VlmDevice *dev;
  GPtrArray *tensors;      /* owned, freed per case */
  gboolean f16;
} Bench;

static VlmTensor *
random_tensor (Bench *b, VlmDType dtype, gint ndim, const gint64 *shape, GError **error)
{
  VlmTensor *t = vlm_tensor_new (b->dev, dtype, ndim, shape, error);
  if (!t)
    return NULL;
  g_ptr_array_add (b->tensors, t);
  gint64 n = vlm_tensor_numel (t);
  GRand *rand = g_rand_new_with_seed (42);
  if (dtype == VLM_DTYPE_F32 || dtype == VLM_DTYPE_F16) {
    g_autofree gfloat *f = g_new (gfloat, n);
    for (gint64 i = 0; i < n; i++)
      f[i] = (gfloat) g_rand_double_range (rand, -1.0, 1.0);
    if (dtype == VLM_DTYPE_F16) {
      g_autofree guint16 *h = g_new (guint16, n);
      vlm_f32_to_f16 (h, f, n);
      g_rand_free (rand);
      return vlm_tensor_upload (t, h, n * 2, error) ? t : NULL;
    }
    g_rand_free (rand);
    return vlm_tensor_upload (t, f, n * 4, error) ? t : NULL;
  }
  g_autofree guint8 *u = g_new (guint8, t->nbytes);
  for (gsize i = 0; i < t->nbytes; i++)
    u[i] = (guint8) g_rand_int_range (rand, 0, 256);
  g_rand_free (rand);
  return vlm_tensor_upload (t, u, t->nbytes, error) ? t : NULL;
}

#define T(...) ((const gint64[]) { __VA_ARGS__ })

typedef struct {
  const gchar *name;
  gdouble flops;           /* per call; 0 when not meaningful */
  gboolean (*setup) (Bench *b, const gint64 *dims, GError **error);
  gboolean (*run) (Bench *b, const gint64 *dims, GError **error);
  gint64 dims[4];
} Case;

/* matmul: dims = M, K, N; tensors x, w, bias, y */
static gboolean
matmul_setup (Bench *b, const gint64 *d, GError **error)
{
  return random_tensor (b, VLM_DTYPE_F32, 2, T (d[0], d[1]), error) &&
      random_tensor (b, b->f16 ? VLM_DTYPE_F16 : VLM_DTYPE_F32, 2, T (d[2], d[1]), error) &&
      random_tensor (b, VLM_DTYPE_F32, 1, T (d[2]), error) &&
      random_tensor (b, VLM_DTYPE_F32, 2, T (d[0], d[2]), error);
}

static gboolean
matmul_run (Bench *b, const gint64 *d, GError **error)
{
  VlmTensor **t = (VlmTensor **) b->tensors->pdata;
  return vlm_op_matmul (t[3], t[0], t[1], t[2], NULL, d[3] ? VLM_ACT_QUICK_GELU : VLM_ACT_NONE,
                        error);
}

/* attention: dims = B, S, C, heads */
static gboolean
attention_setup (Bench *b, const gint64 *d, GError **error)
{
  for (gint i = 0; i < 4; i++)
    if (!random_tensor (b, VLM_DTYPE_F32, 3, T (d[0], d[1], d[2]), error))
      return FALSE;
  return TRUE;
}

static gboolean
attention_run (Bench *b, const gint64 *d, GError **error)
{
  VlmTensor **t = (VlmTensor **) b->tensors->pdata;
  VlmAttentionParams p = { .n_heads = (gint) d[3] };
  return vlm_op_attention (t[3], t[0], t[1], t[2], &p, error);
}

/* layernorm: dims = rows, C */
static gboolean
layernorm_setup (Bench *b, const gint64 *d, GError **error)
{
  return random_tensor (b, VLM_DTYPE_F32, 2, T (d[0], d[1]), error) &&
      random_tensor (b, VLM_DTYPE_F32, 1, T (d[1]), error) &&
      random_tensor (b, VLM_DTYPE_F32, 1, T (d[1]), error) &&
      random_tensor (b, VLM_DTYPE_F32, 2, T (d[0], d[1]), error);
}

static gboolean
layernorm_run (Bench *b, const gint64 *d, GError **error)
{
  VlmTensor **t = (VlmTensor **) b->tensors->pdata;
  return vlm_op_layernorm (t[3], t[0], t[1], t[2], 1e-5f, error);
}

/* preprocess: dims = width, height (NV12) → 224 */
static gboolean
preprocess_setup (Bench *b, const gint64 *d, GError **error)
{
  gsize size = vlm_pixel_format_frame_size (VLM_PIXEL_NV12, (gint) d[0], (gint) d[1], NULL);
  return random_tensor (b, VLM_DTYPE_U8, 1, T ((gint64) size), error) &&
      random_tensor (b, VLM_DTYPE_F32, 3, T (3, 224, 224), error);
}

static gboolean
preprocess_run (Bench *b, const gint64 *d, GError **error)
{
  VlmTensor **t = (VlmTensor **) b->tensors->pdata;
  VlmImageParams p = { .resize_short = 224, .crop = 224, .resample = VLM_RESAMPLE_BICUBIC,
                       .mean = { 0.48145466f, 0.4578275f, 0.40821073f },
                       .std = { 0.26862954f, 0.26130258f, 0.27577711f } };
  vlm_pixel_format_frame_size (VLM_PIXEL_NV12, (gint) d[0], (gint) d[1], &p);
  return vlm_op_preprocess (t[1], t[0], &p, error);
}

static const Case cases[] = {
  { "matmul qkv 50x768 -> 2304", 2.0 * 50 * 768 * 2304, matmul_setup, matmul_run,
    { 50, 768, 2304, 0 } },
  { "matmul fc1 50x768 -> 3072 +gelu", 2.0 * 50 * 768 * 3072, matmul_setup, matmul_run,
    { 50, 768, 3072, 1 } },
  { "matmul fc2 50x3072 -> 768", 2.0 * 50 * 3072 * 768, matmul_setup, matmul_run,
    { 50, 3072, 768, 0 } },
  { "matmul fc1 400x768 -> 3072 (b8)", 2.0 * 400 * 768 * 3072, matmul_setup, matmul_run,
    { 400, 768, 3072, 1 } },
  { "matvec 1x768 -> 3072 (decode)", 2.0 * 768 * 3072, matmul_setup, matmul_run,
    { 1, 768, 3072, 0 } },
  { "attention 1x50x768, 12 heads", 4.0 * 50 * 50 * 768, attention_setup, attention_run,
    { 1, 50, 768, 12 } },
  { "attention 1x197x768, 12 heads", 4.0 * 197 * 197 * 768, attention_setup, attention_run,
    { 1, 197, 768, 12 } },
  { "layernorm 50x768", 0, layernorm_setup, layernorm_run, { 50, 768 } },
  { "preprocess NV12 1280x720 -> 224", 0, preprocess_setup, preprocess_run, { 1280, 720 } },
};

static int
compare_double (const void *a, const void *b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;
  return x < y ? -1 : x > y;
}

int
vlm_cmd_bench_ops (int argc, char **argv)
{
  gchar *device = NULL, *filter = NULL;
  gint runs = 5, reps = 10;
  gboolean f16 = FALSE;
  GOptionEntry entries[] = {
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "auto, cpu, vulkan or vulkan:N", "DEV" },
    { "runs", 'r', 0, G_OPTION_ARG_INT, &runs, "timed repetitions (median reported)", "N" },
    { "reps", 'n', 0, G_OPTION_ARG_INT, &reps, "calls per repetition", "N" },
    { "f16", 0, 0, G_OPTION_ARG_NONE, &f16, "f16 weights for matmul", NULL },
    { "only", 0, 0, G_OPTION_ARG_STRING, &filter, "run only cases whose name contains TEXT",
      "TEXT" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("— time ops at CLIP ViT-B/32 shapes");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!vlm_cmd_parse (ctx, &argc, &argv))
    return 2;
  if (runs < 1 || reps < 1) {
    fprintf (stderr, "vlm bench-ops: --runs and --reps must be at least 1\n");
    return 2;
  }

  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) dev = vlm_device_open (device, &error);
  if (!dev) {
    fprintf (stderr, "vlm bench-ops: %s\n", error->message);
    return 1;
  }
  if (f16 && !vlm_device_supports_f16 (dev)) {
    fprintf (stderr, "vlm bench-ops: %s has no f16 support\n", vlm_device_get_name (dev));
    return 1;
  }
  printf ("device: %s\nweights: %s, median of %d runs × %d calls\n\n",
          vlm_device_get_name (dev), f16 ? "f16" : "f32", runs, reps);
  printf ("%-36s %10s %10s\n", "op", "ms/call", "GFLOP/s");

  Bench b = { .dev = dev, .f16 = f16 };
  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++) {
    const Case *cs = &cases[c];
    if (filter && !strstr (cs->name, filter))
      continue;
    b.tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) vlm_tensor_unref);
    gdouble *times = g_new (gdouble, runs);
    gboolean ok = cs->setup (&b, cs->dims, &error) && cs->run (&b, cs->dims, &error) &&
        vlm_device_sync (dev, &error);
    for (gint r = 0; ok && r < runs; r++) {
      gint64 t0 = g_get_monotonic_time ();
      for (gint i = 0; ok && i < reps; i++)
        ok = cs->run (&b, cs->dims, &error);
      ok = ok && vlm_device_sync (dev, &error);
      times[r] = (g_get_monotonic_time () - t0) / 1000.0 / reps;
    }
    if (ok) {
      qsort (times, runs, sizeof (gdouble), compare_double);
      gdouble ms = times[runs / 2];
      if (cs->flops > 0)
        printf ("%-36s %10.3f %10.1f\n", cs->name, ms, cs->flops / (ms * 1e6));
      else
        printf ("%-36s %10.3f %10s\n", cs->name, ms, "-");
    } else {
      printf ("%-36s failed: %s\n", cs->name, error->message);
      g_clear_error (&error);
    }
    fflush (stdout);
    g_free (times);
    g_ptr_array_unref (b.tensors);
  }
  g_free (device);
  g_free (filter);
  return 0;
}
