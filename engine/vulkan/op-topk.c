/* gst-vlm engine — Vulkan top-k / argmax over the last axis
 * (shaders/topk.comp).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "op-grid.h"

/* Matches the push block of topk.comp after the three offsets. */
typedef struct {
  guint32 rows;
  guint32 N;
  guint32 k;
} TopkPush;

/**
 * vlm_vk_topk:
 * @device: a Vulkan device
 * @values: output, F32 [..., k]
 * @indices: output, I32 [..., k]
 * @x: input, F32 [..., N]
 * @k: how many, 1 ≤ k ≤ min(N, 256)
 * @error: return location for a #GError
 *
 * Records the selection of the k largest entries of every row, largest
 * first, equal values by lower index, NaN below every number.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_topk (VlmDevice *device, VlmTensor *values, VlmTensor *indices, const VlmTensor *x,
             gint k, GError **error)
{
  if (!vlm_vk_check_count ("topk", "x", (guint64) vlm_tensor_numel (x), error))
    return FALSE;
  guint64 rows = (guint64) vlm_tensor_rows (x);
  guint64 N = (guint64) x->shape[x->ndim - 1];
  TopkPush push = {
    .rows = (guint32) rows,
    .N = (guint32) N,
    .k = (guint32) k,
  };
  const VlmVkBinding bindings[] = {
    { x, FALSE },
    { values, TRUE },
    { indices, TRUE },
  };
  const guint32 spec[] = { vlm_vk_row_workgroup_size (device, N) };
  guint32 gx, gy;
  vlm_vk_grid (device, rows, &gx, &gy);
  return vlm_vk_dispatch (device, "topk", spec, G_N_ELEMENTS (spec), bindings,
                          G_N_ELEMENTS (bindings), &push, sizeof push, gx, gy, 1, error);
}
