/* gst-vlm engine — CPU backend: multi-head scaled-dot-product attention.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A task is one (batch, head, block of query rows). It copies the head's keys
 * transposed ([D][kv_len]) into per-thread scratch, then for each query row:
 * scores over the visible keys (an axpy per head dimension, so the inner loop
 * runs along contiguous keys), softmax, and the weighted sum of value rows
 * (an axpy per key along contiguous head dimensions). Only one row of scores
 * exists per thread at a time.
 */
#include <string.h>

#include "vlm-cpu.h"

/* Query rows per task: enough to amortise the key transpose. */
#define ROW_BLOCK 16

typedef struct {
  gfloat *out;
  const gfloat *q, *k, *v;
  gint64 B, Sq, Skv, C, D;
  gint H;
  VlmAttentionParams p;
  gint64 n_blocks;         /* row blocks per (batch, head) */
  gpointer *scratch;
} AttentionJob;

static void
attention_task (gpointer data, gint task, guint thread)
{
  AttentionJob *job = data;
  gint64 C = job->C, D = job->D, kv = job->p.kv_len;
  gint64 blk = task % job->n_blocks;
  gint64 h = (task / job->n_blocks) % job->H;
  gint64 b = task / (job->n_blocks * job->H);
  gint64 i0 = blk * ROW_BLOCK, i1 = MIN (job->Sq, i0 + ROW_BLOCK);

  gfloat *kt = job->scratch[thread];           /* [D][kv] */
  gfloat *s = kt + D * kv;                     /* [kv] */
  gfloat *o = s + kv;                          /* [D] */

  const gfloat *kh = job->k + b * job->Skv * C + h * D;
  const gfloat *vh = job->v + b * job->Skv * C + h * D;
  for (gint64 j = 0; j < kv; j++)
    for (gint64 d = 0; d < D; d++)
      kt[d * kv + j] = kh[j * C + d];

  for (gint64 i = i0; i < i1; i++) {
    const gfloat *qi = job->q + (b * job->Sq + i) * C + h * D;
    gint64 visible = kv;
    if (job->p.causal) {
      gint64 pos = job->p.q_offset + i;
      visible = MIN (kv, MAX (pos + 1, (gint64) job->p.n_prefix));
    }

    memset (s, 0, visible * sizeof (gfloat));
    for (gint64 d = 0; d < D; d++) {
      gfloat qd = qi[d] * job->p.scale;
      const gfloat *restrict kd = kt + d * kv;
      gfloat *restrict sr = s;
      for (gint64 j = 0; j < visible; j++)
        sr[j] += qd * kd[j];
    }

    gfloat mx = -INFINITY;
    for (gint64 j = 0; j < visible; j++)
      mx = s[j] > mx ? s[j] : mx;
    gfloat sum = 0.0f;
    for (gint64 j = 0; j < visible; j++) {
      s[j] = expf (s[j] - mx);
      sum += s[j];
    }

    memset (o, 0, D * sizeof (gfloat));
    for (gint64 j = 0; j < visible; j++) {
      gfloat pj = s[j];
      const gfloat *restrict vj = vh + j * C;
      gfloat *restrict orow = o;
      for (gint64 d = 0; d < D; d++)
        orow[d] += pj * vj[d];
    }
    gfloat inv = 1.0f / sum;
    gfloat *dst = job->out + (b * job->Sq + i) * C + h * D;
    for (gint64 d = 0; d < D; d++)
      dst[d] = o[d] * inv;
  }
}

/**
 * vlm_cpu_attention:
 * @device: the CPU device (op lock held)
 * @out: output [B, Sq, H·D]
 * @q: queries [B, Sq, H·D]
 * @k: keys [B, Skv, H·D]
 * @v: values [B, Skv, H·D]
 * @params: resolved parameters (scale and kv_len set)
 * @error: return location for a #GError
 *
 * Fused attention: per (batch, head, row block) one task; with causal, query
 * i sees keys j ≤ q_offset + i and j < n_prefix.
 *
 * Returns: %TRUE on success; %FALSE when scratch memory ran out.
 */
gboolean
vlm_cpu_attention (VlmDevice *device, VlmTensor *out, const VlmTensor *q, const VlmTensor *k,
                   const VlmTensor *v, const VlmAttentionParams *params, GError **error)
{
  AttentionJob job = {
    .out = vlm_tensor_host_data (out),
    .q = vlm_tensor_host_data (q),
    .k = vlm_tensor_host_data (k),
    .v = vlm_tensor_host_data (v),
    .B = q->shape[0],
    .Sq = q->shape[1],
    .Skv = k->shape[1],
    .C = q->shape[2],
    .H = params->n_heads,
    .p = *params,
  };
  job.D = job.C / job.H;
  job.n_blocks = (job.Sq + ROW_BLOCK - 1) / ROW_BLOCK;
  gint64 kv = params->kv_len;
  job.scratch = vlm_cpu_scratch (device, (gsize) (job.D * kv + kv + job.D) * sizeof (gfloat),
                                 error);
  if (!job.scratch)
    return FALSE;
  gint64 n_tasks = job.B * job.H * job.n_blocks;
  if (n_tasks > G_MAXINT) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "attention: %" G_GINT64_FORMAT " batches × heads × row blocks is too many",
                 n_tasks);
    return FALSE;
  }
  vlm_cpu_pool_run (vlm_cpu_device (device)->pool, (gint) n_tasks, attention_task, &job);
  return TRUE;
}
