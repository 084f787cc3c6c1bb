/* gst-vlm engine — op front end: argument checks, then the backend.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <string.h>

#include "vlm-backend.h"

static gboolean G_GNUC_PRINTF (3, 4)
fail (GError **error, const gchar *op, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "%s: %s", op, msg);
  return FALSE;
}

/* Checks that @t exists, lives on @dev and has @dtype. */
static gboolean
check_tensor (const gchar *op, const gchar *what, const VlmTensor *t, VlmDevice *dev,
              VlmDType dtype, GError **error)
{
  if (t == NULL)
    return fail (error, op, "%s is missing", what);
  if (t->device != dev)
    return fail (error, op, "%s lives on %s, the other tensors on %s", what,
                 t->device->name, dev->name);
  if (t->dtype != dtype) {
    g_autofree gchar *s = vlm_tensor_shape_string (t);
    return fail (error, op, "%s is %s, expected dtype %s", what, s, vlm_dtype_to_string (dtype));
  }
  return TRUE;
}

static gboolean
same_shape (const VlmTensor *a, const VlmTensor *b)
{
  if (a->ndim != b->ndim)
    return FALSE;
  for (gint i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i])
      return FALSE;
  return TRUE;
}

static gboolean
overlaps (const VlmTensor *a, const VlmTensor *b)
{
  return a && b && a->storage == b->storage && a->offset < b->offset + b->nbytes &&
      b->offset < a->offset + a->nbytes;
}

static gboolean
identical (const VlmTensor *a, const VlmTensor *b)
{
  return a->storage == b->storage && a->offset == b->offset && a->nbytes == b->nbytes;
}

static gboolean
shape_error (GError **error, const gchar *op, const gchar *what, const VlmTensor *t,
             const gchar *expected)
{
  g_autofree gchar *s = vlm_tensor_shape_string (t);
  return fail (error, op, "%s is %s, expected %s", what, s, expected);
}

/* Everything vlm_op_matmul() and vlm_op_matmul_scaled() check but w's
 * dtype. */
static gboolean
check_matmul (const gchar *op, VlmTensor *y, const VlmTensor *x, const VlmTensor *w,
              const VlmTensor *bias, const VlmTensor *residual, VlmActivation act,
              GError **error)
{
  VlmDevice *dev = x->device;
  gint64 K = x->shape[x->ndim - 1];
  if (w->ndim != 2 || w->shape[1] != K) {
    g_autofree gchar *e = g_strdup_printf ("[N, %" G_GINT64_FORMAT "]", K);
    return shape_error (error, op, "w", w, e);
  }
  gint64 N = w->shape[0];
  if (y->shape[y->ndim - 1] != N || vlm_tensor_rows (y) != vlm_tensor_rows (x)) {
    g_autofree gchar *e = g_strdup_printf ("%" G_GINT64_FORMAT " rows of %" G_GINT64_FORMAT,
                                           vlm_tensor_rows (x), N);
    return shape_error (error, op, "y", y, e);
  }
  if (bias) {
    if (!check_tensor (op, "bias", bias, dev, VLM_DTYPE_F32, error))
      return FALSE;
    if (vlm_tensor_numel (bias) != N) {
      g_autofree gchar *e = g_strdup_printf ("[%" G_GINT64_FORMAT "]", N);
      return shape_error (error, op, "bias", bias, e);
    }
  }
  if (residual) {
    if (!check_tensor (op, "residual", residual, dev, VLM_DTYPE_F32, error))
      return FALSE;
    if (!same_shape (residual, y))
      return shape_error (error, op, "residual", residual, "the shape of y");
    if (overlaps (residual, y) && !identical (residual, y))
      return fail (error, op, "residual partly overlaps y");
  }
  if (overlaps (y, x) || overlaps (y, w))
    return fail (error, op, "y overlaps an input");
  if ((guint) act > VLM_ACT_QUICK_GELU)
    return fail (error, op, "unknown activation %d", (int) act);
  return TRUE;
}

/**
 * vlm_op_matmul:
 * @y: output, F32 [..., N] with as many rows as @x
 * @x: input, F32 [..., K]
 * @w: weight, F32, F16 or BF16 [N, K] (Hugging Face's [out, in] layout;
 *   see vlm_op_matmul_supports_weights())
 * @bias: (nullable): F32 [N]
 * @residual: (nullable): F32, same shape as @y; may be @y itself
 * @act: activation applied before the residual is added
 * @error: return location for a #GError
 *
 * y = act(x·wᵀ + bias) + residual, accumulated in f32.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_op_matmul (VlmTensor *y, const VlmTensor *x, const VlmTensor *w, const VlmTensor *bias,
               const VlmTensor *residual, VlmActivation act, GError **error)
{
  const gchar *op = "matmul";
  if (!x)
    return fail (error, op, "x is missing");
  VlmDevice *dev = x->device;
  if (!check_tensor (op, "x", x, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "y", y, dev, VLM_DTYPE_F32, error))
    return FALSE;
  if (!w)
    return fail (error, op, "w is missing");
  if (w->dtype == VLM_DTYPE_I8)
    return fail (error, op, "w is i8: int8 weights need their scales (vlm_op_matmul_scaled)");
  if (!check_tensor (op, "w", w, dev, w->dtype == VLM_DTYPE_F16 || w->dtype == VLM_DTYPE_BF16
                     ? w->dtype : VLM_DTYPE_F32, error))
    return FALSE;
  if (w->dtype == VLM_DTYPE_F16 && !dev->fp16)
    return fail (error, op, "w is f16 but %s has no f16 support", dev->name);
  if (w->dtype == VLM_DTYPE_BF16 && !dev->bf16)
    return fail (error, op, "w is bf16 but %s has no bf16 support", dev->name);
  if (!check_matmul (op, y, x, w, bias, residual, act, error))
    return FALSE;
  return dev->backend->matmul (dev, y, x, w, bias, residual, act, error);
}

/**
 * vlm_op_matmul_scaled:
 * @y: output, F32 [..., N] with as many rows as @x
 * @x: input, F32 [..., K]
 * @w: quantized weight, I8 [N, K]
 * @w_scale: F32 [N], the scale of each row of @w
 * @bias: (nullable): F32 [N]
 * @residual: (nullable): F32, same shape as @y; may be @y itself
 * @act: activation applied before the residual is added
 * @error: return location for a #GError
 *
 * vlm_op_matmul() with int8 weights: the weight is w[n][k]·w_scale[n], so
 * y = act(x·(w·diag(w_scale))ᵀ + bias) + residual. Only devices for which
 * vlm_op_matmul_supports_weights() accepts %VLM_DTYPE_I8 run it.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_op_matmul_scaled (VlmTensor *y, const VlmTensor *x, const VlmTensor *w,
                      const VlmTensor *w_scale, const VlmTensor *bias,
                      const VlmTensor *residual, VlmActivation act, GError **error)
{
  const gchar *op = "matmul_scaled";
  if (!x)
    return fail (error, op, "x is missing");
  VlmDevice *dev = x->device;
  if (!check_tensor (op, "x", x, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "y", y, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "w", w, dev, VLM_DTYPE_I8, error) ||
      !check_tensor (op, "w_scale", w_scale, dev, VLM_DTYPE_F32, error))
    return FALSE;
  if (!dev->backend->matmul_scaled)
    return fail (error, op, "%s has no int8 weights", dev->name);
  if (!check_matmul (op, y, x, w, bias, residual, act, error))
    return FALSE;
  if (vlm_tensor_numel (w_scale) != w->shape[0]) {
    g_autofree gchar *e = g_strdup_printf ("[%" G_GINT64_FORMAT "]", w->shape[0]);
    return shape_error (error, op, "w_scale", w_scale, e);
  }
  if (overlaps (y, w_scale))
    return fail (error, op, "y overlaps an input");
  return dev->backend->matmul_scaled (dev, y, x, w, w_scale, bias, residual, act, error);
}

/**
 * vlm_op_matmul_supports_weights:
 * @device: a device
 * @dtype: a weight element type
 *
 * Whether vlm_op_matmul() on @device accepts weights of @dtype: f32
 * always, f16 when vlm_device_supports_f16() says so, bf16 on the CPU
 * backend (multiplied with AMX where the processor has it, else widened to
 * f32 on the fly); and whether vlm_op_matmul_scaled() runs with i8 weights
 * (the CPU backend).
 *
 * Returns: %TRUE when weights of @dtype can be used.
 */
gboolean
vlm_op_matmul_supports_weights (VlmDevice *device, VlmDType dtype)
{
  switch (dtype) {
    case VLM_DTYPE_F32:
      return TRUE;
    case VLM_DTYPE_F16:
      return device->fp16;
    case VLM_DTYPE_BF16:
      return device->bf16;
    case VLM_DTYPE_I8:
      return device->backend->matmul_scaled != NULL;
    case VLM_DTYPE_I32:
    case VLM_DTYPE_U8:
      break;
  }
  return FALSE;
}

/**
 * vlm_op_layernorm:
 * @y: output, F32, same shape as @x; may be @x
 * @x: input, F32 [..., C]
 * @gamma: (nullable): F32 [C] scale (1 when %NULL)
 * @beta: (nullable): F32 [C] shift (0 when %NULL)
 * @eps: added to the variance
 * @error: return location for a #GError
 *
 * Normalises each row over its last dimension (two-pass mean and variance).
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_op_layernorm (VlmTensor *y, const VlmTensor *x, const VlmTensor *gamma,
                  const VlmTensor *beta, gfloat eps, GError **error)
{
  const gchar *op = "layernorm";
  if (!x)
    return fail (error, op, "x is missing");
  VlmDevice *dev = x->device;
  if (!check_tensor (op, "x", x, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "y", y, dev, VLM_DTYPE_F32, error))
    return FALSE;
  if (!same_shape (x, y))
    return shape_error (error, op, "y", y, "the shape of x");
  if (overlaps (x, y) && !identical (x, y))
    return fail (error, op, "y partly overlaps x");
  gint64 C = x->shape[x->ndim - 1];
  const VlmTensor *params[2] = { gamma, beta };
  const gchar *names[2] = { "gamma", "beta" };
  for (gint i = 0; i < 2; i++) {
    if (!params[i])
      continue;
    if (!check_tensor (op, names[i], params[i], dev, VLM_DTYPE_F32, error))
      return FALSE;
    if (vlm_tensor_numel (params[i]) != C) {
      g_autofree gchar *e = g_strdup_printf ("[%" G_GINT64_FORMAT "]", C);
      return shape_error (error, op, names[i], params[i], e);
    }
  }
  if (!(eps >= 0.0f) || isinf (eps))
    return fail (error, op, "eps %g must be finite and not negative", eps);
  return dev->backend->layernorm (dev, y, x, gamma, beta, eps, error);
}

/**
 * vlm_op_softmax:
 * @y: output, F32, same shape as @x; may be @x
 * @x: input, F32 [..., R, C]
 * @scale: multiplies @x before the mask is added
 * @mask: (nullable): additive F32 mask [R, C], broadcast over leading dims
 * @causal: mask (r, c) when c > r + (C − R)
 * @error: return location for a #GError
 *
 * Softmax over the last dimension. A row whose entries are all masked gives
 * zeros.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_op_softmax (VlmTensor *y, const VlmTensor *x, gfloat scale, const VlmTensor *mask,
                gboolean causal, GError **error)
{
  const gchar *op = "softmax";
  if (!x)
    return fail (error, op, "x is missing");
  VlmDevice *dev = x->device;
  if (!check_tensor (op, "x", x, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "y", y, dev, VLM_DTYPE_F32, error))
    return FALSE;
  if (!same_shape (x, y))
    return shape_error (error, op, "y", y, "the shape of x");
  if (overlaps (x, y) && !identical (x, y))
    return fail (error, op, "y partly overlaps x");
  gint64 C = x->shape[x->ndim - 1];
  gint64 R = x->ndim >= 2 ? x->shape[x->ndim - 2] : 1;
  if (mask) {
    if (!check_tensor (op, "mask", mask, dev, VLM_DTYPE_F32, error))
      return FALSE;
    if (vlm_tensor_numel (mask) != R * C || mask->shape[mask->ndim - 1] != C) {
      g_autofree gchar *e = g_strdup_printf ("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                                             R, C);
      return shape_error (error, op, "mask", mask, e);
    }
  }
  if (causal && R > C)
    return fail (error, op, "causal mask needs rows (%" G_GINT64_FORMAT ") <= columns (%"
                 G_GINT64_FORMAT ")", R, C);
  if (!isfinite (scale))
    return fail (error, op, "scale %g is not finite", scale);
  return dev->backend->softmax (dev, y, x, scale, mask, causal, error);
}

/**
 * vlm_op_unary:
 * @y: output, F32, same shape as @x; may be @x
 * @x: input, F32
 * @act: the function
 * @error: return location for a #GError
 *
 * Applies an activation elementwise.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_op_unary (VlmTensor *y, const VlmTensor *x, VlmActivation act, GError **error)
{
  const gchar *op = "unary";
  if (!x)
    return fail (error, op, "x is missing");
  VlmDevice *dev = x->device;
  if (!check_tensor (op, "x", x, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "y", y, dev, VLM_DTYPE_F32, error))
    return FALSE;
  if (vlm_tensor_numel (x) != vlm_tensor_numel (y))
    return shape_error (error, op, "y", y, "as many elements as x");
  if (overlaps (x, y) && !identical (x, y))
    return fail (error, op, "y partly overlaps x");
  if ((guint) act > VLM_ACT_QUICK_GELU)
    return fail (error, op, "unknown activation %d", (int) act);
  return dev->backend->unary (dev, y, x, act, error);
}

/**
 * vlm_op_binary:
 * @y: output, F32, the broadcast shape of @a and @b
 * @a: first operand, F32
 * @b: second operand, F32
 * @op: the operation
 * @error: return location for a #GError
 *
 * Elementwise a op b with numpy-style broadcasting (shapes right-aligned;
 * each dimension of @a and @b is 1 or equal to @y's).
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_op_binary (VlmTensor *y, const VlmTensor *a, const VlmTensor *b, VlmBinaryOp op,
               GError **error)
{
  const gchar *name = "binary";
  if (!a)
    return fail (error, name, "a is missing");
  VlmDevice *dev = a->device;
  if (!check_tensor (name, "a", a, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (name, "b", b, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (name, "y", y, dev, VLM_DTYPE_F32, error))
    return FALSE;
  if ((guint) op > VLM_BINARY_MUL)
    return fail (error, name, "unknown operation %d", (int) op);
  gint64 sa[VLM_MAX_DIMS], sb[VLM_MAX_DIMS], sy[VLM_MAX_DIMS];
  vlm_tensor_broadcast_shape (a, sa);
  vlm_tensor_broadcast_shape (b, sb);
  vlm_tensor_broadcast_shape (y, sy);
  if (a->ndim > y->ndim || b->ndim > y->ndim)
    return shape_error (error, name, "y", y, "at least as many dimensions as a and b");
  for (gint i = 0; i < VLM_MAX_DIMS; i++) {
    if ((sa[i] != 1 && sa[i] != sy[i]) || (sb[i] != 1 && sb[i] != sy[i])) {
      g_autofree gchar *as = vlm_tensor_shape_string (a);
      g_autofree gchar *bs = vlm_tensor_shape_string (b);
      g_autofree gchar *ys = vlm_tensor_shape_string (y);
      return fail (error, name, "a %s and b %s do not broadcast to y %s", as, bs, ys);
    }
  }
  if ((overlaps (y, a) && !(identical (y, a) && same_shape (y, a))) ||
      (overlaps (y, b) && !(identical (y, b) && same_shape (y, b))))
    return fail (error, name, "y overlaps an input of another shape");
  return dev->backend->binary (dev, y, a, b, op, error);
}

/* Views a 2-D [S, C] tensor as [1, S, C]; leaves 3-D ones alone. */
static gboolean
as_3d (const gchar *op, const gchar *what, const VlmTensor *t, VlmTensor *out, GError **error)
{
  if (t->ndim != 2 && t->ndim != 3)
    return shape_error (error, op, what, t, "[B, S, heads × head_dim] or [S, heads × head_dim]");
  *out = *t;
  if (t->ndim == 2) {
    out->ndim = 3;
    out->shape[0] = 1;
    out->shape[1] = t->shape[0];
    out->shape[2] = t->shape[1];
  }
  return TRUE;
}

/**
 * vlm_op_attention:
 * @out: output, F32, shape of @q
 * @q: queries, F32 [B, Sq, H·D] (or [Sq, H·D])
 * @k: keys, F32 [B, Skv, H·D]
 * @v: values, F32 [B, Skv, H·D]
 * @params: heads, scale and masking (see #VlmAttentionParams)
 * @error: return location for a #GError
 *
 * Multi-head scaled-dot-product attention: per head,
 * out = softmax(scale·q·kᵀ + mask)·v.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_op_attention (VlmTensor *out, const VlmTensor *q, const VlmTensor *k, const VlmTensor *v,
                  const VlmAttentionParams *params, GError **error)
{
  const gchar *op = "attention";
  if (!q)
    return fail (error, op, "q is missing");
  if (!params)
    return fail (error, op, "params are missing");
  VlmDevice *dev = q->device;
  if (!check_tensor (op, "q", q, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "k", k, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "v", v, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "out", out, dev, VLM_DTYPE_F32, error))
    return FALSE;
  VlmTensor q3, k3, v3, o3;
  if (!as_3d (op, "q", q, &q3, error) || !as_3d (op, "k", k, &k3, error) ||
      !as_3d (op, "v", v, &v3, error) || !as_3d (op, "out", out, &o3, error))
    return FALSE;
  gint64 B = q3.shape[0], C = q3.shape[2];
  if (params->n_heads <= 0 || C % params->n_heads != 0)
    return fail (error, op, "%d heads do not divide the width %" G_GINT64_FORMAT,
                 params->n_heads, C);
  if (!same_shape (&k3, &v3) || k3.shape[0] != B || k3.shape[2] != C)
    return fail (error, op, "k and v must both be [%" G_GINT64_FORMAT ", S, %" G_GINT64_FORMAT
                 "]", B, C);
  if (!same_shape (&o3, &q3))
    return shape_error (error, op, "out", out, "the shape of q");
  if (overlaps (out, q) || overlaps (out, k) || overlaps (out, v))
    return fail (error, op, "out overlaps an input");
  VlmAttentionParams p = *params;
  gint64 skv = k3.shape[1];
  if (p.kv_len == 0)
    p.kv_len = (gint) MIN (skv, G_MAXINT);
  if (p.kv_len < 1 || p.kv_len > skv)
    return fail (error, op, "kv_len %d outside 1..%" G_GINT64_FORMAT, params->kv_len, skv);
  if (p.n_prefix < 0 || p.q_offset < 0)
    return fail (error, op, "n_prefix and q_offset must not be negative");
  if (p.causal && p.q_offset + q3.shape[1] > p.kv_len)
    return fail (error, op, "causal: queries at positions %d..%" G_GINT64_FORMAT
                 " need that many keys, kv_len is %d", p.q_offset,
                 p.q_offset + q3.shape[1] - 1, p.kv_len);
  if (p.scale == 0.0f)
    p.scale = 1.0f / sqrtf ((gfloat) (C / p.n_heads));
  if (!isfinite (p.scale))
    return fail (error, op, "scale %g is not finite", params->scale);
  return dev->backend->attention (dev, &o3, &q3, &k3, &v3, &p, error);
}

/**
 * vlm_op_patchify:
 * @patches: output, F32 [B, (H/p)·(W/p), C·p·p]
 * @image: input, F32 [B, C, H, W] (or [C, H, W])
 * @patch: patch side p
 * @error: return location for a #GError
 *
 * Cuts an image into non-overlapping p×p patches, each flattened in
 * (channel, row, column) order, so that a matmul with a conv weight
 * [D, C, p, p] viewed as [D, C·p·p] is the stride-p convolution. Pixels
 * beyond the last whole patch are ignored (as the convolution does).
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_op_patchify (VlmTensor *patches, const VlmTensor *image, gint patch, GError **error)
{
  const gchar *op = "patchify";
  if (!image)
    return fail (error, op, "image is missing");
  VlmDevice *dev = image->device;
  if (!check_tensor (op, "image", image, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "patches", patches, dev, VLM_DTYPE_F32, error))
    return FALSE;
  if (image->ndim != 3 && image->ndim != 4)
    return shape_error (error, op, "image", image, "[B, C, H, W]");
  VlmTensor im = *image;
  if (image->ndim == 3) {
    im.ndim = 4;
    memmove (im.shape + 1, image->shape, 3 * sizeof (gint64));
    im.shape[0] = 1;
  }
  if (patch <= 0 || patch > im.shape[2] || patch > im.shape[3])
    return fail (error, op, "patch size %d does not fit the %" G_GINT64_FORMAT "×%"
                 G_GINT64_FORMAT " image", patch, im.shape[3], im.shape[2]);
  gint64 np = (im.shape[2] / patch) * (im.shape[3] / patch);
  gint64 inner = im.shape[1] * patch * patch;
  VlmTensor pt = *patches;
  if (patches->ndim == 2) {
    pt.ndim = 3;
    pt.shape[0] = 1;
    pt.shape[1] = patches->shape[0];
    pt.shape[2] = patches->shape[1];
  }
  if (pt.ndim != 3 || pt.shape[0] != im.shape[0] || pt.shape[1] != np || pt.shape[2] != inner) {
    g_autofree gchar *e = g_strdup_printf ("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ", %"
                                           G_GINT64_FORMAT "]", im.shape[0], np, inner);
    return shape_error (error, op, "patches", patches, e);
  }
  if (overlaps (patches, image))
    return fail (error, op, "patches overlap the image");
  return dev->backend->patchify (dev, &pt, &im, patch, error);
}

/**
 * vlm_op_gather_rows:
 * @y: output, F32 with one row of D per id
 * @table: F32 or F16 [V, D] (an embedding table)
 * @ids: I32 row indices, any shape
 * @error: return location for a #GError
 *
 * Embedding lookup: y[i] = table[ids[i]]. An id outside [0, V) gives a row
 * of zeros (callers validate token ids before upload).
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_op_gather_rows (VlmTensor *y, const VlmTensor *table, const VlmTensor *ids, GError **error)
{
  const gchar *op = "gather_rows";
  if (!table)
    return fail (error, op, "table is missing");
  VlmDevice *dev = table->device;
  if (table->dtype == VLM_DTYPE_F16 ? !check_tensor (op, "table", table, dev, VLM_DTYPE_F16, error)
      : !check_tensor (op, "table", table, dev, VLM_DTYPE_F32, error))
    return FALSE;
  if (table->dtype == VLM_DTYPE_F16 && !dev->fp16)
    return fail (error, op, "table is f16 but %s has no f16 support", dev->name);
  if (!check_tensor (op, "ids", ids, dev, VLM_DTYPE_I32, error) ||
      !check_tensor (op, "y", y, dev, VLM_DTYPE_F32, error))
    return FALSE;
  if (table->ndim != 2)
    return shape_error (error, op, "table", table, "[V, D]");
  gint64 D = table->shape[1];
  if (y->shape[y->ndim - 1] != D || vlm_tensor_rows (y) != vlm_tensor_numel (ids)) {
    g_autofree gchar *e = g_strdup_printf ("%" G_GINT64_FORMAT " rows of %" G_GINT64_FORMAT,
                                           vlm_tensor_numel (ids), D);
    return shape_error (error, op, "y", y, e);
  }
  if (overlaps (y, table) || overlaps (y, ids))
    return fail (error, op, "y overlaps an input");
  return dev->backend->gather_rows (dev, y, table, ids, error);
}

/**
 * vlm_op_topk:
 * @values: output, F32 [..., k]
 * @indices: output, I32 [..., k]
 * @x: input, F32 [..., N]
 * @k: how many, 1 ≤ k ≤ N
 * @error: return location for a #GError
 *
 * The k largest entries of each row, largest first; equal values in index
 * order; NaN below every number. k = 1 is argmax.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_op_topk (VlmTensor *values, VlmTensor *indices, const VlmTensor *x, gint k, GError **error)
{
  const gchar *op = "topk";
  if (!x)
    return fail (error, op, "x is missing");
  VlmDevice *dev = x->device;
  if (!check_tensor (op, "x", x, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "values", values, dev, VLM_DTYPE_F32, error) ||
      !check_tensor (op, "indices", indices, dev, VLM_DTYPE_I32, error))
    return FALSE;
  gint64 N = x->shape[x->ndim - 1];
  if (k < 1 || k > N)
    return fail (error, op, "k = %d outside 1..%" G_GINT64_FORMAT, k, N);
  if (k > 256)
    return fail (error, op, "k = %d above the supported maximum of 256", k);
  gint64 rows = vlm_tensor_rows (x);
  if (vlm_tensor_rows (values) != rows || values->shape[values->ndim - 1] != k)
    return shape_error (error, op, "values", values, "x's rows of k");
  if (!same_shape (values, indices))
    return shape_error (error, op, "indices", indices, "the shape of values");
  if (overlaps (values, x) || overlaps (indices, x) || overlaps (values, indices))
    return fail (error, op, "outputs overlap");
  return dev->backend->topk (dev, values, indices, x, k, error);
}

/**
 * vlm_image_resized_size:
 * @params: preprocessing parameters (width, height, resize_short)
 * @width: (out): width after the resize
 * @height: (out): height after the resize
 *
 * The size the short-side resize gives, before the centre crop: the short
 * side becomes resize_short, the long side floor(resize_short·long/short).
 */
void
vlm_image_resized_size (const VlmImageParams *params, gint *width, gint *height)
{
  gint64 w = params->width, h = params->height, s = params->resize_short;
  if (w <= h) {
    *width = (gint) s;
    *height = (gint) (s * h / w);
  } else {
    *height = (gint) s;
    *width = (gint) (s * w / h);
  }
}

/**
 * vlm_pixel_format_frame_size:
 * @format: pixel layout
 * @width: frame width
 * @height: frame height
 * @params: (nullable): when given, its format, size, strides and plane
 *   offsets are set for a tightly packed frame
 *
 * Returns: bytes of a tightly packed frame (chroma planes of odd sizes round
 *   up), or 0 for an invalid size.
 */
gsize
vlm_pixel_format_frame_size (VlmPixelFormat format, gint width, gint height,
                             VlmImageParams *params)
{
  if (width <= 0 || height <= 0 || width > 65536 || height > 65536)
    return 0;
  gsize w = (gsize) width, h = (gsize) height, cw = (w + 1) / 2, ch = (h + 1) / 2;
  gint stride[3] = { 0, 0, 0 };
  gsize off[3] = { 0, 0, 0 }, size;
  switch (format) {
    case VLM_PIXEL_RGB:
      stride[0] = (gint) (3 * w);
      size = 3 * w * h;
      break;
    case VLM_PIXEL_RGBA:
    case VLM_PIXEL_RGBX:
    case VLM_PIXEL_BGRA:
    case VLM_PIXEL_BGRX:
      stride[0] = (gint) (4 * w);
      size = 4 * w * h;
      break;
    case VLM_PIXEL_NV12:
      stride[0] = (gint) w;
      stride[1] = (gint) (2 * cw);
      off[1] = w * h;
      size = w * h + 2 * cw * ch;
      break;
    case VLM_PIXEL_I420:
      stride[0] = (gint) w;
      stride[1] = stride[2] = (gint) cw;
      off[1] = w * h;
      off[2] = w * h + cw * ch;
      size = w * h + 2 * cw * ch;
      break;
    default:
      return 0;
  }
  if (params) {
    params->format = format;
    params->width = width;
    params->height = height;
    memcpy (params->stride, stride, sizeof stride);
    memcpy (params->plane_offset, off, sizeof off);
  }
  return size;
}

static gboolean
check_plane (const gchar *op, const VlmTensor *src, gsize offset, gint stride, gsize row_bytes,
             gsize rows, gint plane, GError **error)
{
  if (stride <= 0 || (gsize) stride < row_bytes)
    return fail (error, op, "plane %d: stride %d is shorter than a row (%" G_GSIZE_FORMAT
                 " bytes)", plane, stride, row_bytes);
  gsize need = (rows - 1) * (gsize) stride + row_bytes;
  if (offset > src->nbytes || need > src->nbytes - offset)
    return fail (error, op, "plane %d: %" G_GSIZE_FORMAT " bytes at offset %" G_GSIZE_FORMAT
                 " exceed the %" G_GSIZE_FORMAT "-byte frame", plane, need, offset, src->nbytes);
  return TRUE;
}

/**
 * vlm_op_preprocess:
 * @out: output, F32 [3, crop, crop] (leading dimensions of size 1 allowed)
 * @src: U8 tensor holding the raw frame
 * @params: layout of the frame and the preprocessing to apply
 * @error: return location for a #GError
 *
 * Converts a raw frame to a normalised model input: colour conversion,
 * short-side resize with an antialiased separable filter, centre crop,
 * per-channel normalisation (see #VlmImageParams and #VlmResample).
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_op_preprocess (VlmTensor *out, const VlmTensor *src, const VlmImageParams *params,
                   GError **error)
{
  const gchar *op = "preprocess";
  if (!src || !params)
    return fail (error, op, "source or params missing");
  VlmDevice *dev = src->device;
  if (!check_tensor (op, "source", src, dev, VLM_DTYPE_U8, error) ||
      !check_tensor (op, "out", out, dev, VLM_DTYPE_F32, error))
    return FALSE;
  const VlmImageParams *p = params;
  if ((guint) p->format > VLM_PIXEL_I420)
    return fail (error, op, "unknown pixel format %d", (int) p->format);
  if ((guint) p->resample > VLM_RESAMPLE_BICUBIC)
    return fail (error, op, "unknown resampling filter %d", (int) p->resample);
  if (p->width <= 0 || p->height <= 0 || p->width > 65536 || p->height > 65536)
    return fail (error, op, "frame size %d×%d outside 1..65536", p->width, p->height);
  if (p->resize_short <= 0 || p->resize_short > 4096 || p->crop <= 0 ||
      p->crop > p->resize_short)
    return fail (error, op, "resize %d / crop %d: need 0 < crop ≤ resize ≤ 4096",
                 p->resize_short, p->crop);
  for (gint c = 0; c < 3; c++)
    if (!(p->std[c] > 0.0f) || !isfinite (p->std[c]) || !isfinite (p->mean[c]))
      return fail (error, op, "channel %d: mean %g / std %g invalid", c, p->mean[c], p->std[c]);
  if (vlm_tensor_numel (out) != 3 * (gint64) p->crop * p->crop ||
      out->shape[out->ndim - 1] != p->crop || out->shape[out->ndim - 2] != p->crop) {
    g_autofree gchar *e = g_strdup_printf ("[3, %d, %d]", p->crop, p->crop);
    return shape_error (error, op, "out", out, e);
  }
  gsize w = (gsize) p->width, h = (gsize) p->height, cw = (w + 1) / 2, ch = (h + 1) / 2;
  switch (p->format) {
    case VLM_PIXEL_RGB:
      if (!check_plane (op, src, p->plane_offset[0], p->stride[0], 3 * w, h, 0, error))
        return FALSE;
      break;
    case VLM_PIXEL_RGBA:
    case VLM_PIXEL_RGBX:
    case VLM_PIXEL_BGRA:
    case VLM_PIXEL_BGRX:
      if (!check_plane (op, src, p->plane_offset[0], p->stride[0], 4 * w, h, 0, error))
        return FALSE;
      break;
    case VLM_PIXEL_NV12:
      if (!check_plane (op, src, p->plane_offset[0], p->stride[0], w, h, 0, error) ||
          !check_plane (op, src, p->plane_offset[1], p->stride[1], 2 * cw, ch, 1, error))
        return FALSE;
      break;
    case VLM_PIXEL_I420:
      if (!check_plane (op, src, p->plane_offset[0], p->stride[0], w, h, 0, error) ||
          !check_plane (op, src, p->plane_offset[1], p->stride[1], cw, ch, 1, error) ||
          !check_plane (op, src, p->plane_offset[2], p->stride[2], cw, ch, 2, error))
        return FALSE;
      break;
  }
  return dev->backend->preprocess (dev, out, src, params, error);
}
