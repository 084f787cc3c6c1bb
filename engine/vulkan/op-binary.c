/* gst-vlm engine — Vulkan elementwise add/mul with broadcasting
 * (shaders/binary.comp).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "op-grid.h"

#define BINARY_WG 256

/* Matches the push block of binary.comp after the three offsets. */
typedef struct {
  guint32 n;
  guint32 op;
  guint32 d1, d2, d3;
  guint32 a_stride[4];
  guint32 b_stride[4];
} BinaryPush;

/* Element strides of a contiguous tensor of padded shape @shape, 0 along its
 * broadcast (size-1) dimensions. */
static void
broadcast_strides (const gint64 shape[VLM_MAX_DIMS], guint32 stride[VLM_MAX_DIMS])
{
  guint64 s = 1;
  for (gint i = VLM_MAX_DIMS - 1; i >= 0; i--) {
    stride[i] = shape[i] == 1 ? 0 : (guint32) s;
    s *= (guint64) shape[i];
  }
}

/**
 * vlm_vk_binary:
 * @device: a Vulkan device
 * @y: output, F32, the broadcast shape of @a and @b
 * @a: first operand, F32
 * @b: second operand, F32
 * @op: add or mul
 * @error: return location for a #GError
 *
 * Records y = a op b with numpy-style broadcasting (see vlm_op_binary()).
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_binary (VlmDevice *device, VlmTensor *y, const VlmTensor *a, const VlmTensor *b,
               VlmBinaryOp op, GError **error)
{
  guint64 n = (guint64) vlm_tensor_numel (y);
  if (!vlm_vk_check_count ("binary", "y", n, error))
    return FALSE;

  gint64 sa[VLM_MAX_DIMS], sb[VLM_MAX_DIMS], sy[VLM_MAX_DIMS];
  vlm_tensor_broadcast_shape (a, sa);
  vlm_tensor_broadcast_shape (b, sb);
  vlm_tensor_broadcast_shape (y, sy);

  BinaryPush push = {
    .n = (guint32) n,
    .op = op == VLM_BINARY_MUL ? 1 : 0,
    .d1 = (guint32) sy[1],
    .d2 = (guint32) sy[2],
    .d3 = (guint32) sy[3],
  };
  broadcast_strides (sa, push.a_stride);
  broadcast_strides (sb, push.b_stride);

  const VlmVkBinding bindings[] = {
    { a, FALSE },
    { b, FALSE },
    { y, TRUE },
  };
  const guint32 spec[] = { BINARY_WG };
  guint32 gx, gy;
  vlm_vk_grid_elements (device, n, BINARY_WG, &gx, &gy);
  return vlm_vk_dispatch (device, "binary", spec, G_N_ELEMENTS (spec), bindings,
                          G_N_ELEMENTS (bindings), &push, sizeof push, gx, gy, 1, error);
}
