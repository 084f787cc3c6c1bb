/* gst-vlm engine — Vulkan multi-head attention (shaders/attention.comp).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "op-grid.h"

/* Invocations per workgroup, and keys per chunk of the online softmax. */
#define ATTENTION_WG 64

/* Matches the push block of attention.comp after the four offsets. */
typedef struct {
  guint32 B;
  guint32 Sq;
  guint32 Skv;
  guint32 H;
  guint32 D;
  guint32 kv_len;
  guint32 causal;
  guint32 n_prefix;
  guint32 q_offset;
  gfloat scale;
} AttentionPush;

/**
 * vlm_vk_attention:
 * @device: a Vulkan device
 * @out: output, F32 [B, Sq, H·D]
 * @q: queries, F32 [B, Sq, H·D]
 * @k: keys, F32 [B, Skv, H·D]
 * @v: values, F32 [B, Skv, H·D]
 * @params: heads, resolved scale and kv_len, causal masking
 * @error: return location for a #GError
 *
 * Records multi-head attention in one dispatch, one workgroup per (batch,
 * head, query row).
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_attention (VlmDevice *device, VlmTensor *out, const VlmTensor *q, const VlmTensor *k,
                  const VlmTensor *v, const VlmAttentionParams *params, GError **error)
{
  if (!vlm_vk_check_count ("attention", "q", (guint64) vlm_tensor_numel (q), error) ||
      !vlm_vk_check_count ("attention", "k", (guint64) vlm_tensor_numel (k), error))
    return FALSE;
  guint64 B = (guint64) q->shape[0], Sq = (guint64) q->shape[1];
  guint64 H = (guint64) params->n_heads, D = (guint64) q->shape[2] / H;

  guint32 dpt = (guint32) ((D + ATTENTION_WG - 1) / ATTENTION_WG);
  guint64 shared = ((guint64) ATTENTION_WG * dpt + 2 * ATTENTION_WG) * sizeof (gfloat);
  if (shared > vlm_vk_limits (device)->shared_memory) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "attention: head size %" G_GUINT64_FORMAT " needs %" G_GUINT64_FORMAT
                 " bytes of shared memory, %s has %" G_GUINT64_FORMAT, D, shared,
                 device->name, vlm_vk_limits (device)->shared_memory);
    return FALSE;
  }

  AttentionPush push = {
    .B = (guint32) B,
    .Sq = (guint32) Sq,
    .Skv = (guint32) k->shape[1],
    .H = (guint32) H,
    .D = (guint32) D,
    .kv_len = (guint32) params->kv_len,
    .causal = params->causal != FALSE,
    .n_prefix = (guint32) params->n_prefix,
    .q_offset = (guint32) params->q_offset,
    .scale = params->scale,
  };
  const VlmVkBinding bindings[] = {
    { q, FALSE },
    { k, FALSE },
    { v, FALSE },
    { out, TRUE },
  };
  const guint32 spec[] = { ATTENTION_WG, dpt };
  guint32 gx, gy;
  vlm_vk_grid (device, B * H * Sq, &gx, &gy);
  return vlm_vk_dispatch (device, "attention", spec, G_N_ELEMENTS (spec), bindings,
                          G_N_ELEMENTS (bindings), &push, sizeof push, gx, gy, 1, error);
}
