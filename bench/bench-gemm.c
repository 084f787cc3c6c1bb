/* gst-vlm — matmul throughput of the CPU backend on CLIP ViT shapes.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * bench-gemm [--openblas] [--cold] [--min-time SECONDS] [--cpu-time] [--median]
 *            [--rows M,M…] [--layer NAME]
 *
 * For each CLIP ViT-B/32 linear layer shape (K, N) and row count M it runs
 * vlm_op_matmul() on the "cpu" device (weights packed by the first call, as
 * in a model) with f32 and f16 weights and prints GFLOP/s = 2·M·N·K / time,
 * best of several timed batches. With --openblas (when built against it) it
 * also times cblas_sgemm on the same f32 data with OpenBLAS's own threads
 * (as many as the CPU device has), bias not included. With --cold each case
 * cycles through enough copies of its weight (≥ 512 MB) that every call
 * reads its weight from memory, as a batch-1 forward pass over a whole
 * model does; otherwise one weight is reused and stays in cache.
 * Threads: VLM_THREADS (default one per core). --cpu-time divides by the
 * process's CPU time instead of wall time, which stays steady on a shared
 * machine; it needs VLM_THREADS=1 (other threads' CPU time is not
 * accounted precisely enough, on this VM it came out too low).
 * --rows replaces the row counts (default 50 and 400: one ViT-B/32 image
 * and a batch of 8; 1 times pure weight streaming), --layer keeps one
 * shape (qkv, attn out, fc1, fc2). With one row the weight bandwidth
 * (GB/s of f32 / f16 weight read) is printed as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vlm-ops.h"

#ifdef BENCH_HAVE_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads (int n);
#endif

typedef struct {
  gint64 k, n;
  const gchar *what;
} Shape;

static const Shape shapes[] = {
  { 768, 2304, "qkv" },
  { 768, 768, "attn out" },
  { 768, 3072, "fc1" },
  { 3072, 768, "fc2" },
};

static const gint64 default_rows[] = { 50, 400 };

typedef gboolean (*RunFunc) (gpointer data, GError **error);

static gboolean use_cpu_time;

static gdouble
now (void)
{
  struct timespec ts;
  clock_gettime (use_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static gboolean use_median;

static gint
compare_doubles (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;
  return x < y ? -1 : x > y;
}

/* Best (or with --median the median) seconds per call over batches of
 * calls, timing at least @min_time, after @n_warm calls (packing the
 * weights, faulting pages in). */
static gdouble
time_calls (RunFunc run, gpointer data, guint n_warm, gdouble min_time, GError **error)
{
  for (guint i = 0; i < n_warm; i++)
    if (!run (data, error))
      return -1.0;
  gdouble best = G_MAXDOUBLE, total = 0.0;
  g_autoptr (GArray) per_call = g_array_new (FALSE, FALSE, sizeof (gdouble));
  gint batch = 1;
  while (total < min_time || per_call->len < 5) {
    gdouble t0 = now ();
    for (gint i = 0; i < batch; i++)
      if (!run (data, error))
        return -1.0;
    gdouble dt = now () - t0;
    total += dt;
    best = MIN (best, dt / batch);
    if (dt >= 0.02 || batch >= 1024) {
      gdouble v = dt / batch;
      g_array_append_val (per_call, v);
    }
    if (dt < 0.02)
      batch *= 2;
  }
  if (!use_median)
    return best;
  g_array_sort (per_call, compare_doubles);
  return g_array_index (per_call, gdouble, per_call->len / 2);
}

/* A weight and its copies; every call uses the next copy. */
typedef struct {
  VlmTensor *y, *x, *bias;
  VlmTensor **w;
  guint n, next;
} MatmulCase;

static gboolean
run_matmul (gpointer data, GError **error)
{
  MatmulCase *c = data;
  VlmTensor *w = c->w[c->next];
  c->next = (c->next + 1) % c->n;
  return vlm_op_matmul (c->y, c->x, w, c->bias, NULL, VLM_ACT_NONE, error);
}

#ifdef BENCH_HAVE_OPENBLAS
typedef struct {
  gint m, n, k;
  const gfloat *x;
  gfloat **w;
  guint copies, next;
  gfloat *y;
} BlasCase;

static gboolean
run_blas (gpointer data, GError **error)
{
  BlasCase *c = data;
  const gfloat *w = c->w[c->next];
  c->next = (c->next + 1) % c->copies;
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, c->m, c->n, c->k, 1.0f, c->x, c->k,
               w, c->k, 0.0f, c->y, c->n);
  return TRUE;
}
#endif

static gfloat *
random_floats (gsize n)
{
  gfloat *p = g_new (gfloat, n);
  for (gsize i = 0; i < n; i++)
    p[i] = (gfloat) g_random_double_range (-1.0, 1.0);
  return p;
}

static VlmTensor *
tensor_with (VlmDevice *dev, VlmDType dtype, gint ndim, const gint64 *shape, gconstpointer data,
             gsize nbytes, GError **error)
{
  VlmTensor *t = vlm_tensor_new (dev, dtype, ndim, shape, error);
  if (t && data && !vlm_tensor_upload (t, data, nbytes, error)) {
    vlm_tensor_unref (t);
    return NULL;
  }
  return t;
}

int
main (int argc, char **argv)
{
  gboolean openblas = FALSE, cold = FALSE;
  gdouble min_time = 0.5;
  g_autofree gchar *rows_arg = NULL, *layer = NULL;
  GOptionEntry entries[] = {
    { "openblas", 0, 0, G_OPTION_ARG_NONE, &openblas, "Also time OpenBLAS sgemm", NULL },
    { "cold", 0, 0, G_OPTION_ARG_NONE, &cold, "Weights from memory, not cache", NULL },
    { "min-time", 0, 0, G_OPTION_ARG_DOUBLE, &min_time, "Seconds to time each case", "S" },
    { "cpu-time", 0, 0, G_OPTION_ARG_NONE, &use_cpu_time,
      "Divide by process CPU time (needs VLM_THREADS=1)", NULL },
    { "median", 0, 0, G_OPTION_ARG_NONE, &use_median,
      "Median of the batches instead of the best (steadier under other load)", NULL },
    { "rows", 0, 0, G_OPTION_ARG_STRING, &rows_arg, "Row counts (default 50,400)", "M,M…" },
    { "layer", 0, 0, G_OPTION_ARG_STRING, &layer, "Only this shape (qkv, attn out, fc1, fc2)",
      "NAME" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- CPU matmul throughput");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("bench-gemm: %s\n", error->message);
    return 2;
  }
#ifndef BENCH_HAVE_OPENBLAS
  if (openblas) {
    g_printerr ("bench-gemm: built without OpenBLAS\n");
    return 2;
  }
#endif

  g_autoptr (GArray) rows = g_array_new (FALSE, FALSE, sizeof (gint64));
  if (rows_arg) {
    g_auto (GStrv) parts = g_strsplit (rows_arg, ",", -1);
    for (gchar **p = parts; *p; p++) {
      gint64 m = g_ascii_strtoll (*p, NULL, 10);
      if (m < 1 || m > 65536) {
        g_printerr ("bench-gemm: --rows: \"%s\" is not a row count\n", *p);
        return 2;
      }
      g_array_append_val (rows, m);
    }
  } else {
    g_array_append_vals (rows, default_rows, G_N_ELEMENTS (default_rows));
  }

  g_autoptr (VlmDevice) dev = vlm_device_open ("cpu", &error);
  if (!dev) {
    g_printerr ("bench-gemm: %s\n", error->message);
    return 1;
  }
  guint threads = vlm_device_get_n_threads (dev);
  if (use_cpu_time && threads != 1) {
    g_printerr ("bench-gemm: --cpu-time needs VLM_THREADS=1 (device has %u threads)\n",
                threads);
    return 2;
  }
#ifdef BENCH_HAVE_OPENBLAS
  if (openblas)
    openblas_set_num_threads ((int) threads);
#endif
  g_print ("device: %s\n", vlm_device_get_name (dev));
  g_print ("%-9s %5s %5s %5s   %9s %9s%s\n", "layer", "M", "K", "N", "f32", "f16",
           openblas ? "  openblas" : "");

  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++) {
    gint64 K = shapes[s].k, N = shapes[s].n;
    if (layer && g_strcmp0 (layer, shapes[s].what) != 0)
      continue;
    gsize n_w = (gsize) N * K;
    guint copies = cold ? (guint) ((512u << 20) / (n_w * sizeof (gfloat)) + 1) : 1;
    g_autofree gfloat *w = random_floats (n_w);
    g_autofree gfloat *b = random_floats ((gsize) N);
    g_autofree guint16 *wh = g_new (guint16, n_w);
    vlm_f32_to_f16 (wh, w, n_w);
    gint64 ws[2] = { N, K }, bs[1] = { N };
    g_autoptr (VlmTensor) bias = tensor_with (dev, VLM_DTYPE_F32, 1, bs, b, N * 4, &error);
    g_autoptr (GPtrArray) w32 = g_ptr_array_new_with_free_func ((GDestroyNotify) vlm_tensor_unref);
    g_autoptr (GPtrArray) w16 = g_ptr_array_new_with_free_func ((GDestroyNotify) vlm_tensor_unref);
    g_autoptr (GPtrArray) wraw = g_ptr_array_new_with_free_func (g_free);
    if (!bias)
      goto fail;
    for (guint i = 0; i < copies; i++) {
      VlmTensor *t32 = tensor_with (dev, VLM_DTYPE_F32, 2, ws, w, n_w * 4, &error);
      VlmTensor *t16 = tensor_with (dev, VLM_DTYPE_F16, 2, ws, wh, n_w * 2, &error);
      if (t32)
        g_ptr_array_add (w32, t32);
      if (t16)
        g_ptr_array_add (w16, t16);
      if (!t32 || !t16)
        goto fail;
      if (openblas)
        g_ptr_array_add (wraw, g_memdup2 (w, n_w * sizeof (gfloat)));
    }

    for (guint r = 0; r < rows->len; r++) {
      gint64 M = g_array_index (rows, gint64, r);
      g_autofree gfloat *x = random_floats ((gsize) M * K);
      g_autofree gfloat *yb = g_new (gfloat, (gsize) M * N);
      gint64 xs[2] = { M, K }, ys[2] = { M, N };
      g_autoptr (VlmTensor) xt = tensor_with (dev, VLM_DTYPE_F32, 2, xs, x, M * K * 4, &error);
      g_autoptr (VlmTensor) yt = tensor_with (dev, VLM_DTYPE_F32, 2, ys, NULL, 0, &error);
      if (!xt || !yt)
        goto fail;
      gdouble flop = 2.0 * M * N * K;
      MatmulCase c32 = { yt, xt, bias, (VlmTensor **) w32->pdata, copies, 0 };
      MatmulCase c16 = { yt, xt, bias, (VlmTensor **) w16->pdata, copies, 0 };
      gdouble t32 = time_calls (run_matmul, &c32, copies, min_time, &error);
      gdouble t16 = time_calls (run_matmul, &c16, copies, min_time, &error);
      if (t32 < 0 || t16 < 0)
        goto fail;
      g_print ("%-9s %5" G_GINT64_FORMAT " %5" G_GINT64_FORMAT " %5" G_GINT64_FORMAT
               "   %9.1f %9.1f", shapes[s].what, M, K, N, flop / t32 / 1e9, flop / t16 / 1e9);
      if (M == 1)
        g_print ("   (%.1f / %.1f GB/s of weights)", n_w * 4 / t32 / 1e9, n_w * 2 / t16 / 1e9);
#ifdef BENCH_HAVE_OPENBLAS
      if (openblas) {
        BlasCase bc = { (gint) M, (gint) N, (gint) K, x, (gfloat **) wraw->pdata, copies, 0, yb };
        gdouble tb = time_calls (run_blas, &bc, copies, min_time, &error);
        g_print (" %9.1f", flop / tb / 1e9);
      }
#endif
      g_print ("\n");
    }
  }
  g_print ("GFLOP/s%s, %u threads, %s weights, %s of batches over %.1f s per case\n",
           use_cpu_time ? " per CPU-second" : "", threads, cold ? "cold" : "cached",
           use_median ? "median" : "best", min_time);
  return 0;

fail:
  g_printerr ("bench-gemm: %s\n", error->message);
  return 1;
}
