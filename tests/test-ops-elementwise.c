/* gst-vlm tests — unary activations and broadcasting binary ops.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>

#include "test-ops.h"

/* ---- unary --------------------------------------------------------------- */

typedef struct {
  const gchar *name;
  VlmActivation act;
  gint ndim;
  gint64 shape[VLM_MAX_DIMS];
  gfloat lo, hi;
  gboolean inplace;
} UnaryCase;

static const UnaryCase unary_cases[] = {
  { "none-23x77", VLM_ACT_NONE, 2, { 23, 77 }, -1, 1, FALSE },
  { "gelu_erf-23x77", VLM_ACT_GELU_ERF, 2, { 23, 77 }, -1, 1, FALSE },
  { "gelu_tanh-23x77", VLM_ACT_GELU_TANH, 2, { 23, 77 }, -1, 1, FALSE },
  { "quick_gelu-23x77", VLM_ACT_QUICK_GELU, 2, { 23, 77 }, -1, 1, FALSE },
  { "gelu_erf-wide-3x5x7x9", VLM_ACT_GELU_ERF, 4, { 3, 5, 7, 9 }, -8, 8, FALSE },
  { "gelu_tanh-wide-3x5x7x9", VLM_ACT_GELU_TANH, 4, { 3, 5, 7, 9 }, -8, 8, FALSE },
  { "quick_gelu-wide-3x5x7x9", VLM_ACT_QUICK_GELU, 4, { 3, 5, 7, 9 }, -8, 8, FALSE },
  { "gelu_erf-1", VLM_ACT_GELU_ERF, 1, { 1 }, -1, 1, FALSE },
  { "quick_gelu-100003", VLM_ACT_QUICK_GELU, 1, { 100003 }, -1, 1, FALSE },
  { "gelu_erf-inplace-50x3072", VLM_ACT_GELU_ERF, 2, { 50, 3072 }, -1, 1, TRUE },
  { "gelu_tanh-inplace-7x13", VLM_ACT_GELU_TANH, 2, { 7, 13 }, -1, 1, TRUE },
  { "quick_gelu-inplace-2x3x11", VLM_ACT_QUICK_GELU, 3, { 2, 3, 11 }, -1, 1, TRUE },
  /* more workgroups than one grid dimension holds */
  { "gelu_tanh-many-16777473", VLM_ACT_GELU_TANH, 1, { 16777473 }, -1, 1, FALSE },
};

static gboolean
run_unary (VlmDevice *dev, const UnaryCase *c, const gfloat *x, gfloat *y)
{
  GError *error = NULL;
  gboolean ok;
  g_autoptr (VtOut) out = vt_out_new (dev, VLM_DTYPE_F32, c->ndim, c->shape,
                                      c->inplace ? x : NULL);
  if (c->inplace) {
    ok = vlm_op_unary (out->t, out->t, c->act, &error);
  } else {
    g_autoptr (VlmTensor) xt = vt_tensor (dev, VLM_DTYPE_F32, c->ndim, c->shape, x);
    ok = vlm_op_unary (out->t, xt, c->act, &error);
  }
  if (!vt_op_ok ("unary", ok, &error))
    return FALSE;
  return vt_out_read (out, y, "unary output");
}

static void
test_unary (gconstpointer data)
{
  const UnaryCase *c = data;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize n = (gsize) vt_numel (c->ndim, c->shape);
  g_autofree gfloat *x = vt_uniform (&rng, n, c->lo, c->hi);
  g_autofree gfloat *ref = g_new (gfloat, n);
  g_autofree gfloat *got = g_new (gfloat, n);
  for (gsize i = 0; i < n; i++)
    ref[i] = (gfloat) vt_ref_act (c->act, x[i]);
  if (!run_unary (vt_device (), c, x, got))
    return;
  vt_check_nmse ("vs naive", ref, got, n, VT_NMSE_ELEMENTWISE);
  if (vt_cpu ()) {
    g_autofree gfloat *cpu = g_new (gfloat, n);
    if (run_unary (vt_cpu (), c, x, cpu))
      vt_check_nmse ("vulkan vs cpu", cpu, got, n, VT_NMSE_ELEMENTWISE);
  }
}

/* ---- binary ------------------------------------------------------------- */

typedef enum {
  OUT_NEW,
  OUT_IS_A,
  OUT_IS_B,
} OutMode;

typedef struct {
  const gchar *name;
  VlmBinaryOp op;
  gint ndim_a;
  gint64 a[VLM_MAX_DIMS];
  gint ndim_b;
  gint64 b[VLM_MAX_DIMS];
  gint ndim_y;
  gint64 y[VLM_MAX_DIMS];
  OutMode mode;
} BinaryCase;

static const BinaryCase binary_cases[] = {
  { "add-same-23x77", VLM_BINARY_ADD, 2, { 23, 77 }, 2, { 23, 77 }, 2, { 23, 77 }, OUT_NEW },
  { "mul-same-23x77", VLM_BINARY_MUL, 2, { 23, 77 }, 2, { 23, 77 }, 2, { 23, 77 }, OUT_NEW },
  { "add-row-3x5x7x9+9", VLM_BINARY_ADD, 4, { 3, 5, 7, 9 }, 1, { 9 }, 4, { 3, 5, 7, 9 },
    OUT_NEW },
  { "mul-mid-3x5x7x9*5x1x9", VLM_BINARY_MUL, 4, { 3, 5, 7, 9 }, 3, { 5, 1, 9 }, 4,
    { 3, 5, 7, 9 }, OUT_NEW },
  { "add-both-3x1x7x1+1x5x1x9", VLM_BINARY_ADD, 4, { 3, 1, 7, 1 }, 4, { 1, 5, 1, 9 }, 4,
    { 3, 5, 7, 9 }, OUT_NEW },
  { "mul-scalar-1*3x5x7x9", VLM_BINARY_MUL, 1, { 1 }, 4, { 3, 5, 7, 9 }, 4, { 3, 5, 7, 9 },
    OUT_NEW },
  { "add-col-3x5x7x9+3x1x7x1", VLM_BINARY_ADD, 4, { 3, 5, 7, 9 }, 4, { 3, 1, 7, 1 }, 4,
    { 3, 5, 7, 9 }, OUT_NEW },
  { "add-lower-rank-7x9+3x5x7x9", VLM_BINARY_ADD, 2, { 7, 9 }, 4, { 3, 5, 7, 9 }, 4,
    { 3, 5, 7, 9 }, OUT_NEW },
  { "add-positions-2x50x768+50x768", VLM_BINARY_ADD, 3, { 2, 50, 768 }, 2, { 50, 768 }, 3,
    { 2, 50, 768 }, OUT_NEW },
  { "add-100003", VLM_BINARY_ADD, 1, { 100003 }, 1, { 100003 }, 1, { 100003 }, OUT_NEW },
  { "add-inplace-a-4x33", VLM_BINARY_ADD, 2, { 4, 33 }, 2, { 4, 33 }, 2, { 4, 33 }, OUT_IS_A },
  { "mul-inplace-b-4x33", VLM_BINARY_MUL, 2, { 4, 33 }, 2, { 4, 33 }, 2, { 4, 33 }, OUT_IS_B },
  { "add-inplace-a-bcast-3x5x7x9+9", VLM_BINARY_ADD, 4, { 3, 5, 7, 9 }, 1, { 9 }, 4,
    { 3, 5, 7, 9 }, OUT_IS_A },
  { "mul-inplace-b-bcast-5x1x9*3x5x7x9", VLM_BINARY_MUL, 3, { 5, 1, 9 }, 4, { 3, 5, 7, 9 }, 4,
    { 3, 5, 7, 9 }, OUT_IS_B },
  { "add-many-4097x4097+4097", VLM_BINARY_ADD, 2, { 4097, 4097 }, 1, { 4097 }, 2,
    { 4097, 4097 }, OUT_NEW },
};

/* Element offset in a broadcast operand for the y index @i. */
static gsize
bcast_index (gint ndim_y, const gint64 *sy, gint ndim, const gint64 *s, gsize i)
{
  gsize off = 0, stride = 1;
  for (gint d = ndim_y - 1; d >= 0; d--) {
    gsize coord = i % (gsize) sy[d];
    i /= (gsize) sy[d];
    gint k = d - (ndim_y - ndim);
    if (k < 0)
      continue;
    if (s[k] != 1)
      off += coord * stride;
    stride *= (gsize) s[k];
  }
  return off;
}

static gboolean
run_binary (VlmDevice *dev, const BinaryCase *c, const gfloat *a, const gfloat *b, gfloat *y)
{
  GError *error = NULL;
  gboolean ok;
  if (c->mode == OUT_NEW) {
    g_autoptr (VtOut) out = vt_out_new (dev, VLM_DTYPE_F32, c->ndim_y, c->y, NULL);
    g_autoptr (VlmTensor) at = vt_tensor (dev, VLM_DTYPE_F32, c->ndim_a, c->a, a);
    g_autoptr (VlmTensor) bt = vt_tensor (dev, VLM_DTYPE_F32, c->ndim_b, c->b, b);
    ok = vlm_op_binary (out->t, at, bt, c->op, &error);
    return vt_op_ok ("binary", ok, &error) && vt_out_read (out, y, "binary output");
  }
  /* In place: the output view holds the operand of y's shape. */
  gboolean is_a = c->mode == OUT_IS_A;
  g_autoptr (VtOut) out = vt_out_new (dev, VLM_DTYPE_F32, c->ndim_y, c->y, is_a ? a : b);
  g_autoptr (VlmTensor) other = is_a ? vt_tensor (dev, VLM_DTYPE_F32, c->ndim_b, c->b, b)
      : vt_tensor (dev, VLM_DTYPE_F32, c->ndim_a, c->a, a);
  ok = is_a ? vlm_op_binary (out->t, out->t, other, c->op, &error)
      : vlm_op_binary (out->t, other, out->t, c->op, &error);
  return vt_op_ok ("binary in place", ok, &error) && vt_out_read (out, y, "binary output");
}

static void
test_binary (gconstpointer data)
{
  const BinaryCase *c = data;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize na = (gsize) vt_numel (c->ndim_a, c->a), nb = (gsize) vt_numel (c->ndim_b, c->b);
  gsize ny = (gsize) vt_numel (c->ndim_y, c->y);
  g_autofree gfloat *a = vt_uniform (&rng, na, -1, 1);
  g_autofree gfloat *b = vt_uniform (&rng, nb, -1, 1);
  g_autofree gfloat *ref = g_new (gfloat, ny);
  g_autofree gfloat *got = g_new (gfloat, ny);
  for (gsize i = 0; i < ny; i++) {
    double va = a[bcast_index (c->ndim_y, c->y, c->ndim_a, c->a, i)];
    double vb = b[bcast_index (c->ndim_y, c->y, c->ndim_b, c->b, i)];
    ref[i] = (gfloat) (c->op == VLM_BINARY_ADD ? va + vb : va * vb);
  }
  if (!run_binary (vt_device (), c, a, b, got))
    return;
  vt_check_nmse ("vs naive", ref, got, ny, VT_NMSE_ELEMENTWISE);
  if (vt_cpu ()) {
    g_autofree gfloat *cpu = g_new (gfloat, ny);
    if (run_binary (vt_cpu (), c, a, b, cpu))
      vt_check_nmse ("vulkan vs cpu", cpu, got, ny, VT_NMSE_ELEMENTWISE);
  }
}

/* ---- views at odd offsets ------------------------------------------------ */

/* Inputs and output as views at element offsets that are not multiples of
 * 4 or 16 (a KV-cache row, a token slice): ops must honour the offset. */
static void
test_odd_offsets (gconstpointer data)
{
  VlmDevice *dev = vt_device ();
  GError *error = NULL;
  VtRng rng;
  vt_rng_init (&rng, "odd-offsets");
  const gint64 n = 301, total = 1000;
  const gint64 shape[2] = { 7, 43 };
  g_autofree gfloat *pool = vt_uniform (&rng, total, -1, 1);
  g_autoptr (VlmTensor) base = vt_tensor (dev, VLM_DTYPE_F32, 1, &total, pool);
  g_autoptr (VlmTensor) a = vlm_tensor_view (base, 3, 2, shape, &error);
  g_assert_no_error (error);
  g_autoptr (VlmTensor) b = vlm_tensor_view (base, 3 + n + 2, 2, shape, &error);
  g_assert_no_error (error);
  g_autoptr (VlmTensor) y = vlm_tensor_view (base, 3 + 2 * n + 5, 2, shape, &error);
  g_assert_no_error (error);
  if (!vt_op_ok ("binary on views", vlm_op_binary (y, a, b, VLM_BINARY_ADD, &error), &error))
    return;
  if (!vt_op_ok ("unary in place on a view",
                 vlm_op_unary (y, y, VLM_ACT_QUICK_GELU, &error), &error))
    return;
  g_autofree gfloat *after = g_new (gfloat, total);
  vlm_tensor_download (base, after, total * sizeof (gfloat), &error);
  g_assert_no_error (error);
  g_autofree gfloat *ref = g_memdup2 (pool, total * sizeof (gfloat));
  for (gint64 i = 0; i < n; i++)
    ref[3 + 2 * n + 5 + i] = (gfloat) vt_ref_act (VLM_ACT_QUICK_GELU,
                                               (gfloat) ((double) pool[3 + i] +
                                                         pool[3 + n + 2 + i]));
  vt_check_nmse ("views vs naive", ref + 3 + 2 * n + 5, after + 3 + 2 * n + 5, n,
                 VT_NMSE_ELEMENTWISE);
  /* Everything outside y must be untouched. */
  vt_check_exact_f32 ("before y", ref, after, 3 + 2 * n + 5);
  gsize tail = 3 + 3 * n + 5;
  vt_check_exact_f32 ("after y", ref + tail, after + tail, total - tail);
}

void
vt_register_elementwise (const gchar *prefix)
{
  for (gsize i = 0; i < G_N_ELEMENTS (unary_cases); i++) {
    vt_add (prefix, "unary", unary_cases[i].name, &unary_cases[i], test_unary);
    vt_add_odd (prefix, "unary", unary_cases[i].name, &unary_cases[i], test_unary);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (binary_cases); i++) {
    vt_add (prefix, "binary", binary_cases[i].name, &binary_cases[i], test_binary);
    vt_add_odd (prefix, "binary", binary_cases[i].name, &binary_cases[i], test_binary);
  }
  vt_add (prefix, "views", "odd-offsets", NULL, test_odd_offsets);
}
