/* gst-vlm tests — reduced-precision matmul weights (bf16, int8).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The CPU backend takes bf16 matmul weights: on AMX tiles where the
 * processor has them (x rounded to bf16 too, sums in f32), widened to f32
 * on the fly elsewhere. Each case runs on the CPU device of the process
 * (meson runs this binary once per kernel: AMX, AVX-512 without AMX, AVX2,
 * portable C) and compares against a double-precision reference on the
 * same bf16-rounded weights and against the unrounded f32 weights. Vulkan
 * must refuse bf16 weights cleanly. int8 weights with row scales
 * (vlm_op_matmul_scaled()) the same way, on the dequantized weights; the
 * CPU takes them, Vulkan refuses. f32 weights with VLM_CPU_F32_MATH=bf16x3
 * (AMX) stay within 1e-9 NMSE. A packed weight's freed bytes come back
 * when read (every weight dtype). The tiny CLIP checkpoint
 * (VLM_TEST_CLIP_MODEL) loaded with bf16 or int8 weights must give embeddings at
 * cosine ≥ 0.995 from its f32 ones (the bound for varied images).
 */
#include <math.h>
#include <string.h>

#include "vlm-test-util.h"
#include "models/vlm-clip.h"

/* x rounded to bf16 (AMX) costs ~2^-9 relative per product: NMSE ≈ 1e-6
 * against the reference on the same weights; the widened paths are f32
 * accurate. */
#define NMSE_BF16_SAME_WEIGHTS 2e-5
/* Against the unrounded weights: the bf16 rounding of w itself. */
#define NMSE_BF16_F32_WEIGHTS  5e-4

static VlmDevice *cpu_device;
/* The CPU device with VLM_CPU_F32_MATH=bf16x3, or NULL without AMX. */
static VlmDevice *x3_device;

/* bf16 bits of @f, nearest even, written here independently of the engine. */
static guint16
bf16_round (gfloat f)
{
  guint32 x;
  memcpy (&x, &f, 4);
  if (isnan (f))
    return 0x7fc0;
  guint32 lower = x & 0xffffu, upper = x >> 16;
  if (lower > 0x8000u || (lower == 0x8000u && (upper & 1u)))
    upper++;
  return (guint16) upper;
}

static gfloat
bf16_value (guint16 h)
{
  guint32 x = (guint32) h << 16;
  gfloat f;
  memcpy (&f, &x, 4);
  return f;
}

/* ---- conversion ---------------------------------------------------------- */

static void
test_convert (void)
{
  static const struct {
    guint32 in;
    guint16 out;
  } cases[] = {
    { 0x3f800000u, 0x3f80 },     /* 1 */
    { 0x3f808000u, 0x3f80 },     /* 1 + 2^-8: tie, to even (down) */
    { 0x3f818000u, 0x3f82 },     /* tie, to even (up) */
    { 0x3f808001u, 0x3f81 },     /* above the tie */
    { 0x3f807fffu, 0x3f80 },     /* below the tie */
    { 0x80000000u, 0x8000 },     /* −0 */
    { 0x7f800000u, 0x7f80 },     /* +inf */
    { 0xff800000u, 0xff80 },     /* −inf */
    { 0x7f7fffffu, 0x7f80 },     /* FLT_MAX rounds to inf */
    { 0x00000001u, 0x0000 },     /* smallest denormal rounds to 0 */
    { 0xc0490fdbu, 0xc049 },     /* −π */
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    gfloat f;
    guint16 h;
    memcpy (&f, &cases[i].in, 4);
    vlm_f32_to_bf16 (&h, &f, 1);
    if (h != cases[i].out)
      g_test_fail_printf ("0x%08x → 0x%04x, expected 0x%04x", cases[i].in, h, cases[i].out);
    g_assert_cmpuint (bf16_round (f), ==, cases[i].out);
  }
  /* NaN stays NaN, quiet, sign kept. */
  guint32 nans[] = { 0x7f800001u, 0xffc00000u, 0x7fa00000u };
  for (gsize i = 0; i < G_N_ELEMENTS (nans); i++) {
    gfloat f;
    guint16 h;
    memcpy (&f, &nans[i], 4);
    vlm_f32_to_bf16 (&h, &f, 1);
    g_assert_true (isnan (bf16_value (h)));
    g_assert_cmpuint (h & 0x8000u, ==, (nans[i] >> 16) & 0x8000u);
  }
}

/* ---- matmul -------------------------------------------------------------- */

typedef struct {
  const gchar *name;
  gint ndim;
  gint64 xshape[3];            /* last dim is K */
  gint64 N;
  gboolean bias;
  VlmActivation act;
  gint residual;               /* 0 none, 1 separate, 2 y itself */
  gsize offset;                /* element offset of the views (odd: unaligned) */
} LowpCase;

static const LowpCase cases[] = {
  { "23x77x45", 2, { 23, 77 }, 45, FALSE, VLM_ACT_NONE, 0, 16 },
  { "23x77x45-bias-odd-offset", 2, { 23, 77 }, 45, TRUE, VLM_ACT_NONE, 0, 5 },
  { "1x1x1", 1, { 1 }, 1, FALSE, VLM_ACT_NONE, 0, 16 },
  { "k1-8x1x5-bias", 2, { 8, 1 }, 5, TRUE, VLM_ACT_NONE, 0, 16 },
  { "k31-3x31x33-bias", 2, { 3, 31 }, 33, TRUE, VLM_ACT_NONE, 0, 3 },
  { "matvec-1x768x513-bias", 2, { 1, 768 }, 513, TRUE, VLM_ACT_NONE, 0, 16 },
  { "matvec-1x3072x768-bias-residual-y", 2, { 1, 3072 }, 768, TRUE, VLM_ACT_NONE, 2, 16 },
  { "3d-2x7x33x17-bias-gelu_erf", 3, { 2, 7, 33 }, 17, TRUE, VLM_ACT_GELU_ERF, 0, 16 },
  { "5x130x31-bias-gelu_tanh", 2, { 5, 130 }, 31, TRUE, VLM_ACT_GELU_TANH, 0, 7 },
  { "13x40x24-bias-residual", 2, { 13, 40 }, 24, TRUE, VLM_ACT_NONE, 1, 16 },
  { "17x200x70-bias-quick_gelu-residual-y", 2, { 17, 200 }, 70, TRUE, VLM_ACT_QUICK_GELU, 2,
    16 },
  { "tiles-32x64x32", 2, { 32, 64 }, 32, FALSE, VLM_ACT_NONE, 0, 16 },
  { "ragged-65x129x67-bias", 2, { 65, 129 }, 67, TRUE, VLM_ACT_NONE, 0, 9 },
  /* CLIP B/32 shapes: one image (50 rows), a batch of 8 (400) */
  { "50x768x3072-bias-quick_gelu", 2, { 50, 768 }, 3072, TRUE, VLM_ACT_QUICK_GELU, 0, 16 },
  { "50x3072x768-bias-residual-y", 2, { 50, 3072 }, 768, TRUE, VLM_ACT_NONE, 2, 16 },
  { "400x768x96-bias", 2, { 400, 768 }, 96, TRUE, VLM_ACT_NONE, 0, 16 },
  { "many-tiles-260x37x1030-bias-residual-y", 2, { 260, 37 }, 1030, TRUE, VLM_ACT_NONE, 2, 16 },
};

/* A tensor holding @data as a view at @offset elements inside a larger one
 * whose other elements are NaN (int8: 127), so reads outside it show. */
static VlmTensor *
guarded (VlmDevice *dev, VlmDType dtype, gint ndim, const gint64 *shape, gconstpointer data,
         gsize offset)
{
  GError *error = NULL;
  gsize esize = vlm_dtype_size (dtype), n = (gsize) vt_numel (ndim, shape);
  gint64 total = (gint64) (offset + n + 64);
  guint8 *host = g_malloc (total * esize);
  for (gint64 i = 0; i < total; i++) {
    if (esize == 1) {
      host[i] = 0x7f;                /* int8: the largest value */
    } else if (esize == 2) {
      guint16 nan16 = 0x7fc1;
      memcpy (host + 2 * i, &nan16, 2);
    } else {
      gfloat nan32 = NAN;
      memcpy (host + 4 * i, &nan32, 4);
    }
  }
  memcpy (host + offset * esize, data, n * esize);
  g_autoptr (VlmTensor) base = vlm_tensor_new (dev, dtype, 1, &total, &error);
  g_assert_no_error (error);
  vlm_tensor_upload (base, host, total * esize, &error);
  g_assert_no_error (error);
  g_free (host);
  VlmTensor *t = vlm_tensor_view (base, offset, ndim, shape, &error);
  g_assert_no_error (error);
  return t;
}

typedef struct {
  const gfloat *x, *bias, *residual;
  const guint16 *w;
} Inputs;

static gboolean
run_on (VlmDevice *dev, const LowpCase *c, const Inputs *in, VlmTensor *w, gfloat *y)
{
  GError *error = NULL;
  gint64 yshape[3];
  for (gint i = 0; i < c->ndim; i++)
    yshape[i] = c->xshape[i];
  yshape[c->ndim - 1] = c->N;
  g_autoptr (VlmTensor) xt = guarded (dev, VLM_DTYPE_F32, c->ndim, c->xshape, in->x,
                                      c->offset);
  g_autoptr (VlmTensor) bt = c->bias ? guarded (dev, VLM_DTYPE_F32, 1, &c->N, in->bias,
                                                c->offset) : NULL;
  g_autoptr (VtOut) out = vt_out_new (dev, VLM_DTYPE_F32, c->ndim, yshape,
                                      c->residual == 2 ? in->residual : NULL);
  g_autoptr (VlmTensor) rt = NULL;
  if (c->residual == 1)
    rt = guarded (dev, VLM_DTYPE_F32, c->ndim, yshape, in->residual, c->offset);
  else if (c->residual == 2)
    rt = vlm_tensor_ref (out->t);
  gboolean ok = vlm_op_matmul (out->t, xt, w, bt, rt, c->act, &error);
  return vt_op_ok ("matmul", ok, &error) && vt_out_read (out, y, "matmul output");
}

static gboolean
run (const LowpCase *c, const Inputs *in, VlmTensor *w, gfloat *y)
{
  return run_on (cpu_device, c, in, w, y);
}

static void
reference (const LowpCase *c, const Inputs *in, const gfloat *w, gsize M, gsize K, gfloat *y)
{
  gsize N = (gsize) c->N;
  for (gsize m = 0; m < M; m++)
    for (gsize n = 0; n < N; n++) {
      double acc = 0.0;
      for (gsize k = 0; k < K; k++)
        acc += (double) in->x[m * K + k] * (double) w[n * K + k];
      if (c->bias)
        acc += in->bias[n];
      acc = vt_ref_act (c->act, acc);
      if (c->residual)
        acc += in->residual[m * N + n];
      y[m * N + n] = (gfloat) acc;
    }
}

static void
test_matmul (gconstpointer data)
{
  const LowpCase *c = data;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize K = (gsize) c->xshape[c->ndim - 1], N = (gsize) c->N;
  gsize M = (gsize) vt_numel (c->ndim, c->xshape) / K;
  g_autofree gfloat *x = vt_uniform (&rng, M * K, -1, 1);
  g_autofree gfloat *w = vt_uniform (&rng, N * K, -1, 1);
  g_autofree gfloat *bias = vt_uniform (&rng, N, -1, 1);
  g_autofree gfloat *residual = vt_uniform (&rng, M * N, -1, 1);
  g_autofree guint16 *wb = g_new (guint16, N * K);
  g_autofree gfloat *w_rounded = g_new (gfloat, N * K);
  for (gsize i = 0; i < N * K; i++) {
    wb[i] = bf16_round (w[i]);
    w_rounded[i] = bf16_value (wb[i]);
  }
  Inputs in = { x, bias, residual, wb };
  g_autofree gfloat *ref = g_new (gfloat, M * N);
  g_autofree gfloat *ref_rounded = g_new (gfloat, M * N);
  g_autofree gfloat *got = g_new (gfloat, M * N);
  reference (c, &in, w, M, K, ref);
  reference (c, &in, w_rounded, M, K, ref_rounded);

  gint64 wshape[2] = { c->N, (gint64) K };
  g_autoptr (VlmTensor) wt = guarded (cpu_device, VLM_DTYPE_BF16, 2, wshape, wb, c->offset);
  if (!run (c, &in, wt, got))
    return;
  vt_check_finite ("output", got, M * N);
  vt_check_nmse ("vs naive on the bf16-rounded weights", ref_rounded, got, M * N,
                 NMSE_BF16_SAME_WEIGHTS);
  vt_check_nmse ("vs naive on the unrounded f32 weights", ref, got, M * N,
                 NMSE_BF16_F32_WEIGHTS);
  /* Again with the packed weight from the cache. */
  g_autofree gfloat *again = g_new (gfloat, M * N);
  if (run (c, &in, wt, again))
    vt_check_exact_f32 ("second call (cached packing)", got, again, M * N);
}

/* f32 weights with VLM_CPU_F32_MATH=bf16x3: x and w split into two bf16
 * each, three AMX products; about 16 bits of mantissa per product. */
#define NMSE_BF16X3 1e-9

static void
test_matmul_bf16x3 (gconstpointer data)
{
  const LowpCase *c = data;
  if (!x3_device) {
    g_test_skip ("no AMX: VLM_CPU_F32_MATH=bf16x3 falls back to strict f32");
    return;
  }
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize K = (gsize) c->xshape[c->ndim - 1], N = (gsize) c->N;
  gsize M = (gsize) vt_numel (c->ndim, c->xshape) / K;
  g_autofree gfloat *x = vt_uniform (&rng, M * K, -1, 1);
  g_autofree gfloat *w = vt_uniform (&rng, N * K, -1, 1);
  g_autofree gfloat *bias = vt_uniform (&rng, N, -1, 1);
  g_autofree gfloat *residual = vt_uniform (&rng, M * N, -1, 1);
  Inputs in = { x, bias, residual, NULL };
  g_autofree gfloat *ref = g_new (gfloat, M * N);
  g_autofree gfloat *got = g_new (gfloat, M * N);
  reference (c, &in, w, M, K, ref);
  gint64 wshape[2] = { c->N, (gint64) K };
  g_autoptr (VlmTensor) wt = guarded (x3_device, VLM_DTYPE_F32, 2, wshape, w, c->offset);
  if (!run_on (x3_device, c, &in, wt, got))
    return;
  vt_check_finite ("output", got, M * N);
  vt_check_nmse ("vs naive", ref, got, M * N, NMSE_BF16X3);
  g_autofree gfloat *again = g_new (gfloat, M * N);
  if (run_on (x3_device, c, &in, wt, again))
    vt_check_exact_f32 ("second call (cached packing)", got, again, M * N);
}

/* int8 weights with row scales (vlm_op_matmul_scaled()). On AMX they are
 * widened to bf16(q·s) and x is rounded to bf16: the bf16 bound against
 * the reference on the same (dequantized) weights. Against the f32 weights
 * the int8 rounding itself, |w − q·s| ≤ s / 2, is an NMSE near 2e-5 for
 * uniform weights. */
static void
test_matmul_i8 (gconstpointer data)
{
  const LowpCase *c = data;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize K = (gsize) c->xshape[c->ndim - 1], N = (gsize) c->N;
  gsize M = (gsize) vt_numel (c->ndim, c->xshape) / K;
  g_autofree gfloat *x = vt_uniform (&rng, M * K, -1, 1);
  g_autofree gfloat *w = vt_uniform (&rng, N * K, -1, 1);
  g_autofree gfloat *bias = vt_uniform (&rng, N, -1, 1);
  g_autofree gfloat *residual = vt_uniform (&rng, M * N, -1, 1);
  g_autofree gint8 *q = g_new (gint8, N * K);
  g_autofree gfloat *scale = g_new (gfloat, N);
  g_autofree gfloat *wq = g_new (gfloat, N * K);
  for (gsize n = 0; n < N; n++) {
    gfloat mx = 0.0f;
    for (gsize k = 0; k < K; k++)
      mx = MAX (mx, fabsf (w[n * K + k]));
    scale[n] = mx > 0 ? mx / 127.0f : 1.0f;
    for (gsize k = 0; k < K; k++) {
      q[n * K + k] = (gint8) lrintf (w[n * K + k] / scale[n]);
      wq[n * K + k] = q[n * K + k] * scale[n];
    }
  }
  Inputs in = { x, bias, residual, NULL };
  g_autofree gfloat *ref = g_new (gfloat, M * N);
  g_autofree gfloat *ref_q = g_new (gfloat, M * N);
  g_autofree gfloat *got = g_new (gfloat, M * N);
  reference (c, &in, w, M, K, ref);
  reference (c, &in, wq, M, K, ref_q);

  GError *error = NULL;
  gint64 wshape[2] = { c->N, (gint64) K }, yshape[3];
  for (gint i = 0; i < c->ndim; i++)
    yshape[i] = c->xshape[i];
  yshape[c->ndim - 1] = c->N;
  g_autoptr (VlmTensor) wt = guarded (cpu_device, VLM_DTYPE_I8, 2, wshape, q, c->offset);
  g_autoptr (VlmTensor) st = guarded (cpu_device, VLM_DTYPE_F32, 1, &c->N, scale, c->offset);
  g_autoptr (VlmTensor) xt = guarded (cpu_device, VLM_DTYPE_F32, c->ndim, c->xshape, x,
                                      c->offset);
  g_autoptr (VlmTensor) bt = c->bias ? guarded (cpu_device, VLM_DTYPE_F32, 1, &c->N, bias,
                                                c->offset) : NULL;
  for (gint pass = 0; pass < 2; pass++) {   /* the second from the packed cache */
    g_autoptr (VtOut) out = vt_out_new (cpu_device, VLM_DTYPE_F32, c->ndim, yshape,
                                        c->residual == 2 ? residual : NULL);
    g_autoptr (VlmTensor) rt = NULL;
    if (c->residual == 1)
      rt = guarded (cpu_device, VLM_DTYPE_F32, c->ndim, yshape, residual, c->offset);
    else if (c->residual == 2)
      rt = vlm_tensor_ref (out->t);
    gboolean ok = vlm_op_matmul_scaled (out->t, xt, wt, st, bt, rt, c->act, &error);
    if (!vt_op_ok ("matmul_scaled", ok, &error) || !vt_out_read (out, got, "output"))
      return;
    vt_check_finite ("output", got, M * N);
    vt_check_nmse ("vs naive on the dequantized weights", ref_q, got, M * N,
                   NMSE_BF16_SAME_WEIGHTS);
    vt_check_nmse ("vs naive on the f32 weights", ref, got, M * N, NMSE_BF16_F32_WEIGHTS);
  }
}

/* An upload to a weight already used must replace its packed copy. */
static void
test_upload_drops_packed (void)
{
  LowpCase c = { "upload", 2, { 20, 96 }, 40, TRUE, VLM_ACT_NONE, 0, 16 };
  VtRng rng;
  vt_rng_init (&rng, "upload");
  gsize M = 20, K = 96, N = 40;
  g_autofree gfloat *x = vt_uniform (&rng, M * K, -1, 1);
  g_autofree gfloat *bias = vt_uniform (&rng, N, -1, 1);
  g_autofree guint16 *w1 = g_new (guint16, N * K);
  g_autofree guint16 *w2 = g_new (guint16, N * K);
  g_autofree gfloat *w2f = g_new (gfloat, N * K);
  for (gsize i = 0; i < N * K; i++) {
    w1[i] = bf16_round ((gfloat) vt_rng_double (&rng) * 2 - 1);
    w2[i] = bf16_round ((gfloat) vt_rng_double (&rng) * 2 - 1);
    w2f[i] = bf16_value (w2[i]);
  }
  Inputs in = { x, bias, NULL, w1 };
  GError *error = NULL;
  gint64 wshape[2] = { (gint64) N, (gint64) K };
  g_autoptr (VlmTensor) wt = vlm_tensor_new (cpu_device, VLM_DTYPE_BF16, 2, wshape, &error);
  g_assert_no_error (error);
  g_autofree gfloat *got = g_new (gfloat, M * N);
  g_autofree gfloat *ref = g_new (gfloat, M * N);
  g_assert_true (vlm_tensor_upload (wt, w1, N * K * 2, &error));
  if (!run (&c, &in, wt, got))
    return;
  g_assert_true (vlm_tensor_upload (wt, w2, N * K * 2, &error));
  if (!run (&c, &in, wt, got))
    return;
  reference (&c, &in, w2f, M, K, ref);
  vt_check_nmse ("after the upload", ref, got, M * N, NMSE_BF16_SAME_WEIGHTS);
}

/* A weight that fills its own storage gives its bytes back once packed
 * (VLM_CPU_KEEP_WEIGHTS unset); reading it again (download, another op,
 * a view packed differently) must see the same values, and an op writing
 * it must take effect. Every weight dtype. */
static void
test_release_restore (gconstpointer data)
{
  VlmDType dtype = GPOINTER_TO_INT (data);
  GError *error = NULL;
  gsize M = 7, K = 64, N = 24;
  VtRng rng;
  vt_rng_init (&rng, vlm_dtype_to_string (dtype));
  g_autofree gfloat *x = vt_uniform (&rng, M * K, -1, 1);
  g_autofree gfloat *wf = vt_uniform (&rng, N * K, -1, 1);
  g_autofree guint8 *bits = g_malloc (N * K * 4);
  g_autofree gfloat *wv = g_new (gfloat, N * K);     /* the values w holds */
  for (gsize i = 0; i < N * K; i++) {
    if (dtype == VLM_DTYPE_BF16) {
      guint16 h = bf16_round (wf[i]);
      memcpy (bits + 2 * i, &h, 2);
      wv[i] = bf16_value (h);
    } else if (dtype == VLM_DTYPE_I8) {
      gint8 v = (gint8) lrintf (wf[i] * 100.0f);
      bits[i] = (guint8) v;
      wv[i] = v * 0.01f;
    } else if (dtype == VLM_DTYPE_F16) {
      guint16 h;
      vt_to_f16 (wf + i, 1, &h, wv + i);
      memcpy (bits + 2 * i, &h, 2);
    } else {
      memcpy (bits + 4 * i, wf + i, 4);
      wv[i] = wf[i];
    }
  }
  gsize wbytes = N * K * vlm_dtype_size (dtype);
  gint64 ws[2] = { (gint64) N, (gint64) K }, xs[2] = { (gint64) M, (gint64) K };
  gint64 ys[2] = { (gint64) M, (gint64) N };
  g_autoptr (VlmTensor) w = vlm_tensor_new (cpu_device, dtype, 2, ws, &error);
  g_autoptr (VlmTensor) xt = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, xs, &error);
  /* int8: every row scaled by 0.01 */
  g_autofree gfloat *hundredths = g_new (gfloat, N);
  for (gsize n = 0; n < N; n++)
    hundredths[n] = 0.01f;
  gint64 ns = (gint64) N;
  g_autoptr (VlmTensor) scale = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 1, &ns, &error);
  g_assert_true (vlm_tensor_upload (scale, hundredths, N * 4, &error));
  g_autoptr (VlmTensor) y = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, ys, &error);
  g_assert_no_error (error);
  g_assert_true (vlm_tensor_upload (w, bits, wbytes, &error));
  g_assert_true (vlm_tensor_upload (xt, x, M * K * 4, &error));
  LowpCase c = { "release", 2, { (gint64) M, (gint64) K }, (gint64) N, FALSE, VLM_ACT_NONE, 0,
                 0 };
  Inputs in = { x, NULL, NULL, NULL };
  g_autofree gfloat *ref = g_new (gfloat, M * N);
  g_autofree gfloat *got = g_new (gfloat, M * N);
  reference (&c, &in, wv, M, K, ref);
  gdouble limit = dtype == VLM_DTYPE_BF16 || dtype == VLM_DTYPE_I8 ? NMSE_BF16_SAME_WEIGHTS
      : VT_NMSE_MATMUL;
#define MATMUL(yy, ww) (dtype == VLM_DTYPE_I8 \
    ? vlm_op_matmul_scaled (yy, xt, ww, ww == w ? scale : half_scale, NULL, NULL, \
                            VLM_ACT_NONE, &error) \
    : vlm_op_matmul (yy, xt, ww, NULL, NULL, VLM_ACT_NONE, &error))
  gint64 hn = (gint64) N / 2;
  g_autoptr (VlmTensor) half_scale = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 1, &hn, &error);
  g_assert_true (vlm_tensor_upload (half_scale, hundredths, N / 2 * 4, &error));

  /* Packs w (and frees its bytes), twice from the cache. */
  for (gint i = 0; i < 2; i++) {
    g_assert_true (MATMUL (y, w));
    g_assert_true (vlm_tensor_download (y, got, M * N * 4, &error));
    vt_check_nmse ("matmul", ref, got, M * N, limit);
  }
  /* Its bytes come back exactly. */
  g_autofree guint8 *back = g_malloc (wbytes);
  g_assert_true (vlm_tensor_download (w, back, wbytes, &error));
  g_assert_cmpmem (back, wbytes, bits, wbytes);
  /* A view of the first rows is packed anew from them. */
  gint64 hs[2] = { (gint64) N / 2, (gint64) K }, yhs[2] = { (gint64) M, (gint64) N / 2 };
  g_autoptr (VlmTensor) half = vlm_tensor_view (w, 0, 2, hs, &error);
  g_autoptr (VlmTensor) yh = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, yhs, &error);
  g_assert_true (MATMUL (y, w));
  g_assert_true (MATMUL (yh, half));
  g_autofree gfloat *goth = g_new (gfloat, M * N / 2);
  g_assert_true (vlm_tensor_download (yh, goth, M * N / 2 * 4, &error));
  g_autofree gfloat *refh = g_new (gfloat, M * N / 2);
  for (gsize m = 0; m < M; m++)
    memcpy (refh + m * N / 2, ref + m * N, N / 2 * 4);
  vt_check_nmse ("matmul on a view", refh, goth, M * N / 2, limit);

  if (dtype == VLM_DTYPE_F32) {
    /* An op overwrites the (packed, freed) weight: w = relu-free copy of
     * −w via unary on a negated input, then matmul sees the new values. */
    g_autofree gfloat *neg = g_new (gfloat, N * K);
    for (gsize i = 0; i < N * K; i++)
      neg[i] = -wv[i];
    g_autoptr (VlmTensor) nt = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, ws, &error);
    g_assert_true (vlm_tensor_upload (nt, neg, N * K * 4, &error));
    g_assert_true (vlm_op_matmul (y, xt, w, NULL, NULL, VLM_ACT_NONE, &error));
    g_assert_true (vlm_op_unary (w, nt, VLM_ACT_NONE, &error));
    g_assert_true (vlm_op_matmul (y, xt, w, NULL, NULL, VLM_ACT_NONE, &error));
    g_assert_true (vlm_tensor_download (y, got, M * N * 4, &error));
    for (gsize i = 0; i < M * N; i++)
      ref[i] = -ref[i];
    vt_check_nmse ("matmul after an op wrote w", ref, got, M * N, limit);
  }
#undef MATMUL
  g_assert_no_error (error);
}

/* ---- refusals ------------------------------------------------------------ */

static void
check_refuses_bf16 (VlmDevice *dev)
{
  GError *error = NULL;
  g_assert_true (vlm_op_matmul_supports_weights (dev, VLM_DTYPE_F32));
  g_assert_false (vlm_op_matmul_supports_weights (dev, VLM_DTYPE_BF16));
  g_assert_false (vlm_op_matmul_supports_weights (dev, VLM_DTYPE_I32));
  g_assert_false (vlm_op_matmul_supports_weights (dev, VLM_DTYPE_I8));
  gint64 xs[2] = { 3, 8 }, ws[2] = { 4, 8 }, ys[2] = { 3, 4 };
  g_autoptr (VlmTensor) x = vlm_tensor_new (dev, VLM_DTYPE_F32, 2, xs, &error);
  g_autoptr (VlmTensor) w = vlm_tensor_new (dev, VLM_DTYPE_BF16, 2, ws, &error);
  g_autoptr (VlmTensor) y = vlm_tensor_new (dev, VLM_DTYPE_F32, 2, ys, &error);
  g_assert_no_error (error);
  gboolean ok = vlm_op_matmul (y, x, w, NULL, NULL, VLM_ACT_NONE, &error);
  g_assert_false (ok);
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "bf16"));
  g_clear_error (&error);
  g_autoptr (VlmTensor) w8 = vlm_tensor_new (dev, VLM_DTYPE_I8, 2, ws, &error);
  gint64 ns = 4;
  g_autoptr (VlmTensor) s8 = vlm_tensor_new (dev, VLM_DTYPE_F32, 1, &ns, &error);
  g_assert_no_error (error);
  g_assert_false (vlm_op_matmul_scaled (y, x, w8, s8, NULL, NULL, VLM_ACT_NONE, &error));
  g_assert_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  const gchar *model = g_getenv ("VLM_TEST_CLIP_MODEL");
  if (model) {
    VlmDType refused[] = { VLM_DTYPE_BF16, VLM_DTYPE_I8 };
    for (gsize i = 0; i < G_N_ELEMENTS (refused); i++) {
      VlmClipModel *m = vlm_clip_model_load (model, dev, refused[i], &error);
      g_assert_null (m);
      g_assert_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED);
      g_clear_error (&error);
    }
  }
}

static void
test_vulkan_refuses (void)
{
  vt_collect_criticals_begin ();
  GError *error = NULL;
  VlmDevice *dev = vlm_device_open ("vulkan", &error);
  g_free (vt_collect_criticals_end ());
  if (!dev) {
    g_test_skip_printf ("no Vulkan device: %s", error->message);
    g_clear_error (&error);
    return;
  }
  check_refuses_bf16 (dev);
  vlm_device_unref (dev);
}

/* Other ops take no bf16 tensors, plain matmul no i8 ones. */
static void
test_other_ops_refuse (void)
{
  {
    GError *err = NULL;
    gint64 xs[2] = { 3, 8 }, ws8[2] = { 4, 8 }, ys8[2] = { 3, 4 };
    g_autoptr (VlmTensor) x = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, xs, &err);
    g_autoptr (VlmTensor) w8 = vlm_tensor_new (cpu_device, VLM_DTYPE_I8, 2, ws8, &err);
    g_autoptr (VlmTensor) y8 = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, ys8, &err);
    g_autoptr (VlmTensor) bad_scale = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 1, xs, &err);
    g_assert_no_error (err);
    vt_refused ("i8 w in plain matmul", vlm_op_matmul (y8, x, w8, NULL, NULL, VLM_ACT_NONE,
                                                       &err), &err);
    vt_refused ("i8 w without scales", vlm_op_matmul_scaled (y8, x, w8, NULL, NULL, NULL,
                                                              VLM_ACT_NONE, &err), &err);
    vt_refused ("3 scales for 4 rows", vlm_op_matmul_scaled (y8, x, w8, bad_scale, NULL, NULL,
                                                              VLM_ACT_NONE, &err), &err);
  }
  GError *error = NULL;
  gint64 s[2] = { 4, 8 }, ids_shape[1] = { 2 };
  g_autoptr (VlmTensor) t = vlm_tensor_new (cpu_device, VLM_DTYPE_BF16, 2, s, &error);
  g_autoptr (VlmTensor) y = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, s, &error);
  g_autoptr (VlmTensor) ids = vlm_tensor_new (cpu_device, VLM_DTYPE_I32, 1, ids_shape, &error);
  g_assert_no_error (error);
  vt_refused ("bf16 unary", vlm_op_unary (y, t, VLM_ACT_NONE, &error), &error);
  vt_refused ("bf16 layernorm", vlm_op_layernorm (y, t, NULL, NULL, 1e-5f, &error), &error);
  gint64 ys[2] = { 2, 8 };
  g_autoptr (VlmTensor) y2 = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, ys, &error);
  vt_refused ("bf16 gather table", vlm_op_gather_rows (y2, t, ids, &error), &error);
}

/* ---- CLIP with bf16 and int8 weights ------------------------------------- */

static gdouble
cosine (const gfloat *a, const gfloat *b, gint n)
{
  gdouble ab = 0, aa = 0, bb = 0;
  for (gint i = 0; i < n; i++) {
    ab += (gdouble) a[i] * b[i];
    aa += (gdouble) a[i] * a[i];
    bb += (gdouble) b[i] * b[i];
  }
  return ab / sqrt (aa * bb);
}

static void
test_clip_lowp (gconstpointer data)
{
  VlmDType dtype = GPOINTER_TO_INT (data);
  const gchar *dir = g_getenv ("VLM_TEST_CLIP_MODEL");
  if (!dir) {
    g_test_skip ("VLM_TEST_CLIP_MODEL is not set");
    return;
  }
  GError *error = NULL;
  g_autoptr (VlmClipModel) f32 = vlm_clip_model_load (dir, cpu_device, VLM_DTYPE_F32, &error);
  g_assert_no_error (error);
  g_autoptr (VlmClipModel) bf16 = vlm_clip_model_load (dir, cpu_device, dtype, &error);
  g_assert_no_error (error);
  const VlmClipConfig *cfg = vlm_clip_model_get_config (f32);
  gint64 S = cfg->image_size;
  gint P = cfg->projection_dim, n = 6;
  VtRng rng;
  vt_rng_init (&rng, "clip-bf16");
  /* Varied images: noise of several amplitudes, flat, stripes, gradients. */
  g_autofree gfloat *px = g_new (gfloat, n * 3 * S * S);
  for (gint i = 0; i < n; i++)
    for (gint64 j = 0; j < 3 * S * S; j++) {
      gint64 x = j % S, y = (j / S) % S;
      gfloat *p = px + i * 3 * S * S + j;
      switch (i) {
        case 0: *p = (gfloat) vt_rng_double (&rng) * 4 - 2; break;
        case 1: *p = (gfloat) vt_rng_double (&rng) * 0.2f - 0.1f; break;
        case 2: *p = 1.3f; break;
        case 3: *p = (x / 3) % 2 ? 1.5f : -1.5f; break;
        case 4: *p = (gfloat) (x + y) / S - 1.0f; break;
        default: *p = (gfloat) sin (0.3 * x) * (gfloat) cos (0.2 * y) * 2; break;
      }
    }
  g_autofree gfloat *e1 = g_new (gfloat, n * P);
  g_autofree gfloat *e2 = g_new (gfloat, n * P);
  g_assert_true (vlm_clip_encode_pixels (f32, px, n, e1, &error));
  g_assert_true (vlm_clip_encode_pixels (bf16, px, n, e2, &error));
  for (gint i = 0; i < n; i++) {
    gdouble cs = cosine (e1 + i * P, e2 + i * P, P);
    g_test_message ("image %d: cosine %.6f", i, cs);
    g_assert_cmpfloat (cs, >=, 0.995);
  }
  gint L = cfg->max_positions;
  g_autofree gint32 *ids = g_new0 (gint32, 3 * L);
  for (gint i = 0; i < 3; i++) {
    gint len = 3 + i * (L - 3) / 2;
    for (gint j = 0; j < L; j++)
      ids[i * L + j] = j < len - 1 ? vt_rng_int (&rng, 0, cfg->eot_id - 1) : cfg->eot_id;
  }
  g_assert_true (vlm_clip_encode_ids (f32, ids, 3, e1, &error));
  g_assert_true (vlm_clip_encode_ids (bf16, ids, 3, e2, &error));
  for (gint i = 0; i < 3; i++) {
    gdouble cs = cosine (e1 + i * P, e2 + i * P, P);
    g_test_message ("text %d: cosine %.6f", i, cs);
    g_assert_cmpfloat (cs, >=, 0.995);
  }
}

/* The AMX path keeps x rounded to bf16 for the next matmul on the same
 * contents (q, k and v share theirs): each matmul here must see x as it is
 * now — after other matmuls on it, after an op wrote it in place, after an
 * upload, and through a view at another offset of the same storage. f32
 * weights (bf16x3 on AMX by default) and bf16 weights, on the default
 * device. */
static void
xw_reference (const gfloat *x, const gfloat *w, gsize M, gsize K, gsize N, gfloat *y)
{
  for (gsize m = 0; m < M; m++)
    for (gsize n = 0; n < N; n++) {
      double acc = 0.0;
      for (gsize k = 0; k < K; k++)
        acc += (double) x[m * K + k] * (double) w[n * K + k];
      y[m * N + n] = (gfloat) acc;
    }
}

static void
check_xw (const gchar *what, VlmTensor *xt, const gfloat *x, VlmTensor *wt, const gfloat *w,
          gsize M, gsize K, gsize N, gdouble limit)
{
  GError *error = NULL;
  gint64 yshape[2] = { (gint64) M, (gint64) N };
  g_autoptr (VlmTensor) yt = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, yshape, &error);
  g_assert_no_error (error);
  g_assert_true (vlm_op_matmul (yt, xt, wt, NULL, NULL, VLM_ACT_NONE, &error));
  g_assert_no_error (error);
  g_autofree gfloat *got = g_new (gfloat, M * N);
  g_autofree gfloat *ref = g_new (gfloat, M * N);
  g_assert_true (vlm_tensor_download (yt, got, M * N * 4, &error));
  xw_reference (x, w, M, K, N, ref);
  vt_check_nmse (what, ref, got, M * N, limit);
}

static void
test_x_reuse (void)
{
  enum { M = 37, K = 70, N = 45 };
  VtRng rng;
  vt_rng_init (&rng, "x-reuse");
  GError *error = NULL;
  g_autofree gfloat *x = vt_uniform (&rng, 2 * M * K, -1, 1);
  g_autofree gfloat *delta = vt_uniform (&rng, M * K, -1, 1);
  g_autofree gfloat *w1 = vt_uniform (&rng, N * K, -1, 1);
  g_autofree gfloat *w2 = vt_uniform (&rng, N * K, -1, 1);
  g_autofree guint16 *w2b = g_new (guint16, N * K);
  g_autofree gfloat *w2r = g_new (gfloat, N * K);
  for (gsize i = 0; i < N * K; i++) {
    w2b[i] = bf16_round (w2[i]);
    w2r[i] = bf16_value (w2b[i]);
  }
  gint64 wshape[2] = { N, K }, xshape[2] = { M, K }, all[2] = { 2 * M, K };
  g_autoptr (VlmTensor) wt1 = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, wshape, &error);
  g_autoptr (VlmTensor) wt2 = vlm_tensor_new (cpu_device, VLM_DTYPE_BF16, 2, wshape, &error);
  g_assert_true (vlm_tensor_upload (wt1, w1, sizeof (gfloat) * N * K, &error));
  g_assert_true (vlm_tensor_upload (wt2, w2b, sizeof (guint16) * N * K, &error));
  /* x: the first M rows of a 2M-row storage an op has written. */
  g_autoptr (VlmTensor) src = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, all, &error);
  g_autoptr (VlmTensor) store = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, all, &error);
  g_autoptr (VlmTensor) dt = vlm_tensor_new (cpu_device, VLM_DTYPE_F32, 2, xshape, &error);
  g_assert_no_error (error);
  g_assert_true (vlm_tensor_upload (src, x, sizeof (gfloat) * 2 * M * K, &error));
  g_assert_true (vlm_tensor_upload (dt, delta, sizeof (gfloat) * M * K, &error));
  g_assert_true (vlm_op_unary (store, src, VLM_ACT_NONE, &error));
  g_autoptr (VlmTensor) xt = vlm_tensor_view (store, 0, 2, xshape, &error);
  g_autoptr (VlmTensor) xt2 = vlm_tensor_view (store, M * K, 2, xshape, &error);
  g_assert_no_error (error);
  /* bf16x3 (or strict f32) and bf16 weights, whose x rounding differs. */
  gdouble f32_limit = 1e-9, bf16_limit = NMSE_BF16_SAME_WEIGHTS;

  check_xw ("w1", xt, x, wt1, w1, M, K, N, f32_limit);
  check_xw ("w1 again", xt, x, wt1, w1, M, K, N, f32_limit);
  check_xw ("w2 (bf16) on the same x", xt, x, wt2, w2r, M, K, N, bf16_limit);
  check_xw ("w1 after w2", xt, x, wt1, w1, M, K, N, f32_limit);
  check_xw ("the other rows of the storage", xt2, x + M * K, wt1, w1, M, K, N, f32_limit);
  check_xw ("w1 back on the first rows", xt, x, wt1, w1, M, K, N, f32_limit);
  /* x += delta by an op, in place. */
  g_assert_true (vlm_op_binary (xt, xt, dt, VLM_BINARY_ADD, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < (gsize) M * K; i++)
    x[i] += delta[i];
  check_xw ("w1 after an op wrote x", xt, x, wt1, w1, M, K, N, f32_limit);
  /* An upload. */
  g_assert_true (vlm_tensor_upload (xt, delta, sizeof (gfloat) * M * K, &error));
  check_xw ("w1 after an upload to x", xt, delta, wt1, w1, M, K, N, f32_limit);
  check_xw ("w2 after an upload to x", xt, delta, wt2, w2r, M, K, N, bf16_limit);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  GError *error = NULL;
  cpu_device = vlm_device_open ("cpu", &error);
  g_assert_no_error (error);
  g_test_message ("device: %s", vlm_device_get_name (cpu_device));
  g_assert_true (vlm_op_matmul_supports_weights (cpu_device, VLM_DTYPE_BF16));
  if (strstr (vlm_device_get_name (cpu_device), "amx")) {
    g_setenv ("VLM_CPU_F32_MATH", "bf16x3", TRUE);
    x3_device = vlm_device_open ("cpu", &error);
    g_assert_no_error (error);
    g_unsetenv ("VLM_CPU_F32_MATH");
    g_assert_nonnull (strstr (vlm_device_get_name (x3_device), "bf16x3"));
  }

  g_test_add_func ("/lowp/bf16/convert", test_convert);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *path = g_strdup_printf ("/lowp/bf16/matmul/%s", cases[i].name);
    g_test_add_data_func (path, &cases[i], test_matmul);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *path = g_strdup_printf ("/lowp/f32-bf16x3/matmul/%s", cases[i].name);
    g_test_add_data_func (path, &cases[i], test_matmul_bf16x3);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *path = g_strdup_printf ("/lowp/i8/matmul/%s", cases[i].name);
    g_test_add_data_func (path, &cases[i], test_matmul_i8);
  }
  g_test_add_func ("/lowp/bf16/upload-drops-packed", test_upload_drops_packed);
  g_test_add_func ("/lowp/x-reuse", test_x_reuse);
  g_test_add_data_func ("/lowp/release-restore/bf16", GINT_TO_POINTER (VLM_DTYPE_BF16),
                        test_release_restore);
  g_test_add_data_func ("/lowp/release-restore/f16", GINT_TO_POINTER (VLM_DTYPE_F16),
                        test_release_restore);
  g_test_add_data_func ("/lowp/release-restore/f32", GINT_TO_POINTER (VLM_DTYPE_F32),
                        test_release_restore);
  g_test_add_data_func ("/lowp/release-restore/i8", GINT_TO_POINTER (VLM_DTYPE_I8),
                        test_release_restore);
  g_test_add_func ("/lowp/bf16/other-ops-refuse", test_other_ops_refuse);
  g_test_add_data_func ("/lowp/clip-cosine/bf16", GINT_TO_POINTER (VLM_DTYPE_BF16),
                        test_clip_lowp);
  g_test_add_data_func ("/lowp/clip-cosine/i8", GINT_TO_POINTER (VLM_DTYPE_I8), test_clip_lowp);
  g_test_add_func ("/lowp/bf16/vulkan-refuses", test_vulkan_refuses);
  int status = g_test_run ();
  g_clear_pointer (&x3_device, vlm_device_unref);
  vlm_device_unref (cpu_device);
  return status;
}
