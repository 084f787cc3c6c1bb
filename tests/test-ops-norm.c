/* gst-vlm tests — layer norm and softmax.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>

#include "test-ops.h"

/* ---- layernorm ---------------------------------------------------------- */

typedef struct {
  const gchar *name;
  gint ndim;
  gint64 shape[VLM_MAX_DIMS];
  gboolean gamma, beta;
  gfloat eps;
  gfloat offset;       /* added to every input: a large one exposes one-pass variance */
  gboolean inplace;
  double limit;
} LayerNormCase;

static const LayerNormCase layernorm_cases[] = {
  { "23x77", 2, { 23, 77 }, TRUE, TRUE, 1e-5f, 0, FALSE, VT_NMSE_NORM },
  { "clip-2x50x768", 3, { 2, 50, 768 }, TRUE, TRUE, 1e-5f, 0, FALSE, VT_NMSE_NORM },
  { "plain-7x768-eps1e-12", 2, { 7, 768 }, FALSE, FALSE, 1e-12f, 0, FALSE, VT_NMSE_NORM },
  { "gamma-only-5x33", 2, { 5, 33 }, TRUE, FALSE, 1e-5f, 0, FALSE, VT_NMSE_NORM },
  { "beta-only-5x33", 2, { 5, 33 }, FALSE, TRUE, 1e-5f, 0, FALSE, VT_NMSE_NORM },
  { "3x5x7x9", 4, { 3, 5, 7, 9 }, TRUE, TRUE, 1e-5f, 0, FALSE, VT_NMSE_NORM },
  { "width1-3x1", 2, { 3, 1 }, TRUE, TRUE, 1e-5f, 0, FALSE, VT_NMSE_NORM },
  { "1-row-3001", 1, { 3001 }, TRUE, TRUE, 1e-5f, 0, FALSE, VT_NMSE_NORM },
  { "inplace-9x512", 2, { 9, 512 }, TRUE, TRUE, 1e-5f, 0, TRUE, VT_NMSE_NORM },
  /* mean 1000, spread 1: two-pass (or Welford) in f32 stays near 1e-7;
   * E[x²] − mean² in f32 loses the variance entirely. */
  { "offset1000-9x64", 2, { 9, 64 }, TRUE, TRUE, 1e-5f, 1000.0f, FALSE, 1e-5 },
  /* more rows than one grid dimension holds */
  { "many-rows-70001x3", 2, { 70001, 3 }, TRUE, TRUE, 1e-5f, 0, FALSE, VT_NMSE_NORM },
};

static gboolean
run_layernorm (VlmDevice *dev, const LayerNormCase *c, const gfloat *x, const gfloat *gamma,
               const gfloat *beta, gfloat *y)
{
  GError *error = NULL;
  gint64 C = c->shape[c->ndim - 1];
  g_autoptr (VlmTensor) gt = c->gamma ? vt_tensor (dev, VLM_DTYPE_F32, 1, &C, gamma) : NULL;
  g_autoptr (VlmTensor) bt = c->beta ? vt_tensor (dev, VLM_DTYPE_F32, 1, &C, beta) : NULL;
  g_autoptr (VtOut) out = vt_out_new (dev, VLM_DTYPE_F32, c->ndim, c->shape,
                                      c->inplace ? x : NULL);
  gboolean ok;
  if (c->inplace) {
    ok = vlm_op_layernorm (out->t, out->t, gt, bt, c->eps, &error);
  } else {
    g_autoptr (VlmTensor) xt = vt_tensor (dev, VLM_DTYPE_F32, c->ndim, c->shape, x);
    ok = vlm_op_layernorm (out->t, xt, gt, bt, c->eps, &error);
  }
  return vt_op_ok ("layernorm", ok, &error) && vt_out_read (out, y, "layernorm output");
}

static void
test_layernorm (gconstpointer data)
{
  const LayerNormCase *c = data;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize n = (gsize) vt_numel (c->ndim, c->shape), C = (gsize) c->shape[c->ndim - 1];
  gsize rows = n / C;
  g_autofree gfloat *x = vt_uniform (&rng, n, -1, 1);
  g_autofree gfloat *gamma = vt_uniform (&rng, C, -1, 1);
  g_autofree gfloat *beta = vt_uniform (&rng, C, -1, 1);
  for (gsize i = 0; i < n; i++)
    x[i] += c->offset;
  g_autofree gfloat *ref = g_new (gfloat, n);
  g_autofree gfloat *got = g_new (gfloat, n);
  for (gsize r = 0; r < rows; r++) {
    const gfloat *xr = x + r * C;
    double mean = 0.0, var = 0.0;
    for (gsize i = 0; i < C; i++)
      mean += xr[i];
    mean /= (double) C;
    for (gsize i = 0; i < C; i++)
      var += (xr[i] - mean) * (xr[i] - mean);
    var /= (double) C;
    double inv = 1.0 / sqrt (var + (double) c->eps);
    for (gsize i = 0; i < C; i++)
      ref[r * C + i] = (gfloat) ((xr[i] - mean) * inv * (c->gamma ? gamma[i] : 1.0) +
                                 (c->beta ? beta[i] : 0.0));
  }
  if (!run_layernorm (vt_device (), c, x, gamma, beta, got))
    return;
  vt_check_nmse ("vs naive", ref, got, n, c->limit);
  if (vt_cpu ()) {
    g_autofree gfloat *cpu = g_new (gfloat, n);
    if (run_layernorm (vt_cpu (), c, x, gamma, beta, cpu))
      vt_check_nmse ("vulkan vs cpu", cpu, got, n, c->limit);
  }
}

/* ---- softmax -------------------------------------------------------------- */

typedef enum {
  MASK_NONE,
  MASK_RANDOM,         /* uniform [-1, 1] with some −inf entries */
  MASK_ROW_ALL_INF,    /* as MASK_RANDOM, and row 1 entirely −inf */
} MaskKind;

typedef struct {
  const gchar *name;
  gint ndim;
  gint64 shape[VLM_MAX_DIMS];
  gfloat scale;
  MaskKind mask;
  gint mask_ndim;      /* 2 = [R, C], 4 = [1, 1, R, C] */
  gboolean causal;
  gboolean inplace;
} SoftmaxCase;

static const SoftmaxCase softmax_cases[] = {
  { "23x77", 2, { 23, 77 }, 1.0f, MASK_NONE, 2, FALSE, FALSE },
  { "scale-12x50x50", 3, { 12, 50, 50 }, 0.125f, MASK_NONE, 2, FALSE, FALSE },
  { "mask-2x3x5x7", 4, { 2, 3, 5, 7 }, 0.5f, MASK_RANDOM, 2, FALSE, FALSE },
  { "mask4d-3x5x7", 3, { 3, 5, 7 }, 1.0f, MASK_RANDOM, 4, FALSE, FALSE },
  { "causal-3x9x9", 3, { 3, 9, 9 }, 1.0f, MASK_NONE, 2, TRUE, FALSE },
  { "causal-r-lt-c-2x4x7", 3, { 2, 4, 7 }, 1.0f, MASK_NONE, 2, TRUE, FALSE },
  { "causal-r=1-3x1x10", 3, { 3, 1, 10 }, 1.0f, MASK_NONE, 2, TRUE, FALSE },
  { "causal-mask-2x4x7", 3, { 2, 4, 7 }, 0.7f, MASK_RANDOM, 2, TRUE, FALSE },
  { "all-masked-row-3x6x10", 3, { 3, 6, 10 }, 1.0f, MASK_ROW_ALL_INF, 2, FALSE, FALSE },
  { "1d-77", 1, { 77 }, 1.0f, MASK_NONE, 2, FALSE, FALSE },
  { "long-rows-2x3001", 2, { 2, 3001 }, 1.0f, MASK_NONE, 2, FALSE, FALSE },
  /* scale·x reaches ±100: exp overflows without subtracting the row max */
  { "large-scale-4x1000", 2, { 4, 1000 }, 100.0f, MASK_NONE, 2, FALSE, FALSE },
  { "width1-5x1", 2, { 5, 1 }, 1.0f, MASK_NONE, 2, FALSE, FALSE },
  { "inplace-12x50x50", 3, { 12, 50, 50 }, 0.125f, MASK_NONE, 2, FALSE, TRUE },
  { "inplace-causal-mask-2x8x8", 3, { 2, 8, 8 }, 1.0f, MASK_RANDOM, 2, TRUE, TRUE },
  { "many-rows-mask-7x10001x5", 3, { 7, 10001, 5 }, 1.0f, MASK_RANDOM, 2, FALSE, FALSE },
};

static gboolean
run_softmax (VlmDevice *dev, const SoftmaxCase *c, const gfloat *x, const gfloat *mask,
             gfloat *y)
{
  GError *error = NULL;
  gint64 C = c->shape[c->ndim - 1], R = c->ndim >= 2 ? c->shape[c->ndim - 2] : 1;
  gint64 mshape[4] = { 1, 1, R, C };
  g_autoptr (VlmTensor) mt = NULL;
  if (c->mask != MASK_NONE)
    mt = vt_tensor (dev, VLM_DTYPE_F32, c->mask_ndim,
                    c->mask_ndim == 2 ? mshape + 2 : mshape, mask);
  g_autoptr (VtOut) out = vt_out_new (dev, VLM_DTYPE_F32, c->ndim, c->shape,
                                      c->inplace ? x : NULL);
  gboolean ok;
  if (c->inplace) {
    ok = vlm_op_softmax (out->t, out->t, c->scale, mt, c->causal, &error);
  } else {
    g_autoptr (VlmTensor) xt = vt_tensor (dev, VLM_DTYPE_F32, c->ndim, c->shape, x);
    ok = vlm_op_softmax (out->t, xt, c->scale, mt, c->causal, &error);
  }
  return vt_op_ok ("softmax", ok, &error) && vt_out_read (out, y, "softmax output");
}

static void
test_softmax (gconstpointer data)
{
  const SoftmaxCase *c = data;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize n = (gsize) vt_numel (c->ndim, c->shape);
  gsize C = (gsize) c->shape[c->ndim - 1], R = c->ndim >= 2 ? (gsize) c->shape[c->ndim - 2] : 1;
  g_autofree gfloat *x = vt_uniform (&rng, n, -1, 1);
  g_autofree gfloat *mask = vt_uniform (&rng, R * C, -1, 1);
  if (c->mask != MASK_NONE) {
    for (gsize i = 0; i < R * C; i++)
      if (vt_rng_double (&rng) < 0.2)
        mask[i] = -INFINITY;
    if (c->mask == MASK_ROW_ALL_INF)
      for (gsize j = 0; j < C; j++)
        mask[1 * C + j] = -INFINITY;
  }
  g_autofree gfloat *ref = g_new (gfloat, n);
  g_autofree gfloat *got = g_new (gfloat, n);
  g_autofree double *z = g_new (double, C);
  for (gsize row = 0; row < n / C; row++) {
    gsize r = row % R;
    double m = -INFINITY;
    for (gsize j = 0; j < C; j++) {
      z[j] = (double) c->scale * x[row * C + j];
      if (c->mask != MASK_NONE)
        z[j] += mask[r * C + j];
      if (c->causal && j > r + (C - R))
        z[j] = -INFINITY;
      m = MAX (m, z[j]);
    }
    double sum = 0.0;
    for (gsize j = 0; j < C; j++)
      sum += m == -INFINITY ? 0.0 : exp (z[j] - m);
    for (gsize j = 0; j < C; j++)
      ref[row * C + j] = m == -INFINITY ? 0.0f : (gfloat) (exp (z[j] - m) / sum);
  }
  if (!run_softmax (vt_device (), c, x, mask, got))
    return;
  vt_check_nmse ("vs naive", ref, got, n, VT_NMSE_SOFTMAX);
  if (c->mask == MASK_ROW_ALL_INF) {
    /* the fully masked rows must be exact zeros */
    gsize bad = 0;
    for (gsize row = 1; row < n / C; row += R)
      for (gsize j = 0; j < C; j++)
        bad += got[row * C + j] != 0.0f;
    if (bad)
      g_test_fail_printf ("all-masked rows: %" G_GSIZE_FORMAT " entries are not 0", bad);
  }
  if (vt_cpu ()) {
    g_autofree gfloat *cpu = g_new (gfloat, n);
    if (run_softmax (vt_cpu (), c, x, mask, cpu))
      vt_check_nmse ("vulkan vs cpu", cpu, got, n, VT_NMSE_SOFTMAX);
  }
}

void
vt_register_norm (const gchar *prefix)
{
  for (gsize i = 0; i < G_N_ELEMENTS (layernorm_cases); i++) {
    vt_add (prefix, "layernorm", layernorm_cases[i].name, &layernorm_cases[i], test_layernorm);
    vt_add_odd (prefix, "layernorm", layernorm_cases[i].name, &layernorm_cases[i], test_layernorm);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (softmax_cases); i++) {
    vt_add (prefix, "softmax", softmax_cases[i].name, &softmax_cases[i], test_softmax);
    vt_add_odd (prefix, "softmax", softmax_cases[i].name, &softmax_cases[i], test_softmax);
  }
}
