/* gst-vlm engine — CPU backend: patchify, gather_rows and topk.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "vlm-cpu.h"

/* ---- patchify ---- */

typedef struct {
  gfloat *patches;
  const gfloat *image;
  gint64 C, H, W;
  gint p;
  gint64 nh, nw;           /* patches per column, per row */
} PatchJob;

/* One item is one row of patches of one image. */
static void
patchify_rows (gpointer data, gint64 begin, gint64 end, guint thread)
{
  PatchJob *job = data;
  gint p = job->p;
  gint64 C = job->C, H = job->H, W = job->W, inner = C * p * p;
  for (gint64 item = begin; item < end; item++) {
    gint64 b = item / job->nh, py = item % job->nh;
    const gfloat *img = job->image + b * C * H * W;
    for (gint64 px = 0; px < job->nw; px++) {
      gfloat *dst = job->patches + ((b * job->nh + py) * job->nw + px) * inner;
      for (gint64 c = 0; c < C; c++)
        for (gint ky = 0; ky < p; ky++) {
          const gfloat *src = img + (c * H + py * p + ky) * W + px * p;
          memcpy (dst + (c * p + ky) * p, src, p * sizeof (gfloat));
        }
    }
  }
}

/**
 * vlm_cpu_patchify:
 * @device: the CPU device (op lock held)
 * @patches: output [B, (H/p)·(W/p), C·p·p]
 * @image: input [B, C, H, W]
 * @patch: patch side p
 * @error: return location for a #GError
 *
 * Cuts images into p×p patches flattened in (c, ky, kx) order.
 *
 * Returns: %TRUE.
 */
gboolean
vlm_cpu_patchify (VlmDevice *device, VlmTensor *patches, const VlmTensor *image, gint patch,
                  GError **error)
{
  PatchJob job = {
    .patches = vlm_tensor_host_data (patches),
    .image = vlm_tensor_host_data (image),
    .C = image->shape[1],
    .H = image->shape[2],
    .W = image->shape[3],
    .p = patch,
  };
  job.nh = job.H / patch;
  job.nw = job.W / patch;
  vlm_cpu_pool_range (vlm_cpu_device (device)->pool, image->shape[0] * job.nh, 1,
                      patchify_rows, &job);
  return TRUE;
}

/* ---- gather_rows ---- */

typedef struct {
  gfloat *y;
  gconstpointer table;
  const gint32 *ids;
  gint64 V, D;
  gboolean f16;
  VlmCpuHalfFunc half_to_float;
} GatherJob;

static void
gather_range (gpointer data, gint64 begin, gint64 end, guint thread)
{
  GatherJob *job = data;
  gint64 D = job->D;
  for (gint64 i = begin; i < end; i++) {
    gfloat *dst = job->y + i * D;
    gint64 id = job->ids[i];
    if (id < 0 || id >= job->V)
      memset (dst, 0, D * sizeof (gfloat));
    else if (job->f16)
      job->half_to_float (dst, (const guint16 *) job->table + id * D, (gsize) D);
    else
      memcpy (dst, (const gfloat *) job->table + id * D, D * sizeof (gfloat));
  }
}

/**
 * vlm_cpu_gather_rows:
 * @device: the CPU device (op lock held)
 * @y: output, one row of D per id
 * @table: [V, D], f32 or f16
 * @ids: row indices (I32)
 * @error: return location for a #GError
 *
 * Embedding lookup; an id outside [0, V) gives a row of zeros.
 *
 * Returns: %TRUE.
 */
gboolean
vlm_cpu_gather_rows (VlmDevice *device, VlmTensor *y, const VlmTensor *table,
                     const VlmTensor *ids, GError **error)
{
  VlmCpuDevice *cpu = vlm_cpu_device (device);
  GatherJob job = {
    .y = vlm_tensor_host_data (y),
    .table = vlm_tensor_host_data (table),
    .ids = vlm_tensor_host_data (ids),
    .V = table->shape[0],
    .D = table->shape[1],
    .f16 = table->dtype == VLM_DTYPE_F16,
    .half_to_float = cpu->isa->half_to_float,
  };
  vlm_cpu_pool_range (cpu->pool, vlm_tensor_numel (ids), MAX (1, 16384 / job.D), gather_range,
                      &job);
  return TRUE;
}

/* ---- topk ---- */

typedef struct {
  gfloat *values;
  gint32 *indices;
  const gfloat *x;
  gint64 N;
  gint k;
} TopkJob;

/* Whether value a ranks before value b found earlier in the row (so ties
 * keep the lower index first); NaN ranks below every number. */
static inline gboolean
ranks_before (gfloat a, gfloat b)
{
  if (isnan (a))
    return FALSE;
  return isnan (b) || a > b;
}

static void
topk_rows (gpointer data, gint64 begin, gint64 end, guint thread)
{
  TopkJob *job = data;
  gint k = job->k;
  for (gint64 row = begin; row < end; row++) {
    const gfloat *x = job->x + row * job->N;
    gfloat *val = job->values + row * k;
    gint32 *idx = job->indices + row * k;
    gint n = 0;
    /* val/idx hold the best n so far, best first; insertion keeps them
     * sorted, and a later element only passes strictly worse ones. */
    for (gint64 i = 0; i < job->N; i++) {
      gfloat v = x[i];
      if (n == k && !ranks_before (v, val[k - 1]))
        continue;
      gint pos = n < k ? n : k - 1;
      while (pos > 0 && ranks_before (v, val[pos - 1])) {
        val[pos] = val[pos - 1];
        idx[pos] = idx[pos - 1];
        pos--;
      }
      val[pos] = v;
      idx[pos] = (gint32) i;
      if (n < k)
        n++;
    }
  }
}

/**
 * vlm_cpu_topk:
 * @device: the CPU device (op lock held)
 * @values: output [..., k]
 * @indices: output [..., k]
 * @x: input [..., N]
 * @k: how many per row
 * @error: return location for a #GError
 *
 * The k largest entries of each row, largest first, ties by lower index,
 * NaN below every number; one pass with a sorted insertion list per row.
 *
 * Returns: %TRUE.
 */
gboolean
vlm_cpu_topk (VlmDevice *device, VlmTensor *values, VlmTensor *indices, const VlmTensor *x,
              gint k, GError **error)
{
  TopkJob job = {
    .values = vlm_tensor_host_data (values),
    .indices = vlm_tensor_host_data (indices),
    .x = vlm_tensor_host_data (x),
    .N = x->shape[x->ndim - 1],
    .k = k,
  };
  vlm_cpu_pool_range (vlm_cpu_device (device)->pool, vlm_tensor_rows (x),
                      MAX (1, 16384 / job.N), topk_rows, &job);
  return TRUE;
}
