/* gst-vlm tests — matmul (f32 and f16 weights) and attention.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>

#include "test-ops.h"


/* ---- matmul ------------------------------------------------------------- */

typedef enum {
  RES_NONE,
  RES_SEPARATE,
  RES_ALIAS_Y,         /* residual is y itself (in-place x += f(x·wᵀ)) */
} ResidualMode;

typedef struct {
  const gchar *name;
  gint ndim;
  gint64 xshape[VLM_MAX_DIMS];   /* last dim is K */
  gint64 N;
  VlmDType wtype;
  gboolean bias;
  VlmActivation act;
  ResidualMode residual;
} MatmulCase;

#define F32 VLM_DTYPE_F32
#define F16 VLM_DTYPE_F16

static const MatmulCase matmul_cases[] = {
  { "23x77x45", 2, { 23, 77 }, 45, F32, FALSE, VLM_ACT_NONE, RES_NONE },
  { "23x77x45-f16", 2, { 23, 77 }, 45, F16, FALSE, VLM_ACT_NONE, RES_NONE },
  { "23x77x45-bias", 2, { 23, 77 }, 45, F32, TRUE, VLM_ACT_NONE, RES_NONE },
  { "23x77x45-bias-f16", 2, { 23, 77 }, 45, F16, TRUE, VLM_ACT_NONE, RES_NONE },
  /* CLIP B/32 MLP fc1: 50 rows leave a ragged tail in any row tiling */
  { "50x768x3072-bias-quick_gelu", 2, { 50, 768 }, 3072, F32, TRUE, VLM_ACT_QUICK_GELU,
    RES_NONE },
  { "50x768x3072-bias-quick_gelu-f16", 2, { 50, 768 }, 3072, F16, TRUE, VLM_ACT_QUICK_GELU,
    RES_NONE },
  { "matvec-1x768x513-bias", 2, { 1, 768 }, 513, F32, TRUE, VLM_ACT_NONE, RES_NONE },
  { "matvec-1x768x513-bias-f16", 2, { 1, 768 }, 513, F16, TRUE, VLM_ACT_NONE, RES_NONE },
  { "matvec-1x3072x768-bias-residual-y-f16", 2, { 1, 3072 }, 768, F16, TRUE, VLM_ACT_NONE,
    RES_ALIAS_Y },
  { "matvec-1x1x1", 1, { 1 }, 1, F32, FALSE, VLM_ACT_NONE, RES_NONE },
  { "k1-8x1x5-bias", 2, { 8, 1 }, 5, F32, TRUE, VLM_ACT_NONE, RES_NONE },
  { "3d-2x7x33x17-bias-gelu_erf", 3, { 2, 7, 33 }, 17, F32, TRUE, VLM_ACT_GELU_ERF, RES_NONE },
  { "3d-2x7x33x17-bias-gelu_erf-f16", 3, { 2, 7, 33 }, 17, F16, TRUE, VLM_ACT_GELU_ERF,
    RES_NONE },
  { "4d-2x3x5x16x8-gelu_tanh", 4, { 2, 3, 5, 16 }, 8, F32, FALSE, VLM_ACT_GELU_TANH, RES_NONE },
  { "5x130x31-bias-gelu_tanh", 2, { 5, 130 }, 31, F32, TRUE, VLM_ACT_GELU_TANH, RES_NONE },
  { "5x130x31-bias-gelu_tanh-f16", 2, { 5, 130 }, 31, F16, TRUE, VLM_ACT_GELU_TANH, RES_NONE },
  { "9x64x96-bias-quick_gelu", 2, { 9, 64 }, 96, F32, TRUE, VLM_ACT_QUICK_GELU, RES_NONE },
  { "13x40x24-residual", 2, { 13, 40 }, 24, F32, FALSE, VLM_ACT_NONE, RES_SEPARATE },
  { "13x40x24-bias-residual-f16", 2, { 13, 40 }, 24, F16, TRUE, VLM_ACT_NONE, RES_SEPARATE },
  { "13x40x24-bias-gelu_erf-residual-y", 2, { 13, 40 }, 24, F32, TRUE, VLM_ACT_GELU_ERF,
    RES_ALIAS_Y },
  { "17x200x70-bias-quick_gelu-residual-y-f16", 2, { 17, 200 }, 70, F16, TRUE,
    VLM_ACT_QUICK_GELU, RES_ALIAS_Y },
  { "ragged-65x129x67", 2, { 65, 129 }, 67, F32, TRUE, VLM_ACT_NONE, RES_NONE },
  { "ragged-65x129x67-f16", 2, { 65, 129 }, 67, F16, TRUE, VLM_ACT_NONE, RES_NONE },
  { "50x768x768-bias-residual-y", 2, { 50, 768 }, 768, F32, TRUE, VLM_ACT_NONE, RES_ALIAS_Y },
  /* a few rows (decoding, small batches): 2 to 5 */
  { "rows2-2x77x45-bias", 2, { 2, 77 }, 45, F32, TRUE, VLM_ACT_NONE, RES_NONE },
  { "rows3-3x130x33-bias-gelu_erf-f16", 2, { 3, 130 }, 33, F16, TRUE, VLM_ACT_GELU_ERF,
    RES_NONE },
  { "rows4-4x33x65-bias-residual-y", 2, { 4, 33 }, 65, F32, TRUE, VLM_ACT_NONE, RES_ALIAS_Y },
  { "rows5-5x33x17-bias", 2, { 5, 33 }, 17, F32, TRUE, VLM_ACT_NONE, RES_NONE },
  { "matvec-1x33x7-f16", 2, { 1, 33 }, 7, F16, FALSE, VLM_ACT_NONE, RES_NONE },
  /* enough output tiles for large GEMM tiles, ragged in every dimension */
  { "many-tiles-260x37x1030-bias-gelu_tanh", 2, { 260, 37 }, 1030, F32, TRUE,
    VLM_ACT_GELU_TANH, RES_NONE },
  { "many-tiles-260x37x1030-bias-residual-y-f16", 2, { 260, 37 }, 1030, F16, TRUE,
    VLM_ACT_NONE, RES_ALIAS_Y },
  { "many-tiles-197x768x577-bias-quick_gelu", 2, { 197, 768 }, 577, F32, TRUE,
    VLM_ACT_QUICK_GELU, RES_NONE },
};

typedef struct {
  const gfloat *x, *w, *bias, *residual;
  const guint16 *w16;
} MatmulInputs;

static gboolean
run_matmul (VlmDevice *dev, const MatmulCase *c, const MatmulInputs *in, gfloat *y)
{
  GError *error = NULL;
  gint64 K = c->xshape[c->ndim - 1];
  gint64 wshape[2] = { c->N, K };
  gint64 yshape[VLM_MAX_DIMS];
  for (gint i = 0; i < c->ndim; i++)
    yshape[i] = c->xshape[i];
  yshape[c->ndim - 1] = c->N;
  g_autoptr (VlmTensor) xt = vt_tensor (dev, F32, c->ndim, c->xshape, in->x);
  g_autoptr (VlmTensor) wt = c->wtype == F16 ? vt_tensor (dev, F16, 2, wshape, in->w16)
      : vt_tensor (dev, F32, 2, wshape, in->w);
  g_autoptr (VlmTensor) bt = c->bias ? vt_tensor (dev, F32, 1, &c->N, in->bias) : NULL;
  g_autoptr (VtOut) out = vt_out_new (dev, F32, c->ndim, yshape,
                                      c->residual == RES_ALIAS_Y ? in->residual : NULL);
  g_autoptr (VlmTensor) rt = NULL;
  if (c->residual == RES_SEPARATE)
    rt = vt_tensor (dev, F32, c->ndim, yshape, in->residual);
  else if (c->residual == RES_ALIAS_Y)
    rt = vlm_tensor_ref (out->t);
  gboolean ok = vlm_op_matmul (out->t, xt, wt, bt, rt, c->act, &error);
  return vt_op_ok ("matmul", ok, &error) && vt_out_read (out, y, "matmul output");
}

static void
ref_matmul (const MatmulCase *c, const MatmulInputs *in, const gfloat *w, gsize M, gsize K,
            gfloat *y)
{
  gsize N = (gsize) c->N;
  for (gsize m = 0; m < M; m++) {
    for (gsize n = 0; n < N; n++) {
      double acc = 0.0;
      for (gsize k = 0; k < K; k++)
        acc += (double) in->x[m * K + k] * (double) w[n * K + k];
      if (c->bias)
        acc += in->bias[n];
      acc = vt_ref_act (c->act, acc);
      if (c->residual != RES_NONE)
        acc += in->residual[m * N + n];
      y[m * N + n] = (gfloat) acc;
    }
  }
}

static void
test_matmul (gconstpointer data)
{
  const MatmulCase *c = data;
  if (c->wtype == F16 && !vt_need_f16 (vt_device ()))
    return;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize K = (gsize) c->xshape[c->ndim - 1], N = (gsize) c->N;
  gsize M = (gsize) vt_numel (c->ndim, c->xshape) / K;
  g_autofree gfloat *x = vt_uniform (&rng, M * K, -1, 1);
  g_autofree gfloat *w = vt_uniform (&rng, N * K, -1, 1);
  g_autofree gfloat *bias = vt_uniform (&rng, N, -1, 1);
  g_autofree gfloat *residual = vt_uniform (&rng, M * N, -1, 1);
  g_autofree guint16 *w16 = g_new (guint16, N * K);
  g_autofree gfloat *w_rounded = g_new (gfloat, N * K);
  vt_to_f16 (w, N * K, w16, w_rounded);
  MatmulInputs in = { x, w, bias, residual, w16 };

  g_autofree gfloat *ref = g_new (gfloat, M * N);
  g_autofree gfloat *got = g_new (gfloat, M * N);
  ref_matmul (c, &in, w, M, K, ref);
  if (!run_matmul (vt_device (), c, &in, got))
    return;
  if (c->wtype == F16) {
    g_autofree gfloat *ref16 = g_new (gfloat, M * N);
    ref_matmul (c, &in, w_rounded, M, K, ref16);
    vt_check_nmse ("vs naive on the unrounded f32 weights", ref, got, M * N, VT_NMSE_MATMUL_F16);
    /* Same f16 weights, f32 math: as close as an f32 matmul. */
    vt_check_nmse ("vs naive on the f16-rounded weights", ref16, got, M * N, VT_NMSE_MATMUL);
  } else {
    vt_check_nmse ("vs naive", ref, got, M * N, VT_NMSE_MATMUL);
  }
  if (vt_cpu ()) {
    g_autofree gfloat *cpu = g_new (gfloat, M * N);
    /* Both backends see the same f16 weights, so f32 accuracy is expected
     * either way. */
    if (run_matmul (vt_cpu (), c, &in, cpu))
      vt_check_nmse ("vulkan vs cpu", cpu, got, M * N, VT_NMSE_MATMUL);
  }
}

/* ---- attention ---------------------------------------------------------- */

typedef struct {
  const gchar *name;
  gint B, Sq, Skv, H, D;
  gboolean causal;
  gint n_prefix, q_offset, kv_len;
  gfloat scale;
  gboolean two_d;      /* pass [S, H·D] tensors instead of [1, S, H·D] */
} AttentionCase;

static const AttentionCase attention_cases[] = {
  { "clip-vision-1x50-h12x64", 1, 50, 50, 12, 64, FALSE, 0, 0, 0, 0.0f, FALSE },
  { "batch-3x17-h4x16", 3, 17, 17, 4, 16, FALSE, 0, 0, 0, 0.0f, FALSE },
  { "causal-clip-text-2x77-h8x64", 2, 77, 77, 8, 64, TRUE, 0, 0, 0, 0.0f, FALSE },
  { "git-prefix12-1x30-h4x32", 1, 30, 30, 4, 32, TRUE, 12, 0, 0, 0.0f, FALSE },
  { "git-prefix12-batch-2x30-h4x32", 2, 30, 30, 4, 32, TRUE, 12, 0, 0, 0.0f, FALSE },
  { "kv-step-2x1-q9-kv10of16-prefix4", 2, 1, 16, 3, 16, TRUE, 4, 9, 10, 0.0f, FALSE },
  { "kv-step-1x3-q5-kv8of12", 1, 3, 12, 2, 24, TRUE, 0, 5, 8, 0.0f, FALSE },
  { "kv-step-1x3-q5-kv8of12-prefix7", 1, 3, 12, 2, 24, TRUE, 7, 5, 8, 0.0f, FALSE },
  { "kvlen-2x5-kv13of20", 2, 5, 20, 2, 8, FALSE, 0, 0, 13, 0.0f, FALSE },
  { "cross-1x7x19-h3x8", 1, 7, 19, 3, 8, FALSE, 0, 0, 0, 0.0f, FALSE },
  { "2d-9-h3x8", 1, 9, 9, 3, 8, TRUE, 0, 0, 0, 0.0f, TRUE },
  { "odd-head-dim-1x11-h3x13", 1, 11, 11, 3, 13, FALSE, 0, 0, 0, 0.0f, FALSE },
  { "head-dim-80-1x9-h2x80", 1, 9, 9, 2, 80, TRUE, 0, 0, 0, 0.0f, FALSE },
  { "head-dim-128-1x5x70-h1x128", 1, 5, 70, 1, 128, FALSE, 0, 0, 0, 0.0f, FALSE },
  /* scores up to ±30·16: exp overflows without subtracting the row max */
  { "large-scale-1x20-h2x16", 1, 20, 20, 2, 16, TRUE, 0, 0, 0, 30.0f, FALSE },
  { "long-kv-1x4x300-h2x32", 1, 4, 300, 2, 32, FALSE, 0, 0, 0, 0.0f, FALSE },
  { "kv-step-1x2-q258-kv260of300-prefix50", 1, 2, 300, 2, 32, TRUE, 50, 258, 260, 0.0f, FALSE },
  /* more (batch, head, query) rows than one grid dimension holds */
  { "many-rows-1x513x8-h128x1", 1, 513, 8, 128, 1, FALSE, 0, 0, 0, 0.0f, FALSE },
};

static gboolean
run_attention (VlmDevice *dev, const AttentionCase *c, const gfloat *q, const gfloat *k,
               const gfloat *v, gfloat *out)
{
  GError *error = NULL;
  gint64 C = (gint64) c->H * c->D;
  gint64 qs[3] = { c->B, c->Sq, C }, ks[3] = { c->B, c->Skv, C };
  gint nd = c->two_d ? 2 : 3;
  const gint64 *qsh = c->two_d ? qs + 1 : qs, *ksh = c->two_d ? ks + 1 : ks;
  g_autoptr (VlmTensor) qt = vt_tensor (dev, F32, nd, qsh, q);
  g_autoptr (VlmTensor) kt = vt_tensor (dev, F32, nd, ksh, k);
  g_autoptr (VlmTensor) vt = vt_tensor (dev, F32, nd, ksh, v);
  g_autoptr (VtOut) o = vt_out_new (dev, F32, nd, qsh, NULL);
  VlmAttentionParams p = {
    .n_heads = c->H, .scale = c->scale, .causal = c->causal, .n_prefix = c->n_prefix,
    .q_offset = c->q_offset, .kv_len = c->kv_len,
  };
  gboolean ok = vlm_op_attention (o->t, qt, kt, vt, &p, &error);
  return vt_op_ok ("attention", ok, &error) && vt_out_read (o, out, "attention output");
}

static void
test_attention (gconstpointer data)
{
  const AttentionCase *c = data;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize C = (gsize) c->H * c->D;
  gsize nq = (gsize) c->B * c->Sq * C, nkv = (gsize) c->B * c->Skv * C;
  gint kv_len = c->kv_len ? c->kv_len : c->Skv;
  g_autofree gfloat *q = vt_uniform (&rng, nq, -1, 1);
  g_autofree gfloat *k = vt_uniform (&rng, nkv, -1, 1);
  g_autofree gfloat *v = vt_uniform (&rng, nkv, -1, 1);
  /* Rows past kv_len are an unfilled KV cache: NaN must not leak out. */
  for (gint b = 0; b < c->B; b++)
    for (gint j = kv_len; j < c->Skv; j++)
      for (gsize i = 0; i < C; i++) {
        k[((gsize) b * c->Skv + j) * C + i] = NAN;
        v[((gsize) b * c->Skv + j) * C + i] = NAN;
      }
  double scale = c->scale != 0.0f ? c->scale : 1.0 / sqrt ((double) c->D);
  g_autofree gfloat *ref = g_new (gfloat, nq);
  g_autofree gfloat *got = g_new (gfloat, nq);
  g_autofree double *s = g_new (double, kv_len);
  for (gint b = 0; b < c->B; b++) {
    for (gint h = 0; h < c->H; h++) {
      for (gint i = 0; i < c->Sq; i++) {
        const gfloat *qi = q + ((gsize) b * c->Sq + i) * C + (gsize) h * c->D;
        gint pos = c->q_offset + i;
        double m = -INFINITY;
        for (gint j = 0; j < kv_len; j++) {
          gboolean seen = !c->causal || j <= pos || j < c->n_prefix;
          if (!seen) {
            s[j] = -INFINITY;
            continue;
          }
          const gfloat *kj = k + ((gsize) b * c->Skv + j) * C + (gsize) h * c->D;
          double dot = 0.0;
          for (gint d = 0; d < c->D; d++)
            dot += (double) qi[d] * kj[d];
          s[j] = scale * dot;
          m = MAX (m, s[j]);
        }
        double sum = 0.0;
        for (gint j = 0; j < kv_len; j++) {
          s[j] = s[j] == -INFINITY ? 0.0 : exp (s[j] - m);
          sum += s[j];
        }
        for (gint d = 0; d < c->D; d++) {
          double acc = 0.0;
          for (gint j = 0; j < kv_len; j++)
            if (s[j] != 0.0)
              acc += s[j] * v[((gsize) b * c->Skv + j) * C + (gsize) h * c->D + d];
          ref[((gsize) b * c->Sq + i) * C + (gsize) h * c->D + d] = (gfloat) (acc / sum);
        }
      }
    }
  }
  if (!run_attention (vt_device (), c, q, k, v, got))
    return;
  vt_check_nmse ("vs naive", ref, got, nq, VT_NMSE_MATMUL);
  if (vt_cpu ()) {
    g_autofree gfloat *cpu = g_new (gfloat, nq);
    if (run_attention (vt_cpu (), c, q, k, v, cpu))
      vt_check_nmse ("vulkan vs cpu", cpu, got, nq, VT_NMSE_MATMUL);
  }
}

void
vt_register_matmul (const gchar *prefix)
{
  for (gsize i = 0; i < G_N_ELEMENTS (matmul_cases); i++) {
    vt_add (prefix, "matmul", matmul_cases[i].name, &matmul_cases[i], test_matmul);
    vt_add_odd (prefix, "matmul", matmul_cases[i].name, &matmul_cases[i], test_matmul);
  }
}

void
vt_register_attention (const gchar *prefix)
{
  for (gsize i = 0; i < G_N_ELEMENTS (attention_cases); i++) {
    vt_add (prefix, "attention", attention_cases[i].name, &attention_cases[i], test_attention);
    vt_add_odd (prefix, "attention", attention_cases[i].name, &attention_cases[i], test_attention);
  }
}
