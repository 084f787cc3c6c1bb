/* gst-vlm engine — Vulkan row gather / embedding lookup
 * (shaders/gather_rows.comp, f32 and f16 tables).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "op-grid.h"

#define GATHER_WG 256

/* Matches the push block of gather_rows.comp after the three offsets. */
typedef struct {
  guint32 n;
  guint32 V;
  guint32 D;
} GatherPush;

/**
 * vlm_vk_gather_rows:
 * @device: a Vulkan device
 * @y: output, F32, one row of D per id
 * @table: F32 or F16 [V, D]
 * @ids: I32 row indices
 * @error: return location for a #GError
 *
 * Records y[i] = table[ids[i]], a row of zeros for an id outside [0, V).
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_gather_rows (VlmDevice *device, VlmTensor *y, const VlmTensor *table,
                    const VlmTensor *ids, GError **error)
{
  guint64 n = (guint64) vlm_tensor_numel (y);
  if (!vlm_vk_check_count ("gather_rows", "y", n, error) ||
      !vlm_vk_check_count ("gather_rows", "table", (guint64) vlm_tensor_numel (table), error))
    return FALSE;
  GatherPush push = {
    .n = (guint32) n,
    .V = (guint32) table->shape[0],
    .D = (guint32) table->shape[1],
  };
  const VlmVkBinding bindings[] = {
    { table, FALSE },
    { ids, FALSE },
    { y, TRUE },
  };
  const guint32 spec[] = { GATHER_WG };
  guint32 gx, gy;
  vlm_vk_grid_elements (device, n, GATHER_WG, &gx, &gy);
  const gchar *shader = table->dtype == VLM_DTYPE_F16 ? "gather_rows_f16" : "gather_rows_f32";
  return vlm_vk_dispatch (device, shader, spec, G_N_ELEMENTS (spec), bindings,
                          G_N_ELEMENTS (bindings), &push, sizeof push, gx, gy, 1, error);
}
