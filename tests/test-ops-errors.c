/* gst-vlm tests — every op refuses bad arguments with FALSE and a GError
 * (wrong dtype, shape, device, aliasing, option), never a crash.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <string.h>

#include "test-ops.h"

/* Tensors made by a case, released at its end. */
static GPtrArray *pool;

static VlmTensor *
mk (VlmDevice *dev, VlmDType dtype, gint ndim, ...)
{
  gint64 shape[VLM_MAX_DIMS];
  va_list ap;
  va_start (ap, ndim);
  for (gint i = 0; i < ndim; i++)
    shape[i] = va_arg (ap, gint);
  va_end (ap);
  GError *error = NULL;
  VlmTensor *t = vlm_tensor_new (dev, dtype, ndim, shape, &error);
  g_assert_no_error (error);
  g_ptr_array_add (pool, t);
  return t;
}

static VlmTensor *
view (VlmTensor *base, gsize offset, gint ndim, ...)
{
  gint64 shape[VLM_MAX_DIMS];
  va_list ap;
  va_start (ap, ndim);
  for (gint i = 0; i < ndim; i++)
    shape[i] = va_arg (ap, gint);
  va_end (ap);
  GError *error = NULL;
  VlmTensor *t = vlm_tensor_view (base, offset, ndim, shape, &error);
  g_assert_no_error (error);
  g_ptr_array_add (pool, t);
  return t;
}

/* A second device for "tensors on different devices": the CPU device when
 * Vulkan is under test, else another CPU device instance. */
static VlmDevice *
other_device (void)
{
  if (vt_cpu ())
    return vlm_device_ref (vt_cpu ());
  GError *error = NULL;
  VlmDevice *d = vlm_device_open ("cpu", &error);
  g_assert_no_error (error);
  return d;
}

static void
pool_begin (void)
{
  pool = g_ptr_array_new_with_free_func ((GDestroyNotify) vlm_tensor_unref);
}

static void
pool_end (void)
{
  g_clear_pointer (&pool, g_ptr_array_unref);
}

#define F32 VLM_DTYPE_F32
#define F16 VLM_DTYPE_F16
#define I32 VLM_DTYPE_I32
#define U8 VLM_DTYPE_U8

static void
test_matmul_bad (gconstpointer data)
{
  VlmDevice *d = vt_device ();
  g_autoptr (VlmDevice) od = other_device ();
  GError *e = NULL;
  pool_begin ();
  VlmTensor *x = mk (d, F32, 2, 5, 8), *w = mk (d, F32, 2, 6, 8), *y = mk (d, F32, 2, 5, 6);
  VlmTensor *b = mk (d, F32, 1, 6);
  vt_refused ("x is i32", vlm_op_matmul (y, mk (d, I32, 2, 5, 8), w, b, NULL, 0, &e), &e);
  vt_refused ("x is f16", vlm_op_matmul (y, mk (d, F16, 2, 5, 8), w, b, NULL, 0, &e), &e);
  vt_refused ("w is i32", vlm_op_matmul (y, x, mk (d, I32, 2, 6, 8), b, NULL, 0, &e), &e);
  vt_refused ("w is [6, 9]", vlm_op_matmul (y, x, mk (d, F32, 2, 6, 9), b, NULL, 0, &e), &e);
  vt_refused ("w is 1-D", vlm_op_matmul (y, x, mk (d, F32, 1, 48), b, NULL, 0, &e), &e);
  vt_refused ("y has 7 columns", vlm_op_matmul (mk (d, F32, 2, 5, 7), x, w, b, NULL, 0, &e), &e);
  vt_refused ("y has 4 rows", vlm_op_matmul (mk (d, F32, 2, 4, 6), x, w, b, NULL, 0, &e), &e);
  vt_refused ("bias has 5", vlm_op_matmul (y, x, w, mk (d, F32, 1, 5), NULL, 0, &e), &e);
  vt_refused ("bias is f16", vlm_op_matmul (y, x, w, mk (d, F16, 1, 6), NULL, 0, &e), &e);
  vt_refused ("residual is [6, 5]",
              vlm_op_matmul (y, x, w, b, mk (d, F32, 2, 6, 5), 0, &e), &e);
  vt_refused ("w on another device",
              vlm_op_matmul (y, x, mk (od, F32, 2, 6, 8), b, NULL, 0, &e), &e);
  vt_refused ("y on another device",
              vlm_op_matmul (mk (od, F32, 2, 5, 6), x, w, b, NULL, 0, &e), &e);
  vt_refused ("unknown activation", vlm_op_matmul (y, x, w, b, NULL, 42, &e), &e);
  vt_refused ("x missing", vlm_op_matmul (y, NULL, w, b, NULL, 0, &e), &e);
  vt_refused ("w missing", vlm_op_matmul (y, x, NULL, b, NULL, 0, &e), &e);
  vt_refused ("y missing", vlm_op_matmul (NULL, x, w, b, NULL, 0, &e), &e);
  /* aliasing: y over x; residual half over y */
  VlmTensor *sq = mk (d, F32, 2, 6, 6);
  vt_refused ("y is x", vlm_op_matmul (sq, sq, mk (d, F32, 2, 6, 6), NULL, NULL, 0, &e), &e);
  VlmTensor *big = mk (d, F32, 1, 60);
  vt_refused ("residual partly overlaps y",
              vlm_op_matmul (view (big, 0, 2, 5, 6), x, w, b, view (big, 6, 2, 5, 6), 0, &e), &e);
  if (!vlm_device_supports_f16 (d))
    vt_refused ("f16 w on a device without f16",
                vlm_op_matmul (y, x, mk (d, F16, 2, 6, 8), b, NULL, 0, &e), &e);
  pool_end ();
}

static void
test_layernorm_bad (gconstpointer data)
{
  VlmDevice *d = vt_device ();
  g_autoptr (VlmDevice) od = other_device ();
  GError *e = NULL;
  pool_begin ();
  VlmTensor *x = mk (d, F32, 2, 4, 10), *y = mk (d, F32, 2, 4, 10), *g = mk (d, F32, 1, 10);
  vt_refused ("x is i32", vlm_op_layernorm (y, mk (d, I32, 2, 4, 10), g, g, 1e-5f, &e), &e);
  vt_refused ("y is [4, 9]", vlm_op_layernorm (mk (d, F32, 2, 4, 9), x, g, g, 1e-5f, &e), &e);
  vt_refused ("y is [40]", vlm_op_layernorm (mk (d, F32, 1, 40), x, g, g, 1e-5f, &e), &e);
  vt_refused ("gamma has 9", vlm_op_layernorm (y, x, mk (d, F32, 1, 9), g, 1e-5f, &e), &e);
  vt_refused ("beta is f16", vlm_op_layernorm (y, x, g, mk (d, F16, 1, 10), 1e-5f, &e), &e);
  vt_refused ("gamma on another device",
              vlm_op_layernorm (y, x, mk (od, F32, 1, 10), g, 1e-5f, &e), &e);
  vt_refused ("eps negative", vlm_op_layernorm (y, x, g, g, -1.0f, &e), &e);
  vt_refused ("eps NaN", vlm_op_layernorm (y, x, g, g, NAN, &e), &e);
  VlmTensor *big = mk (d, F32, 1, 50);
  vt_refused ("y partly overlaps x",
              vlm_op_layernorm (view (big, 0, 2, 4, 10), view (big, 5, 2, 4, 10), NULL, NULL,
                                1e-5f, &e), &e);
  pool_end ();
}

static void
test_softmax_bad (gconstpointer data)
{
  VlmDevice *d = vt_device ();
  g_autoptr (VlmDevice) od = other_device ();
  GError *e = NULL;
  pool_begin ();
  VlmTensor *x = mk (d, F32, 3, 2, 4, 7), *y = mk (d, F32, 3, 2, 4, 7);
  vt_refused ("x is i32", vlm_op_softmax (y, mk (d, I32, 3, 2, 4, 7), 1, NULL, FALSE, &e), &e);
  vt_refused ("y is [2, 4, 6]",
              vlm_op_softmax (mk (d, F32, 3, 2, 4, 6), x, 1, NULL, FALSE, &e), &e);
  vt_refused ("mask is [4, 6]", vlm_op_softmax (y, x, 1, mk (d, F32, 2, 4, 6), FALSE, &e), &e);
  vt_refused ("mask is [7, 4]", vlm_op_softmax (y, x, 1, mk (d, F32, 2, 7, 4), FALSE, &e), &e);
  vt_refused ("mask is i32", vlm_op_softmax (y, x, 1, mk (d, I32, 2, 4, 7), FALSE, &e), &e);
  vt_refused ("mask on another device",
              vlm_op_softmax (y, x, 1, mk (od, F32, 2, 4, 7), FALSE, &e), &e);
  VlmTensor *tall = mk (d, F32, 2, 7, 4);
  vt_refused ("causal with rows > columns",
              vlm_op_softmax (tall, tall, 1, NULL, TRUE, &e), &e);
  vt_refused ("scale inf", vlm_op_softmax (y, x, INFINITY, NULL, FALSE, &e), &e);
  vt_refused ("scale NaN", vlm_op_softmax (y, x, NAN, NULL, FALSE, &e), &e);
  vt_refused ("y missing", vlm_op_softmax (NULL, x, 1, NULL, FALSE, &e), &e);
  pool_end ();
}

static void
test_unary_bad (gconstpointer data)
{
  VlmDevice *d = vt_device ();
  g_autoptr (VlmDevice) od = other_device ();
  GError *e = NULL;
  pool_begin ();
  VlmTensor *x = mk (d, F32, 2, 3, 5);
  vt_refused ("y has 14 elements", vlm_op_unary (mk (d, F32, 1, 14), x, 1, &e), &e);
  vt_refused ("x is i32", vlm_op_unary (mk (d, F32, 2, 3, 5), mk (d, I32, 2, 3, 5), 1, &e), &e);
  vt_refused ("y is f16", vlm_op_unary (mk (d, F16, 2, 3, 5), x, 1, &e), &e);
  vt_refused ("unknown activation", vlm_op_unary (mk (d, F32, 2, 3, 5), x, 99, &e), &e);
  vt_refused ("y on another device", vlm_op_unary (mk (od, F32, 2, 3, 5), x, 1, &e), &e);
  VlmTensor *big = mk (d, F32, 1, 20);
  vt_refused ("y partly overlaps x",
              vlm_op_unary (view (big, 2, 1, 15), view (big, 0, 1, 15), 1, &e), &e);
  vt_refused ("x missing", vlm_op_unary (mk (d, F32, 2, 3, 5), NULL, 1, &e), &e);
  pool_end ();
}

static void
test_binary_bad (gconstpointer data)
{
  VlmDevice *d = vt_device ();
  g_autoptr (VlmDevice) od = other_device ();
  GError *e = NULL;
  pool_begin ();
  VlmTensor *a = mk (d, F32, 2, 3, 4), *y = mk (d, F32, 2, 3, 4);
  vt_refused ("[3, 4] + [5]", vlm_op_binary (y, a, mk (d, F32, 1, 5), 0, &e), &e);
  vt_refused ("[3, 4] + [2, 4]", vlm_op_binary (y, a, mk (d, F32, 2, 2, 4), 0, &e), &e);
  vt_refused ("y [4] for [3, 4] + [4]",
              vlm_op_binary (mk (d, F32, 1, 4), a, mk (d, F32, 1, 4), 0, &e), &e);
  vt_refused ("y [3, 1] for [3, 4] + [3, 4]",
              vlm_op_binary (mk (d, F32, 2, 3, 1), a, a, 0, &e), &e);
  vt_refused ("b is i32", vlm_op_binary (y, a, mk (d, I32, 2, 3, 4), 0, &e), &e);
  vt_refused ("b on another device", vlm_op_binary (y, a, mk (od, F32, 2, 3, 4), 0, &e), &e);
  vt_refused ("unknown operation", vlm_op_binary (y, a, a, 7, &e), &e);
  VlmTensor *full = mk (d, F32, 2, 3, 4);
  VlmTensor *part = view (full, 0, 1, 4);
  vt_refused ("y overlaps a of another shape",
              vlm_op_binary (full, part, mk (d, F32, 2, 3, 4), 0, &e), &e);
  vt_refused ("b missing", vlm_op_binary (y, a, NULL, 0, &e), &e);
  pool_end ();
}

static void
test_attention_bad (gconstpointer data)
{
  VlmDevice *d = vt_device ();
  g_autoptr (VlmDevice) od = other_device ();
  GError *e = NULL;
  pool_begin ();
  VlmTensor *q = mk (d, F32, 3, 2, 5, 12), *k = mk (d, F32, 3, 2, 9, 12);
  VlmTensor *v = mk (d, F32, 3, 2, 9, 12), *o = mk (d, F32, 3, 2, 5, 12);
  VlmAttentionParams p = { .n_heads = 3 };
  VlmAttentionParams p5 = { .n_heads = 5 }, p0 = { .n_heads = 0 };
  vt_refused ("5 heads for width 12", vlm_op_attention (o, q, k, v, &p5, &e), &e);
  vt_refused ("0 heads", vlm_op_attention (o, q, k, v, &p0, &e), &e);
  vt_refused ("params missing", vlm_op_attention (o, q, k, v, NULL, &e), &e);
  vt_refused ("v is [2, 8, 12]", vlm_op_attention (o, q, k, mk (d, F32, 3, 2, 8, 12), &p, &e),
              &e);
  vt_refused ("k is [1, 9, 12]", vlm_op_attention (o, q, mk (d, F32, 3, 1, 9, 12), v, &p, &e),
              &e);
  vt_refused ("k is [2, 9, 6]", vlm_op_attention (o, q, mk (d, F32, 3, 2, 9, 6), v, &p, &e), &e);
  vt_refused ("out is [2, 4, 12]", vlm_op_attention (mk (d, F32, 3, 2, 4, 12), q, k, v, &p, &e),
              &e);
  vt_refused ("q is 1-D", vlm_op_attention (o, mk (d, F32, 1, 12), k, v, &p, &e), &e);
  vt_refused ("q is 4-D", vlm_op_attention (o, mk (d, F32, 4, 1, 2, 5, 12), k, v, &p, &e), &e);
  vt_refused ("k is i32", vlm_op_attention (o, q, mk (d, I32, 3, 2, 9, 12), v, &p, &e), &e);
  vt_refused ("v on another device",
              vlm_op_attention (o, q, k, mk (od, F32, 3, 2, 9, 12), &p, &e), &e);
  VlmAttentionParams pk = { .n_heads = 3, .kv_len = 10 };
  vt_refused ("kv_len 10 > 9 rows", vlm_op_attention (o, q, k, v, &pk, &e), &e);
  VlmAttentionParams pn = { .n_heads = 3, .kv_len = -1 };
  vt_refused ("kv_len -1", vlm_op_attention (o, q, k, v, &pn, &e), &e);
  VlmAttentionParams pc = { .n_heads = 3, .causal = TRUE, .q_offset = 5, .kv_len = 9 };
  vt_refused ("causal queries past kv_len", vlm_op_attention (o, q, k, v, &pc, &e), &e);
  VlmAttentionParams po = { .n_heads = 3, .q_offset = -2 };
  vt_refused ("negative q_offset", vlm_op_attention (o, q, k, v, &po, &e), &e);
  VlmAttentionParams pp = { .n_heads = 3, .n_prefix = -1 };
  vt_refused ("negative n_prefix", vlm_op_attention (o, q, k, v, &pp, &e), &e);
  VlmAttentionParams ps = { .n_heads = 3, .scale = INFINITY };
  vt_refused ("scale inf", vlm_op_attention (o, q, k, v, &ps, &e), &e);
  vt_refused ("out is q", vlm_op_attention (q, q, k, v, &p, &e), &e);
  pool_end ();
}

static void
test_patchify_bad (gconstpointer data)
{
  VlmDevice *d = vt_device ();
  g_autoptr (VlmDevice) od = other_device ();
  GError *e = NULL;
  pool_begin ();
  VlmTensor *im = mk (d, F32, 4, 1, 3, 16, 16), *pt = mk (d, F32, 3, 1, 4, 192);
  vt_refused ("patch 0", vlm_op_patchify (pt, im, 0, &e), &e);
  vt_refused ("patch 17 > 16", vlm_op_patchify (pt, im, 17, &e), &e);
  vt_refused ("patches [1, 4, 191]", vlm_op_patchify (mk (d, F32, 3, 1, 4, 191), im, 8, &e), &e);
  vt_refused ("patches [1, 5, 192]", vlm_op_patchify (mk (d, F32, 3, 1, 5, 192), im, 8, &e), &e);
  vt_refused ("patches [2, 4, 192]", vlm_op_patchify (mk (d, F32, 3, 2, 4, 192), im, 8, &e), &e);
  vt_refused ("image 2-D", vlm_op_patchify (pt, mk (d, F32, 2, 16, 16), 8, &e), &e);
  vt_refused ("image i32", vlm_op_patchify (pt, mk (d, I32, 4, 1, 3, 16, 16), 8, &e), &e);
  vt_refused ("image on another device",
              vlm_op_patchify (pt, mk (od, F32, 4, 1, 3, 16, 16), 8, &e), &e);
  vt_refused ("patches missing", vlm_op_patchify (NULL, im, 8, &e), &e);
  pool_end ();
}

static void
test_gather_bad (gconstpointer data)
{
  VlmDevice *d = vt_device ();
  g_autoptr (VlmDevice) od = other_device ();
  GError *e = NULL;
  pool_begin ();
  VlmTensor *t = mk (d, F32, 2, 10, 6), *ids = mk (d, I32, 1, 4), *y = mk (d, F32, 2, 4, 6);
  vt_refused ("ids are f32", vlm_op_gather_rows (y, t, mk (d, F32, 1, 4), &e), &e);
  vt_refused ("table is i32", vlm_op_gather_rows (y, mk (d, I32, 2, 10, 6), ids, &e), &e);
  vt_refused ("table is 3-D", vlm_op_gather_rows (y, mk (d, F32, 3, 2, 5, 6), ids, &e), &e);
  vt_refused ("y rows of 5", vlm_op_gather_rows (mk (d, F32, 2, 4, 5), t, ids, &e), &e);
  vt_refused ("y has 3 rows", vlm_op_gather_rows (mk (d, F32, 2, 3, 6), t, ids, &e), &e);
  vt_refused ("y is f16", vlm_op_gather_rows (mk (d, F16, 2, 4, 6), t, ids, &e), &e);
  vt_refused ("ids on another device", vlm_op_gather_rows (y, t, mk (od, I32, 1, 4), &e), &e);
  vt_refused ("ids missing", vlm_op_gather_rows (y, t, NULL, &e), &e);
  if (!vlm_device_supports_f16 (d))
    vt_refused ("f16 table on a device without f16",
                vlm_op_gather_rows (y, mk (d, F16, 2, 10, 6), ids, &e), &e);
  pool_end ();
}

static void
test_topk_bad (gconstpointer data)
{
  VlmDevice *d = vt_device ();
  g_autoptr (VlmDevice) od = other_device ();
  GError *e = NULL;
  pool_begin ();
  VlmTensor *x = mk (d, F32, 2, 3, 300);
  VlmTensor *v = mk (d, F32, 2, 3, 5), *i = mk (d, I32, 2, 3, 5);
  vt_refused ("k 0", vlm_op_topk (mk (d, F32, 2, 3, 1), mk (d, I32, 2, 3, 1), x, 0, &e), &e);
  vt_refused ("k 301 > N", vlm_op_topk (mk (d, F32, 2, 3, 301), mk (d, I32, 2, 3, 301), x, 301,
                                        &e), &e);
  vt_refused ("k 257 > 256", vlm_op_topk (mk (d, F32, 2, 3, 257), mk (d, I32, 2, 3, 257), x, 257,
                                          &e), &e);
  vt_refused ("values [3, 4] for k 5", vlm_op_topk (mk (d, F32, 2, 3, 4), i, x, 5, &e), &e);
  vt_refused ("values [2, 5] for 3 rows", vlm_op_topk (mk (d, F32, 2, 2, 5), i, x, 5, &e), &e);
  vt_refused ("indices [15] vs values [3, 5]", vlm_op_topk (v, mk (d, I32, 1, 15), x, 5, &e), &e);
  vt_refused ("indices f32", vlm_op_topk (v, mk (d, F32, 2, 3, 5), x, 5, &e), &e);
  vt_refused ("values i32", vlm_op_topk (mk (d, I32, 2, 3, 5), i, x, 5, &e), &e);
  vt_refused ("x is i32", vlm_op_topk (v, i, mk (d, I32, 2, 3, 300), 5, &e), &e);
  vt_refused ("x on another device", vlm_op_topk (v, i, mk (od, F32, 2, 3, 300), 5, &e), &e);
  pool_end ();
}

static void
test_preprocess_bad (gconstpointer data)
{
  VlmDevice *d = vt_device ();
  g_autoptr (VlmDevice) od = other_device ();
  GError *e = NULL;
  pool_begin ();
  VlmImageParams p;
  memset (&p, 0, sizeof p);
  gsize size = vlm_pixel_format_frame_size (VLM_PIXEL_NV12, 31, 17, &p);
  g_assert_cmpuint (size, ==, 31 * 17 + 2 * 16 * 9);
  p.resize_short = 12;
  p.crop = 10;
  p.resample = VLM_RESAMPLE_BICUBIC;
  for (gint c = 0; c < 3; c++) {
    p.mean[c] = 0.5f;
    p.std[c] = 0.25f;
  }
  VlmTensor *src = mk (d, U8, 1, (gint) size), *out = mk (d, F32, 3, 3, 10, 10);
  VlmImageParams q;
  vt_refused ("source is f32", vlm_op_preprocess (out, mk (d, F32, 1, (gint) size), &p, &e), &e);
  vt_refused ("out is [3, 10, 11]", vlm_op_preprocess (mk (d, F32, 3, 3, 10, 11), src, &p, &e),
              &e);
  vt_refused ("out is [4, 10, 10]", vlm_op_preprocess (mk (d, F32, 3, 4, 10, 10), src, &p, &e),
              &e);
  vt_refused ("out is u8", vlm_op_preprocess (mk (d, U8, 3, 3, 10, 10), src, &p, &e), &e);
  vt_refused ("frame one byte short",
              vlm_op_preprocess (out, mk (d, U8, 1, (gint) size - 1), &p, &e), &e);
  vt_refused ("source on another device",
              vlm_op_preprocess (out, mk (od, U8, 1, (gint) size), &p, &e), &e);
  q = p;
  q.stride[0] = 30;
  vt_refused ("luma stride shorter than a row", vlm_op_preprocess (out, src, &q, &e), &e);
  q = p;
  q.stride[1] = 31;
  vt_refused ("chroma stride shorter than a row", vlm_op_preprocess (out, src, &q, &e), &e);
  q = p;
  q.plane_offset[1] = size;
  vt_refused ("chroma plane past the end", vlm_op_preprocess (out, src, &q, &e), &e);
  q = p;
  q.format = 42;
  vt_refused ("unknown pixel format", vlm_op_preprocess (out, src, &q, &e), &e);
  q = p;
  q.resample = 9;
  vt_refused ("unknown filter", vlm_op_preprocess (out, src, &q, &e), &e);
  q = p;
  q.crop = 13;
  vt_refused ("crop > resize", vlm_op_preprocess (mk (d, F32, 3, 3, 13, 13), src, &q, &e), &e);
  q = p;
  q.resize_short = 0;
  vt_refused ("resize 0", vlm_op_preprocess (out, src, &q, &e), &e);
  q = p;
  q.std[1] = 0.0f;
  vt_refused ("std 0", vlm_op_preprocess (out, src, &q, &e), &e);
  q = p;
  q.mean[2] = NAN;
  vt_refused ("mean NaN", vlm_op_preprocess (out, src, &q, &e), &e);
  q = p;
  q.width = 0;
  vt_refused ("width 0", vlm_op_preprocess (out, src, &q, &e), &e);
  q = p;
  q.width = 32;
  vt_refused ("width 32 in a 31-wide frame", vlm_op_preprocess (out, src, &q, &e), &e);
  vt_refused ("params missing", vlm_op_preprocess (out, src, NULL, &e), &e);
  pool_end ();
}

void
vt_register_bad_input (const gchar *prefix)
{
  vt_add (prefix, "bad-input", "matmul", NULL, test_matmul_bad);
  vt_add (prefix, "bad-input", "layernorm", NULL, test_layernorm_bad);
  vt_add (prefix, "bad-input", "softmax", NULL, test_softmax_bad);
  vt_add (prefix, "bad-input", "unary", NULL, test_unary_bad);
  vt_add (prefix, "bad-input", "binary", NULL, test_binary_bad);
  vt_add (prefix, "bad-input", "attention", NULL, test_attention_bad);
  vt_add (prefix, "bad-input", "patchify", NULL, test_patchify_bad);
  vt_add (prefix, "bad-input", "gather_rows", NULL, test_gather_bad);
  vt_add (prefix, "bad-input", "topk", NULL, test_topk_bad);
  vt_add (prefix, "bad-input", "preprocess", NULL, test_preprocess_bad);
}
