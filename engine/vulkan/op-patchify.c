/* gst-vlm engine — Vulkan patch extraction (shaders/patchify.comp).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "op-grid.h"

#define PATCHIFY_WG 256

/* Matches the push block of patchify.comp after the two offsets. */
typedef struct {
  guint32 n;
  guint32 C, H, W;
  guint32 p;
  guint32 pw;
  guint32 n_patches;
} PatchifyPush;

/**
 * vlm_vk_patchify:
 * @device: a Vulkan device
 * @patches: output, F32 [B, (H/p)·(W/p), C·p·p]
 * @image: input, F32 [B, C, H, W]
 * @patch: patch side p
 * @error: return location for a #GError
 *
 * Records the cutting of @image into flattened p×p patches in (channel, row,
 * column) order, patches in row-major order.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_patchify (VlmDevice *device, VlmTensor *patches, const VlmTensor *image, gint patch,
                 GError **error)
{
  guint64 n = (guint64) vlm_tensor_numel (patches);
  if (!vlm_vk_check_count ("patchify", "patches", n, error) ||
      !vlm_vk_check_count ("patchify", "image", (guint64) vlm_tensor_numel (image), error))
    return FALSE;
  PatchifyPush push = {
    .n = (guint32) n,
    .C = (guint32) image->shape[1],
    .H = (guint32) image->shape[2],
    .W = (guint32) image->shape[3],
    .p = (guint32) patch,
    .pw = (guint32) (image->shape[3] / patch),
    .n_patches = (guint32) patches->shape[1],
  };
  const VlmVkBinding bindings[] = {
    { image, FALSE },
    { patches, TRUE },
  };
  const guint32 spec[] = { PATCHIFY_WG };
  guint32 gx, gy;
  vlm_vk_grid_elements (device, n, PATCHIFY_WG, &gx, &gy);
  return vlm_vk_dispatch (device, "patchify", spec, G_N_ELEMENTS (spec), bindings,
                          G_N_ELEMENTS (bindings), &push, sizeof push, gx, gy, 1, error);
}
