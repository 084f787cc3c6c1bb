/* gst-vlm engine — Vulkan elementwise activations (shaders/unary.comp).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "vlm-vulkan.h"

#define UNARY_LOCAL_SIZE 256u

/**
 * vlm_vk_unary:
 * @device: a Vulkan device
 * @y: output, F32, as many elements as @x; may be @x
 * @x: input, F32
 * @act: the activation (the shader's specialization constant 1)
 * @error: return location for a #GError
 *
 * Records y = act(x). The workgroup count is capped at the device's limit
 * along x; the shader's grid-stride loop covers the rest.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_unary (VlmDevice *device, VlmTensor *y, const VlmTensor *x, VlmActivation act,
              GError **error)
{
  const VlmVkLimits *limits = vlm_vk_limits (device);
  gint64 n = vlm_tensor_numel (x);
  if (n > G_MAXUINT32) {
    g_autofree gchar *s = vlm_tensor_shape_string (x);
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "unary on %s: more than 2^32 − 1 elements", s);
    return FALSE;
  }
  guint32 local = MIN (UNARY_LOCAL_SIZE, limits->max_workgroup_invocations);
  guint32 spec[2] = { local, (guint32) act };
  guint64 groups = ((guint64) n + local - 1) / local;
  VlmVkBinding bindings[2] = { { x, FALSE }, { y, TRUE } };
  guint32 push = (guint32) n;
  return vlm_vk_dispatch (device, "unary", spec, G_N_ELEMENTS (spec), bindings,
                          G_N_ELEMENTS (bindings), &push, sizeof (push),
                          (guint32) MIN (groups, limits->max_groups[0]), 1, 1, error);
}
