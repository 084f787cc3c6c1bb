/* gst-vlm engine — workgroup-grid helpers shared by the Vulkan op files.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Private to engine/vulkan/op-*.c. Shaders index with 32-bit uints and walk
 * their work with grid-stride loops (an element loop over vlm_flat_id() /
 * vlm_flat_count(), or a row loop over the flat workgroup index), so any
 * grid covers any amount of work; these helpers keep grids within the
 * device's per-dimension workgroup-count limits and counts within what 32-bit
 * indices can address.
 */
#pragma once

#include "vlm-vulkan.h"

/* Largest element count a shader loop may walk: the loop index plus the grid
 * size must stay below 2^32. */
#define VLM_VK_MAX_ELEMENTS (G_GUINT64_CONSTANT (1) << 30)

/* Fails with an error naming @op and @what when @count elements cannot be
 * indexed by the shaders. */
static inline gboolean
vlm_vk_check_count (const gchar *op, const gchar *what, guint64 count, GError **error)
{
  if (count <= VLM_VK_MAX_ELEMENTS)
    return TRUE;
  g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
               "%s: %s has %" G_GUINT64_FORMAT " elements, more than the Vulkan backend's "
               "limit of %" G_GUINT64_FORMAT, op, what, count, VLM_VK_MAX_ELEMENTS);
  return FALSE;
}

/* Spreads @n_groups workgroups (at least one) over x and y within the device
 * limits. The grid may hold a few more groups than asked for, or fewer when
 * the limits are reached: shaders loop until their work is done. */
static inline void
vlm_vk_grid (VlmDevice *device, guint64 n_groups, guint32 *gx, guint32 *gy)
{
  const VlmVkLimits *lim = vlm_vk_limits (device);
  guint64 max_x = MAX (lim->max_groups[0], 1), max_y = MAX (lim->max_groups[1], 1);
  guint64 x = CLAMP (n_groups, 1, max_x);
  guint64 y = MIN ((n_groups + x - 1) / x, max_y);
  *gx = (guint32) x;
  *gy = (guint32) MAX (y, 1);
}

/* Grid for an element loop of @n elements with @wg invocations per group. */
static inline void
vlm_vk_grid_elements (VlmDevice *device, guint64 n, guint wg, guint32 *gx, guint32 *gy)
{
  vlm_vk_grid (device, (n + wg - 1) / wg, gx, gy);
}

/* Workgroup size for the shaders that reduce one row per workgroup
 * (layernorm, softmax, topk): a power of two from 32 to 256 giving each
 * invocation about four elements of a @cols-long row, within the device's
 * invocation limit. */
static inline guint
vlm_vk_row_workgroup_size (VlmDevice *device, guint64 cols)
{
  guint max = MIN (256, vlm_vk_limits (device)->max_workgroup_invocations);
  guint wg = 32;
  while (wg * 2 <= max && (guint64) wg * 4 < cols)
    wg *= 2;
  return wg;
}
