/* gst-vlm tests — ops recorded back to back without a sync: read-after-write
 * and write-after-read between dispatches, uploads and releases while work
 * is recorded, long recordings. On Vulkan this is where missing barriers
 * show; on the CPU every op runs at once and the same checks hold.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test-ops.h"

#define F32 VLM_DTYPE_F32
#define F16 VLM_DTYPE_F16

/* ---- a small two-layer pre-LN encoder plus an LM head ------------------- */

enum { B = 2, S = 13, D = 48, H = 4, FF = 130, V = 37, LAYERS = 2 };

typedef struct {
  gfloat *w[6];      /* q, k, v, o [D, D]; fc1 [FF, D]; fc2 [D, FF] */
  gfloat *b[6];
  gfloat *ln_g[2], *ln_b[2];
} LayerWeights;

typedef struct {
  gfloat *x;         /* [B, S, D] */
  LayerWeights layer[LAYERS];
  gfloat *lnf_g, *lnf_b;
  gfloat *lm;        /* [V, D] */
} Encoder;

static const gint w_rows[6] = { D, D, D, D, FF, D };
static const gint w_cols[6] = { D, D, D, D, D, FF };

static void
encoder_init (Encoder *e, VtRng *rng, gboolean f16)
{
  e->x = vt_uniform (rng, B * S * D, -1, 1);
  for (gint l = 0; l < LAYERS; l++) {
    LayerWeights *L = &e->layer[l];
    for (gint i = 0; i < 6; i++) {
      gsize n = (gsize) w_rows[i] * w_cols[i];
      /* scaled so activations stay O(1) through the layers */
      L->w[i] = vt_uniform (rng, n, -1.7f / sqrtf (w_cols[i]), 1.7f / sqrtf (w_cols[i]));
      if (f16)
        vt_to_f16 (L->w[i], n, NULL, L->w[i]);   /* the reference sees the rounded weights */
      L->b[i] = vt_uniform (rng, w_rows[i], -0.1f, 0.1f);
    }
    for (gint i = 0; i < 2; i++) {
      L->ln_g[i] = vt_uniform (rng, D, 0.5f, 1.5f);
      L->ln_b[i] = vt_uniform (rng, D, -0.1f, 0.1f);
    }
  }
  e->lnf_g = vt_uniform (rng, D, 0.5f, 1.5f);
  e->lnf_b = vt_uniform (rng, D, -0.1f, 0.1f);
  e->lm = vt_uniform (rng, (gsize) V * D, -1, 1);
}

static void
encoder_clear (Encoder *e)
{
  g_free (e->x);
  for (gint l = 0; l < LAYERS; l++) {
    for (gint i = 0; i < 6; i++) {
      g_free (e->layer[l].w[i]);
      g_free (e->layer[l].b[i]);
    }
    for (gint i = 0; i < 2; i++) {
      g_free (e->layer[l].ln_g[i]);
      g_free (e->layer[l].ln_b[i]);
    }
  }
  g_free (e->lnf_g);
  g_free (e->lnf_b);
  g_free (e->lm);
}

/* Naive double-precision pieces. */
static void
ref_ln (const double *x, double *y, gint rows, gint C, const gfloat *g, const gfloat *b)
{
  for (gint r = 0; r < rows; r++) {
    const double *xr = x + (gsize) r * C;
    double mean = 0, var = 0;
    for (gint i = 0; i < C; i++)
      mean += xr[i];
    mean /= C;
    for (gint i = 0; i < C; i++)
      var += (xr[i] - mean) * (xr[i] - mean);
    var /= C;
    for (gint i = 0; i < C; i++)
      y[(gsize) r * C + i] = (xr[i] - mean) / sqrt (var + 1e-5) * g[i] + b[i];
  }
}

static void
ref_linear (const double *x, double *y, gint rows, gint K, gint N, const gfloat *w,
            const gfloat *b, VlmActivation act, gboolean residual)
{
  for (gint r = 0; r < rows; r++)
    for (gint n = 0; n < N; n++) {
      double acc = b ? b[n] : 0.0;
      for (gint k = 0; k < K; k++)
        acc += x[(gsize) r * K + k] * w[(gsize) n * K + k];
      acc = vt_ref_act (act, acc);
      y[(gsize) r * N + n] = residual ? y[(gsize) r * N + n] + acc : acc;
    }
}

static void
ref_attention (const double *q, const double *k, const double *v, double *o, gboolean causal)
{
  gint hd = D / H;
  double s[S];
  for (gint b = 0; b < B; b++)
    for (gint h = 0; h < H; h++)
      for (gint i = 0; i < S; i++) {
        double m = -INFINITY, sum = 0;
        gint n = causal ? i + 1 : S;
        for (gint j = 0; j < n; j++) {
          double dot = 0;
          for (gint d = 0; d < hd; d++)
            dot += q[((gsize) b * S + i) * D + h * hd + d] *
                k[((gsize) b * S + j) * D + h * hd + d];
          s[j] = dot / sqrt ((double) hd);
          m = MAX (m, s[j]);
        }
        for (gint j = 0; j < n; j++) {
          s[j] = exp (s[j] - m);
          sum += s[j];
        }
        for (gint d = 0; d < hd; d++) {
          double acc = 0;
          for (gint j = 0; j < n; j++)
            acc += s[j] * v[((gsize) b * S + j) * D + h * hd + d];
          o[((gsize) b * S + i) * D + h * hd + d] = acc / sum;
        }
      }
}

/* Layer l is causal when l is odd (text-tower style), bidirectional else. */
static void
ref_encoder (const Encoder *e, gfloat *out_x, gfloat *out_logits)
{
  gsize n = (gsize) B * S;
  g_autofree double *x = g_new (double, n * D), *h = g_new (double, n * D);
  g_autofree double *q = g_new (double, n * D), *k = g_new (double, n * D);
  g_autofree double *v = g_new (double, n * D), *a = g_new (double, n * D);
  g_autofree double *m = g_new (double, n * FF), *lg = g_new (double, n * V);
  for (gsize i = 0; i < n * D; i++)
    x[i] = e->x[i];
  for (gint l = 0; l < LAYERS; l++) {
    const LayerWeights *L = &e->layer[l];
    ref_ln (x, h, (gint) n, D, L->ln_g[0], L->ln_b[0]);
    ref_linear (h, q, (gint) n, D, D, L->w[0], L->b[0], VLM_ACT_NONE, FALSE);
    ref_linear (h, k, (gint) n, D, D, L->w[1], L->b[1], VLM_ACT_NONE, FALSE);
    ref_linear (h, v, (gint) n, D, D, L->w[2], L->b[2], VLM_ACT_NONE, FALSE);
    ref_attention (q, k, v, a, l % 2 == 1);
    ref_linear (a, x, (gint) n, D, D, L->w[3], L->b[3], VLM_ACT_NONE, TRUE);
    ref_ln (x, h, (gint) n, D, L->ln_g[1], L->ln_b[1]);
    ref_linear (h, m, (gint) n, D, FF, L->w[4], L->b[4], VLM_ACT_QUICK_GELU, FALSE);
    ref_linear (m, x, (gint) n, FF, D, L->w[5], L->b[5], VLM_ACT_NONE, TRUE);
  }
  ref_ln (x, h, (gint) n, D, e->lnf_g, e->lnf_b);
  ref_linear (h, lg, (gint) n, D, V, e->lm, NULL, VLM_ACT_NONE, FALSE);
  for (gsize i = 0; i < n * D; i++)
    out_x[i] = (gfloat) x[i];
  for (gsize i = 0; i < n * V; i++)
    out_logits[i] = (gfloat) lg[i];
}

#define OK(call) G_STMT_START { if (!vt_op_ok (#call, (call), &error)) goto out; } G_STMT_END

/* Records the whole forward pass, then reads x, the logits and their top 3
 * back. Scratch tensors are reused by both layers (write-after-read). */
static gboolean
run_encoder (VlmDevice *dev, const Encoder *e, gboolean f16, gfloat *out_x, gfloat *logits,
             gint32 *top)
{
  GError *error = NULL;
  gboolean ok = FALSE;
  gint64 sx[3] = { B, S, D }, sf[3] = { B, S, FF }, sl[3] = { B, S, V }, st[3] = { B, S, 3 };
  gint64 vec[1] = { D };
  VlmTensor *w[LAYERS][6] = { { NULL } }, *bias[LAYERS][6] = { { NULL } };
  VlmTensor *g[LAYERS][2] = { { NULL } }, *be[LAYERS][2] = { { NULL } };
  g_autoptr (VlmTensor) x = vt_tensor (dev, F32, 3, sx, e->x);
  g_autoptr (VtOut) h = vt_out_new (dev, F32, 3, sx, NULL);
  g_autoptr (VtOut) q = vt_out_new (dev, F32, 3, sx, NULL);
  g_autoptr (VtOut) k = vt_out_new (dev, F32, 3, sx, NULL);
  g_autoptr (VtOut) v = vt_out_new (dev, F32, 3, sx, NULL);
  g_autoptr (VtOut) a = vt_out_new (dev, F32, 3, sx, NULL);
  g_autoptr (VtOut) m = vt_out_new (dev, F32, 3, sf, NULL);
  g_autoptr (VtOut) lg = vt_out_new (dev, F32, 3, sl, NULL);
  g_autoptr (VtOut) tv = vt_out_new (dev, F32, 3, st, NULL);
  g_autoptr (VtOut) ti = vt_out_new (dev, VLM_DTYPE_I32, 3, st, NULL);
  g_autoptr (VlmTensor) lnf_g = vt_tensor (dev, F32, 1, vec, e->lnf_g);
  g_autoptr (VlmTensor) lnf_b = vt_tensor (dev, F32, 1, vec, e->lnf_b);
  gint64 lms[2] = { V, D };
  g_autoptr (VlmTensor) lm = vt_tensor (dev, F32, 2, lms, e->lm);
  g_autofree gfloat *topv = g_new (gfloat, B * S * 3);
  g_autofree gfloat *tmp = g_new (gfloat, B * S * FF);
  for (gint l = 0; l < LAYERS; l++) {
    for (gint i = 0; i < 6; i++) {
      gint64 ws[2] = { w_rows[i], w_cols[i] }, bs[1] = { w_rows[i] };
      gsize n = (gsize) ws[0] * ws[1];
      if (f16) {
        g_autofree guint16 *h16 = g_new (guint16, n);
        vt_to_f16 (e->layer[l].w[i], n, h16, NULL);
        w[l][i] = vt_tensor (dev, F16, 2, ws, h16);
      } else {
        w[l][i] = vt_tensor (dev, F32, 2, ws, e->layer[l].w[i]);
      }
      bias[l][i] = vt_tensor (dev, F32, 1, bs, e->layer[l].b[i]);
    }
    for (gint i = 0; i < 2; i++) {
      g[l][i] = vt_tensor (dev, F32, 1, vec, e->layer[l].ln_g[i]);
      be[l][i] = vt_tensor (dev, F32, 1, vec, e->layer[l].ln_b[i]);
    }
  }
  for (gint l = 0; l < LAYERS; l++) {
    VlmAttentionParams p = { .n_heads = H, .causal = l % 2 == 1 };
    OK (vlm_op_layernorm (h->t, x, g[l][0], be[l][0], 1e-5f, &error));
    OK (vlm_op_matmul (q->t, h->t, w[l][0], bias[l][0], NULL, VLM_ACT_NONE, &error));
    OK (vlm_op_matmul (k->t, h->t, w[l][1], bias[l][1], NULL, VLM_ACT_NONE, &error));
    OK (vlm_op_matmul (v->t, h->t, w[l][2], bias[l][2], NULL, VLM_ACT_NONE, &error));
    OK (vlm_op_attention (a->t, q->t, k->t, v->t, &p, &error));
    OK (vlm_op_matmul (x, a->t, w[l][3], bias[l][3], x, VLM_ACT_NONE, &error));
    OK (vlm_op_layernorm (h->t, x, g[l][1], be[l][1], 1e-5f, &error));
    OK (vlm_op_matmul (m->t, h->t, w[l][4], bias[l][4], NULL, VLM_ACT_QUICK_GELU, &error));
    OK (vlm_op_matmul (x, m->t, w[l][5], bias[l][5], x, VLM_ACT_NONE, &error));
  }
  OK (vlm_op_layernorm (h->t, x, lnf_g, lnf_b, 1e-5f, &error));
  OK (vlm_op_matmul (lg->t, h->t, lm, NULL, NULL, VLM_ACT_NONE, &error));
  OK (vlm_op_topk (tv->t, ti->t, lg->t, 3, &error));
  g_assert_true (vlm_tensor_download (x, out_x, x->nbytes, &error));
  g_assert_no_error (error);
  ok = vt_out_read (lg, logits, "logits") & vt_out_read (tv, topv, "top values") &
      vt_out_read (ti, top, "top indices");
  VtOut *scratch[] = { h, q, k, v, a, m };
  for (guint i = 0; i < G_N_ELEMENTS (scratch); i++)
    ok &= vt_out_read (scratch[i], tmp, "scratch");
out:
  for (gint l = 0; l < LAYERS; l++) {
    for (gint i = 0; i < 6; i++) {
      g_clear_pointer (&w[l][i], vlm_tensor_unref);
      g_clear_pointer (&bias[l][i], vlm_tensor_unref);
    }
    for (gint i = 0; i < 2; i++) {
      g_clear_pointer (&g[l][i], vlm_tensor_unref);
      g_clear_pointer (&be[l][i], vlm_tensor_unref);
    }
  }
  return ok;
}

/* Host top-3 of each row, ties by lower index (for the device's logits). */
static void
host_top3 (const gfloat *logits, gint32 *top)
{
  for (gint r = 0; r < B * S; r++) {
    const gfloat *row = logits + (gsize) r * V;
    for (gint j = 0; j < 3; j++) {
      gint best = -1;
      for (gint c = 0; c < V; c++) {
        gboolean taken = FALSE;
        for (gint t = 0; t < j; t++)
          taken |= top[r * 3 + t] == c;
        if (!taken && (best < 0 || row[c] > row[best]))
          best = c;
      }
      top[r * 3 + j] = best;
    }
  }
}

static void
test_encoder (gconstpointer data)
{
  gboolean f16 = GPOINTER_TO_INT (data);
  if (f16 && !vt_need_f16 (vt_device ()))
    return;
  VtRng rng;
  vt_rng_init (&rng, f16 ? "encoder-f16" : "encoder");
  Encoder e;
  encoder_init (&e, &rng, f16);
  gsize nx = (gsize) B * S * D, nl = (gsize) B * S * V;
  g_autofree gfloat *ref_x = g_new (gfloat, nx), *ref_l = g_new (gfloat, nl);
  g_autofree gfloat *got_x = g_new (gfloat, nx), *got_l = g_new (gfloat, nl);
  g_autofree gint32 *got_t = g_new (gint32, B * S * 3), *host_t = g_new (gint32, B * S * 3);
  ref_encoder (&e, ref_x, ref_l);
  if (run_encoder (vt_device (), &e, f16, got_x, got_l, got_t)) {
    vt_check_nmse ("hidden states vs naive", ref_x, got_x, nx, VT_NMSE_MATMUL);
    vt_check_nmse ("logits vs naive", ref_l, got_l, nl, VT_NMSE_MATMUL);
    host_top3 (got_l, host_t);
    vt_check_exact_i32 ("top-3 vs the device's own logits", host_t, got_t, B * S * 3);
    if (vt_cpu ()) {
      g_autofree gfloat *cpu_x = g_new (gfloat, nx), *cpu_l = g_new (gfloat, nl);
      g_autofree gint32 *cpu_t = g_new (gint32, B * S * 3);
      if (run_encoder (vt_cpu (), &e, f16, cpu_x, cpu_l, cpu_t)) {
        vt_check_nmse ("hidden states vulkan vs cpu", cpu_x, got_x, nx, VT_NMSE_MATMUL);
        vt_check_nmse ("logits vulkan vs cpu", cpu_l, got_l, nl, VT_NMSE_MATMUL);
      }
    }
  }
  encoder_clear (&e);
}

/* ---- hazards around recorded work --------------------------------------- */

/* An upload waits for recorded work that reads the tensor: the first op
 * must see the old data, the second the new. */
static void
test_upload_after_record (gconstpointer data)
{
  VlmDevice *dev = vt_device ();
  GError *error = NULL;
  VtRng rng;
  vt_rng_init (&rng, "upload-after-record");
  const gint64 n = 1000;
  g_autofree gfloat *x0 = vt_uniform (&rng, n, -1, 1), *x1 = vt_uniform (&rng, n, -1, 1);
  g_autofree gfloat *r0 = g_new (gfloat, n), *r1 = g_new (gfloat, n);
  g_autofree gfloat *y0 = g_new (gfloat, n), *y1 = g_new (gfloat, n);
  for (gint64 i = 0; i < n; i++) {
    r0[i] = (gfloat) vt_ref_act (VLM_ACT_GELU_ERF, x0[i]);
    r1[i] = (gfloat) vt_ref_act (VLM_ACT_GELU_ERF, x1[i]);
  }
  g_autoptr (VlmTensor) x = vt_tensor (dev, F32, 1, &n, x0);
  g_autoptr (VtOut) a = vt_out_new (dev, F32, 1, &n, NULL);
  g_autoptr (VtOut) b = vt_out_new (dev, F32, 1, &n, NULL);
  if (!vt_op_ok ("unary", vlm_op_unary (a->t, x, VLM_ACT_GELU_ERF, &error), &error))
    return;
  g_assert_true (vlm_tensor_upload (x, x1, n * sizeof (gfloat), &error));
  g_assert_no_error (error);
  if (!vt_op_ok ("unary", vlm_op_unary (b->t, x, VLM_ACT_GELU_ERF, &error), &error))
    return;
  if (vt_out_read (a, y0, "first") && vt_out_read (b, y1, "second")) {
    vt_check_nmse ("before the upload", r0, y0, n, VT_NMSE_ELEMENTWISE);
    vt_check_nmse ("after the upload", r1, y1, n, VT_NMSE_ELEMENTWISE);
  }
}

/* Inputs released right after an op is recorded stay valid for it. */
static void
test_release_after_record (gconstpointer data)
{
  VlmDevice *dev = vt_device ();
  GError *error = NULL;
  VtRng rng;
  vt_rng_init (&rng, "release-after-record");
  const gint64 xs[2] = { 7, 40 }, ws[2] = { 24, 40 }, ys[2] = { 7, 24 };
  g_autofree gfloat *x = vt_uniform (&rng, 280, -1, 1), *w = vt_uniform (&rng, 960, -1, 1);
  g_autofree gfloat *ref = g_new (gfloat, 168), *got = g_new (gfloat, 168);
  for (gint r = 0; r < 7; r++)
    for (gint n = 0; n < 24; n++) {
      double acc = 0;
      for (gint k = 0; k < 40; k++)
        acc += (double) x[r * 40 + k] * w[n * 40 + k];
      ref[r * 24 + n] = (gfloat) acc;
    }
  g_autoptr (VtOut) y = vt_out_new (dev, F32, 2, ys, NULL);
  VlmTensor *xt = vt_tensor (dev, F32, 2, xs, x), *wt = vt_tensor (dev, F32, 2, ws, w);
  gboolean ok = vlm_op_matmul (y->t, xt, wt, NULL, NULL, VLM_ACT_NONE, &error);
  vlm_tensor_unref (xt);
  vlm_tensor_unref (wt);
  /* new allocations may reuse the released memory before the work runs */
  const gint64 big = 4096;
  g_autofree gfloat *junk = vt_uniform (&rng, big, 100, 200);
  g_autoptr (VlmTensor) j1 = vt_tensor (dev, F32, 1, &big, junk);
  g_autoptr (VlmTensor) j2 = vt_tensor (dev, F32, 1, &big, junk);
  if (vt_op_ok ("matmul", ok, &error) && vt_out_read (y, got, "y"))
    vt_check_nmse ("after releasing the inputs", ref, got, 168, VT_NMSE_MATMUL);
}

/* One op reads x, the next overwrites x in place: the first must still see
 * the old x (write-after-read), the third reads the new one. */
static void
test_write_after_read (gconstpointer data)
{
  VlmDevice *dev = vt_device ();
  GError *error = NULL;
  VtRng rng;
  vt_rng_init (&rng, "write-after-read");
  const gint64 n = 50000;
  g_autofree gfloat *x0 = vt_uniform (&rng, n, -1, 1), *c = vt_uniform (&rng, n, -1, 1);
  g_autofree gfloat *ra = g_new (gfloat, n), *rx = g_new (gfloat, n), *rb = g_new (gfloat, n);
  g_autofree gfloat *ga = g_new (gfloat, n), *gx = g_new (gfloat, n), *gb = g_new (gfloat, n);
  for (gint64 i = 0; i < n; i++) {
    ra[i] = (gfloat) vt_ref_act (VLM_ACT_QUICK_GELU, x0[i]);
    rx[i] = (gfloat) ((double) x0[i] + c[i]);
    rb[i] = (gfloat) vt_ref_act (VLM_ACT_QUICK_GELU, rx[i]);
  }
  g_autoptr (VtOut) x = vt_out_new (dev, F32, 1, &n, x0);
  g_autoptr (VlmTensor) ct = vt_tensor (dev, F32, 1, &n, c);
  g_autoptr (VtOut) a = vt_out_new (dev, F32, 1, &n, NULL);
  g_autoptr (VtOut) b = vt_out_new (dev, F32, 1, &n, NULL);
  if (!vt_op_ok ("read x", vlm_op_unary (a->t, x->t, VLM_ACT_QUICK_GELU, &error), &error) ||
      !vt_op_ok ("write x", vlm_op_binary (x->t, x->t, ct, VLM_BINARY_ADD, &error), &error) ||
      !vt_op_ok ("read new x", vlm_op_unary (b->t, x->t, VLM_ACT_QUICK_GELU, &error), &error))
    return;
  if (vt_out_read (a, ga, "a") && vt_out_read (x, gx, "x") && vt_out_read (b, gb, "b")) {
    vt_check_nmse ("read before the write", ra, ga, n, VT_NMSE_ELEMENTWISE);
    vt_check_nmse ("the write", rx, gx, n, VT_NMSE_ELEMENTWISE);
    vt_check_nmse ("read after the write", rb, gb, n, VT_NMSE_ELEMENTWISE);
  }
}

/* A long recording: 600 dependent in-place adds, then one download. */
static void
test_long_recording (gconstpointer data)
{
  VlmDevice *dev = vt_device ();
  GError *error = NULL;
  VtRng rng;
  vt_rng_init (&rng, "long-recording");
  const gint64 n = 333;
  const gint steps = 600;
  g_autofree gfloat *x0 = vt_uniform (&rng, n, -1, 1), *d = vt_uniform (&rng, n, -1, 1);
  g_autofree gfloat *ref = g_new (gfloat, n), *got = g_new (gfloat, n);
  for (gint64 i = 0; i < n; i++) {
    gfloat acc = x0[i];
    for (gint s = 0; s < steps; s++)
      acc = acc + d[i] * 0.001f;     /* the same f32 steps the device takes */
    ref[i] = acc;
  }
  for (gint64 i = 0; i < n; i++)
    d[i] *= 0.001f;
  g_autoptr (VtOut) x = vt_out_new (dev, F32, 1, &n, x0);
  g_autoptr (VlmTensor) dt = vt_tensor (dev, F32, 1, &n, d);
  for (gint s = 0; s < steps; s++)
    if (!vt_op_ok ("add", vlm_op_binary (x->t, x->t, dt, VLM_BINARY_ADD, &error), &error))
      return;
  if (vt_out_read (x, got, "x"))
    vt_check_nmse ("after 600 adds", ref, got, n, VT_NMSE_ELEMENTWISE);
}

void
vt_register_chain (const gchar *prefix)
{
  vt_add (prefix, "chain", "encoder-2-layers-f32", GINT_TO_POINTER (FALSE), test_encoder);
  vt_add (prefix, "chain", "encoder-2-layers-f16", GINT_TO_POINTER (TRUE), test_encoder);
  vt_add (prefix, "chain", "upload-after-record", NULL, test_upload_after_record);
  vt_add (prefix, "chain", "release-after-record", NULL, test_release_after_record);
  vt_add (prefix, "chain", "write-after-read", NULL, test_write_after_read);
  vt_add (prefix, "chain", "long-recording-600", NULL, test_long_recording);
}
