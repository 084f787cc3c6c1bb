/* gst-vlm engine — Vulkan softmax with scale, additive and causal masks
 * (shaders/softmax.comp).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "op-grid.h"

/* Matches the push block of softmax.comp after the three offsets. */
typedef struct {
  guint32 rows;
  guint32 R;
  guint32 C;
  gfloat scale;
  guint32 has_mask;
  guint32 causal;
} SoftmaxPush;

/**
 * vlm_vk_softmax:
 * @device: a Vulkan device
 * @y: output, F32, shape of @x; may be @x
 * @x: input, F32 [..., R, C]
 * @scale: multiplies @x before the mask is added
 * @mask: (nullable): F32 [R, C], broadcast over the leading dimensions
 * @causal: mask (r, c) when c > r + (C − R)
 * @error: return location for a #GError
 *
 * Records a softmax over the last dimension of @x; fully masked rows give
 * zeros.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_softmax (VlmDevice *device, VlmTensor *y, const VlmTensor *x, gfloat scale,
                const VlmTensor *mask, gboolean causal, GError **error)
{
  if (!vlm_vk_check_count ("softmax", "x", (guint64) vlm_tensor_numel (x), error))
    return FALSE;
  guint64 rows = (guint64) vlm_tensor_rows (x);
  guint64 C = (guint64) x->shape[x->ndim - 1];
  SoftmaxPush push = {
    .rows = (guint32) rows,
    .R = (guint32) (x->ndim >= 2 ? x->shape[x->ndim - 2] : 1),
    .C = (guint32) C,
    .scale = scale,
    .has_mask = mask != NULL,
    .causal = causal != FALSE,
  };
  /* Without a mask, x stands in for it; the shader ignores it. */
  const VlmVkBinding bindings[] = {
    { x, FALSE },
    { mask ? mask : x, FALSE },
    { y, TRUE },
  };
  const guint32 spec[] = { vlm_vk_row_workgroup_size (device, C) };
  guint32 gx, gy;
  vlm_vk_grid (device, rows, &gx, &gy);
  return vlm_vk_dispatch (device, "softmax", spec, G_N_ELEMENTS (spec), bindings,
                          G_N_ELEMENTS (bindings), &push, sizeof push, gx, gy, 1, error);
}
