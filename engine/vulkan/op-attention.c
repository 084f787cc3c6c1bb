/* gst-vlm engine — Vulkan multi-head attention (shaders/attention.comp).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "op-grid.h"

#define ATTENTION_WG 64
/* Largest query block and key chunk per workgroup. */
#define ATTENTION_MAX_QB 16
#define ATTENTION_MAX_CH 32

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

/* Shared memory attention.comp needs: q block, k and v chunks (vec4 rows
 * of @dv), scores, and three floats per query row. */
static guint64
attention_shared (guint qb, guint ch, guint dv)
{
  return 16 * ((guint64) qb * dv + 2 * (guint64) ch * dv) + 4 * ((guint64) qb * ch + 3 * qb);
}

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
 * head, block of up to 16 query rows), keys in chunks with an online softmax.
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

  /* Query blocks no taller than the queries (decoding has one), key chunks
   * shrunk first, then blocks, until they fit the shared memory. */
  guint32 dv = (guint32) ((D + 3) / 4);
  guint32 qb = 1, ch = ATTENTION_MAX_CH;
  while (qb < ATTENTION_MAX_QB && qb < Sq)
    qb *= 2;
  guint64 limit = vlm_vk_limits (device)->shared_memory;
  while (attention_shared (qb, ch, dv) > limit && (ch > 8 || qb > 1)) {
    if (ch > 8)
      ch /= 2;
    else
      qb /= 2;
  }
  if (attention_shared (qb, ch, dv) > limit) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "attention: head size %" G_GUINT64_FORMAT " needs %" G_GUINT64_FORMAT
                 " bytes of shared memory, %s has %" G_GUINT64_FORMAT, D,
                 attention_shared (qb, ch, dv), device->name, limit);
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
  guint32 opt = (qb * dv + ATTENTION_WG - 1) / ATTENTION_WG;
  const guint32 spec[] = { ATTENTION_WG, qb, ch, dv, opt };
  guint32 gx, gy;
  vlm_vk_grid (device, B * H * ((Sq + qb - 1) / qb), &gx, &gy);
  return vlm_vk_dispatch (device, "attention", spec, G_N_ELEMENTS (spec), bindings,
                          G_N_ELEMENTS (bindings), &push, sizeof push, gx, gy, 1, error);
}
