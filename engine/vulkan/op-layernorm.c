/* gst-vlm engine — Vulkan layer normalisation (shaders/layernorm.comp).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "op-grid.h"

/* Matches the push block of layernorm.comp after the four offsets. */
typedef struct {
  guint32 rows;
  guint32 cols;
  gfloat eps;
  guint32 has_gamma;
  guint32 has_beta;
} LayernormPush;

/**
 * vlm_vk_layernorm:
 * @device: a Vulkan device
 * @y: output, F32, shape of @x; may be @x
 * @x: input, F32 [..., C]
 * @gamma: (nullable): F32 [C]
 * @beta: (nullable): F32 [C]
 * @eps: added to the variance
 * @error: return location for a #GError
 *
 * Records a two-pass layer normalisation of every row of @x.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_layernorm (VlmDevice *device, VlmTensor *y, const VlmTensor *x, const VlmTensor *gamma,
                  const VlmTensor *beta, gfloat eps, GError **error)
{
  if (!vlm_vk_check_count ("layernorm", "x", (guint64) vlm_tensor_numel (x), error))
    return FALSE;
  guint64 rows = (guint64) vlm_tensor_rows (x);
  guint64 cols = (guint64) x->shape[x->ndim - 1];
  LayernormPush push = {
    .rows = (guint32) rows,
    .cols = (guint32) cols,
    .eps = eps,
    .has_gamma = gamma != NULL,
    .has_beta = beta != NULL,
  };
  /* An absent gamma or beta binds x in its place; the shader ignores it. */
  const VlmVkBinding bindings[] = {
    { x, FALSE },
    { gamma ? gamma : x, FALSE },
    { beta ? beta : x, FALSE },
    { y, TRUE },
  };
  const guint32 spec[] = { vlm_vk_row_workgroup_size (device, cols) };
  guint32 gx, gy;
  vlm_vk_grid (device, rows, &gx, &gy);
  return vlm_vk_dispatch (device, "layernorm", spec, G_N_ELEMENTS (spec), bindings,
                          G_N_ELEMENTS (bindings), &push, sizeof push, gx, gy, 1, error);
}
