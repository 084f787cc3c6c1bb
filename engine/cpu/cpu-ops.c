/* gst-vlm engine — CPU backend: layernorm, softmax, unary and binary ops.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Row-wise and elementwise loops split over the thread pool. Reductions keep
 * 16 partial sums so the compiler can vectorise them without reassociating
 * a single chain (no -ffast-math needed); activations and exp use the ISA's
 * vector code, the same as the matmul epilogue and attention.
 */
#include <string.h>

#include "vlm-cpu.h"

#define LANES 16

/* Elements worth one task of an elementwise loop. */
#define GRAIN_ELEMENTS 16384

static gfloat
sum_f32 (const gfloat *restrict x, gint64 n)
{
  gfloat part[LANES] = { 0 };
  gint64 i = 0;
  for (; i + LANES <= n; i += LANES)
    for (gint j = 0; j < LANES; j++)
      part[j] += x[i + j];
  gfloat s = 0.0f;
  for (; i < n; i++)
    s += x[i];
  for (gint j = 0; j < LANES; j++)
    s += part[j];
  return s;
}

static gfloat
sum_sq_dev (const gfloat *restrict x, gint64 n, gfloat mean)
{
  gfloat part[LANES] = { 0 };
  gint64 i = 0;
  for (; i + LANES <= n; i += LANES)
    for (gint j = 0; j < LANES; j++) {
      gfloat d = x[i + j] - mean;
      part[j] += d * d;
    }
  gfloat s = 0.0f;
  for (; i < n; i++)
    s += (x[i] - mean) * (x[i] - mean);
  for (gint j = 0; j < LANES; j++)
    s += part[j];
  return s;
}

static gint64
row_grain (gint64 row_len)
{
  return MAX (1, GRAIN_ELEMENTS / MAX (row_len, 1));
}

/* ---- layernorm ---- */

typedef struct {
  gfloat *y;
  const gfloat *x, *gamma, *beta;
  gint64 C;
  gfloat eps;
} LayerNormJob;

static void
layernorm_rows (gpointer data, gint64 begin, gint64 end, guint thread)
{
  LayerNormJob *job = data;
  gint64 C = job->C;
  for (gint64 r = begin; r < end; r++) {
    const gfloat *x = job->x + r * C;
    gfloat *y = job->y + r * C;
    gfloat mean = sum_f32 (x, C) / (gfloat) C;
    gfloat var = sum_sq_dev (x, C, mean) / (gfloat) C;
    gfloat rstd = 1.0f / sqrtf (var + job->eps);
    const gfloat *g = job->gamma, *b = job->beta;
    if (g && b) {
      for (gint64 i = 0; i < C; i++)
        y[i] = (x[i] - mean) * rstd * g[i] + b[i];
    } else {
      for (gint64 i = 0; i < C; i++)
        y[i] = (x[i] - mean) * rstd * (g ? g[i] : 1.0f) + (b ? b[i] : 0.0f);
    }
  }
}

/**
 * vlm_cpu_layernorm:
 * @device: the CPU device (op lock held)
 * @y: output, may be @x
 * @x: input [..., C]
 * @gamma: (nullable): scale [C]
 * @beta: (nullable): shift [C]
 * @eps: added to the variance
 * @error: return location for a #GError
 *
 * Two-pass layer normalisation of each row, rows split over the pool.
 *
 * Returns: %TRUE.
 */
gboolean
vlm_cpu_layernorm (VlmDevice *device, VlmTensor *y, const VlmTensor *x, const VlmTensor *gamma,
                   const VlmTensor *beta, gfloat eps, GError **error)
{
  LayerNormJob job = {
    .y = vlm_tensor_host_data (y),
    .x = vlm_tensor_host_data (x),
    .gamma = gamma ? vlm_tensor_host_data (gamma) : NULL,
    .beta = beta ? vlm_tensor_host_data (beta) : NULL,
    .C = x->shape[x->ndim - 1],
    .eps = eps,
  };
  vlm_cpu_pool_range (vlm_cpu_device (device)->pool, vlm_tensor_rows (x), row_grain (job.C),
                      layernorm_rows, &job);
  return TRUE;
}

/* ---- softmax ---- */

typedef struct {
  gfloat *y;
  const gfloat *x, *mask;
  gint64 R, C;
  gfloat scale;
  gboolean causal;
  VlmCpuExpFunc exp_sum;
} SoftmaxJob;

static void
softmax_rows (gpointer data, gint64 begin, gint64 end, guint thread)
{
  SoftmaxJob *job = data;
  gint64 C = job->C;
  for (gint64 row = begin; row < end; row++) {
    gint64 r = row % job->R;
    const gfloat *x = job->x + row * C;
    gfloat *y = job->y + row * C;
    const gfloat *mask = job->mask ? job->mask + r * C : NULL;
    /* Columns past `limit` are causally masked. */
    gint64 limit = job->causal ? MIN (C, r + (C - job->R) + 1) : C;
    gfloat mx = -INFINITY;
    for (gint64 c = 0; c < limit; c++) {
      gfloat v = job->scale * x[c] + (mask ? mask[c] : 0.0f);
      y[c] = v;
      mx = v > mx ? v : mx;
    }
    if (mx == -INFINITY) {
      memset (y, 0, C * sizeof (gfloat));
      continue;
    }
    gfloat inv = 1.0f / job->exp_sum (y, y, (gsize) limit, mx);
    for (gint64 c = 0; c < limit; c++)
      y[c] *= inv;
    for (gint64 c = limit; c < C; c++)
      y[c] = 0.0f;
  }
}

/**
 * vlm_cpu_softmax:
 * @device: the CPU device (op lock held)
 * @y: output, may be @x
 * @x: input [..., R, C]
 * @scale: multiplies @x
 * @mask: (nullable): additive mask [R, C]
 * @causal: mask (r, c) when c > r + (C − R)
 * @error: return location for a #GError
 *
 * Row softmax of scale·x + mask with the ISA's vector exp; a row with
 * every entry at −inf gives zeros. Rows split over the pool.
 *
 * Returns: %TRUE.
 */
gboolean
vlm_cpu_softmax (VlmDevice *device, VlmTensor *y, const VlmTensor *x, gfloat scale,
                 const VlmTensor *mask, gboolean causal, GError **error)
{
  SoftmaxJob job = {
    .y = vlm_tensor_host_data (y),
    .x = vlm_tensor_host_data (x),
    .mask = mask ? vlm_tensor_host_data (mask) : NULL,
    .R = x->ndim >= 2 ? x->shape[x->ndim - 2] : 1,
    .C = x->shape[x->ndim - 1],
    .scale = scale,
    .causal = causal,
    .exp_sum = vlm_cpu_device (device)->isa->exp_sum,
  };
  vlm_cpu_pool_range (vlm_cpu_device (device)->pool, vlm_tensor_rows (x), row_grain (job.C),
                      softmax_rows, &job);
  return TRUE;
}

/* ---- unary ---- */

typedef struct {
  gfloat *y;
  const gfloat *x;
  VlmActivation act;
  VlmCpuActivationFunc func;
} UnaryJob;

static void
unary_range (gpointer data, gint64 begin, gint64 end, guint thread)
{
  UnaryJob *job = data;
  if (job->act == VLM_ACT_NONE) {
    if (job->y != job->x)
      memcpy (job->y + begin, job->x + begin, (end - begin) * sizeof (gfloat));
    return;
  }
  job->func (job->y + begin, job->x + begin, (gsize) (end - begin), job->act);
}

/**
 * vlm_cpu_unary:
 * @device: the CPU device (op lock held)
 * @y: output, may be @x
 * @x: input
 * @act: the activation
 * @error: return location for a #GError
 *
 * Elementwise activation with the ISA's vector code, split over the pool.
 *
 * Returns: %TRUE.
 */
gboolean
vlm_cpu_unary (VlmDevice *device, VlmTensor *y, const VlmTensor *x, VlmActivation act,
               GError **error)
{
  VlmCpuDevice *cpu = vlm_cpu_device (device);
  UnaryJob job = {
    .y = vlm_tensor_host_data (y),
    .x = vlm_tensor_host_data (x),
    .act = act,
    .func = cpu->isa->activation,
  };
  vlm_cpu_pool_range (cpu->pool, vlm_tensor_numel (x), GRAIN_ELEMENTS, unary_range, &job);
  return TRUE;
}

/* ---- binary ---- */

typedef struct {
  gfloat *y;
  const gfloat *a, *b;
  VlmBinaryOp op;
  gint64 sy[VLM_MAX_DIMS];
  gint64 stride_a[VLM_MAX_DIMS], stride_b[VLM_MAX_DIMS];  /* 0 on broadcast dims */
} BinaryJob;

static void
binary_inner (gfloat *restrict y, const gfloat *a, gint64 sa, const gfloat *b, gint64 sb,
              gint64 n, VlmBinaryOp op)
{
  /* y may be a or b itself, so no restrict on the inputs. */
  if (op == VLM_BINARY_ADD) {
    if (sa && sb)
      for (gint64 i = 0; i < n; i++) y[i] = a[i] + b[i];
    else if (sa)
      for (gint64 i = 0; i < n; i++) y[i] = a[i] + b[0];
    else if (sb)
      for (gint64 i = 0; i < n; i++) y[i] = a[0] + b[i];
    else
      for (gint64 i = 0; i < n; i++) y[i] = a[0] + b[0];
  } else {
    if (sa && sb)
      for (gint64 i = 0; i < n; i++) y[i] = a[i] * b[i];
    else if (sa)
      for (gint64 i = 0; i < n; i++) y[i] = a[i] * b[0];
    else if (sb)
      for (gint64 i = 0; i < n; i++) y[i] = a[0] * b[i];
    else
      for (gint64 i = 0; i < n; i++) y[i] = a[0] * b[0];
  }
}

/* Rows of y (all dims but the last), general broadcasting. */
static void
binary_rows (gpointer data, gint64 begin, gint64 end, guint thread)
{
  BinaryJob *job = data;
  const gint64 *sy = job->sy;
  gint64 W = sy[3];
  for (gint64 row = begin; row < end; row++) {
    gint64 i2 = row % sy[2], i1 = (row / sy[2]) % sy[1], i0 = row / (sy[2] * sy[1]);
    const gfloat *a = job->a + i0 * job->stride_a[0] + i1 * job->stride_a[1] +
        i2 * job->stride_a[2];
    const gfloat *b = job->b + i0 * job->stride_b[0] + i1 * job->stride_b[1] +
        i2 * job->stride_b[2];
    binary_inner (job->y + row * W, a, job->stride_a[3], b, job->stride_b[3], W, job->op);
  }
}

/* Same shapes: one flat range. */
static void
binary_flat (gpointer data, gint64 begin, gint64 end, guint thread)
{
  BinaryJob *job = data;
  binary_inner (job->y + begin, job->a + begin, 1, job->b + begin, 1, end - begin, job->op);
}

static void
broadcast_strides (const gint64 s[VLM_MAX_DIMS], gint64 stride[VLM_MAX_DIMS])
{
  gint64 st = 1;
  for (gint d = VLM_MAX_DIMS - 1; d >= 0; d--) {
    stride[d] = s[d] == 1 ? 0 : st;
    st *= s[d];
  }
}

/**
 * vlm_cpu_binary:
 * @device: the CPU device (op lock held)
 * @y: output (the broadcast shape)
 * @a: first operand
 * @b: second operand
 * @op: add or multiply
 * @error: return location for a #GError
 *
 * Elementwise a op b with numpy broadcasting over 4 dimensions; equal
 * shapes run as one flat loop, others row by row with the operands'
 * broadcast strides (a row-broadcast bias is the plain inner loop).
 *
 * Returns: %TRUE.
 */
gboolean
vlm_cpu_binary (VlmDevice *device, VlmTensor *y, const VlmTensor *a, const VlmTensor *b,
                VlmBinaryOp op, GError **error)
{
  VlmCpuPool *pool = vlm_cpu_device (device)->pool;
  gint64 sa[VLM_MAX_DIMS], sb[VLM_MAX_DIMS];
  BinaryJob job = {
    .y = vlm_tensor_host_data (y),
    .a = vlm_tensor_host_data (a),
    .b = vlm_tensor_host_data (b),
    .op = op,
  };
  vlm_tensor_broadcast_shape (y, job.sy);
  vlm_tensor_broadcast_shape (a, sa);
  vlm_tensor_broadcast_shape (b, sb);
  gint64 n = vlm_tensor_numel (y);
  if (vlm_tensor_numel (a) == n && vlm_tensor_numel (b) == n) {
    vlm_cpu_pool_range (pool, n, GRAIN_ELEMENTS, binary_flat, &job);
    return TRUE;
  }
  broadcast_strides (sa, job.stride_a);
  broadcast_strides (sb, job.stride_b);
  gint64 W = job.sy[3];
  vlm_cpu_pool_range (pool, n / W, row_grain (W), binary_rows, &job);
  return TRUE;
}
