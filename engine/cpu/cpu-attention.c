/* gst-vlm engine — CPU backend: multi-head scaled-dot-product attention.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Built on the matmul micro-kernels. A task is one (batch, head, chunk of
 * query rows). It packs the head's keys as weight panels ([D][NR] per NR
 * keys) and its values likewise ([kv][NR] per NR head dimensions), then
 * walks its rows in tiles of at most MR:
 *   1. S = (scale·Q_tile)·Kᵀ with the GEMM kernel (Q packed [D][rows]);
 *   2. per row, softmax over the visible keys with the ISA's vector exp,
 *      written already normalised and transposed ([kv][rows]) as the x
 *      operand of step 3, masked keys as 0;
 *   3. out rows = P·V with the GEMM kernel, straight into the output.
 * So only one tile of scores (MR × kv) exists per thread at a time.
 */
#include <string.h>

#include "vlm-cpu.h"

/* Keys transposed per call of the ISA's row packing (the AVX-512 one takes
 * up to 16 rows; the others any number). */
#define KEY_GROUP 16

typedef struct {
  const VlmCpuIsa *isa;
  gfloat *out;
  const gfloat *q, *k, *v;
  gint64 Sq, Skv, C, D, kv;
  gint H;
  VlmAttentionParams p;
  gint64 n_row_chunks;
  gint64 n_tiles;          /* row tiles over Sq */
  gint64 k_panels, d_panels;
  gpointer *scratch;
} AttentionJob;

/* Floats of per-thread scratch the job needs. */
static gsize
scratch_floats (const AttentionJob *job)
{
  gint nr = job->isa->nr, mr = job->isa->mr;
  return (gsize) job->k_panels * nr * job->D      /* keys, packed */
      + (gsize) job->d_panels * nr * job->kv      /* values, packed */
      + (gsize) job->D * mr                       /* a tile of queries */
      + (gsize) mr * job->k_panels * nr           /* a tile of scores */
      + (gsize) job->kv * mr                      /* probabilities, packed */
      + (gsize) KEY_GROUP * job->D;               /* a group of keys, transposed */
}

static inline gint64
tile_row (const AttentionJob *job, gint64 tile)
{
  return job->Sq * tile / job->n_tiles;
}

static void
attention_task (gpointer data, gint task, guint thread)
{
  AttentionJob *job = data;
  const VlmCpuIsa *isa = job->isa;
  gint nr = isa->nr;
  gint64 C = job->C, D = job->D, kv = job->kv;
  gint64 chunk = task % job->n_row_chunks;
  gint64 h = (task / job->n_row_chunks) % job->H;
  gint64 b = task / (job->n_row_chunks * job->H);
  gint64 kvp = job->k_panels * nr;

  gfloat *kp = job->scratch[thread];
  gfloat *vp = kp + job->k_panels * nr * D;
  gfloat *qp = vp + job->d_panels * nr * kv;
  gfloat *s = qp + D * isa->mr;
  gfloat *pp = s + isa->mr * kvp;
  gfloat *tk = pp + kv * isa->mr;

  const gfloat *kh = job->k + b * job->Skv * C + h * D;
  const gfloat *vh = job->v + b * job->Skv * C + h * D;
  /* Keys as weight panels [D][nr]: transposed 16 keys at a time with the
   * ISA's row packing ([D][keys] into scratch), then copied into place. */
  for (gint64 panel = 0; panel < job->k_panels; panel++) {
    gfloat *dst = kp + panel * D * nr;
    for (gint64 j0 = panel * nr; j0 < (panel + 1) * nr; j0 += KEY_GROUP) {
      gint n = (gint) CLAMP (kv - j0, 0, KEY_GROUP);
      gint64 col = j0 - panel * nr;
      gint width = (gint) MIN (KEY_GROUP, nr - col);
      if (n > 0)
        isa->pack_rows (tk, kh + j0 * C, (gsize) C, n, D);
      for (gint64 d = 0; d < D; d++) {
        memcpy (dst + d * nr + col, tk + d * n, (gsize) n * sizeof (gfloat));
        memset (dst + d * nr + col + n, 0, (gsize) (width - n) * sizeof (gfloat));
      }
    }
  }
  for (gint64 panel = 0; panel < job->d_panels; panel++) {
    gfloat *dst = vp + panel * kv * nr;
    gint64 width = MIN (nr, D - panel * nr);
    for (gint64 j = 0; j < kv; j++) {
      memcpy (dst + j * nr, vh + j * C + panel * nr, width * sizeof (gfloat));
      memset (dst + j * nr + width, 0, (nr - width) * sizeof (gfloat));
    }
  }

  const VlmCpuTileArgs plain = { .act = VLM_ACT_NONE };
  gint64 t0 = job->n_tiles * chunk / job->n_row_chunks;
  gint64 t1 = job->n_tiles * (chunk + 1) / job->n_row_chunks;
  for (gint64 t = t0; t < t1; t++) {
    gint64 r0 = tile_row (job, t), r1 = tile_row (job, t + 1);
    gint mr = (gint) (r1 - r0);
    const gfloat *qh = job->q + (b * job->Sq + r0) * C + h * D;
    isa->pack_rows (qp, qh, (gsize) C, mr, D);
    for (gint64 i = 0; i < D * mr; i++)
      qp[i] *= job->p.scale;

    for (gint64 panel = 0; panel < job->k_panels; panel++)
      isa->gemm (mr, D, qp, kp + panel * D * nr, NULL, VLM_CPU_GEMM_FINAL, s + panel * nr,
                 (gsize) kvp, (gint) MIN (nr, kv - panel * nr), &plain);

    /* Keys visible to a row: all, or with causal j ≤ position or j < n_prefix;
     * the last row of the tile sees the most. */
    gint64 most = 0;
    for (gint m = 0; m < mr; m++) {
      gint64 visible = kv;
      if (job->p.causal)
        visible = MIN (kv, MAX (job->p.q_offset + r0 + m + 1, (gint64) job->p.n_prefix));
      most = MAX (most, visible);
      gfloat *row = s + m * kvp;
      gfloat mx = vlm_cpu_max (row, (gsize) visible);
      gfloat inv = 1.0f / isa->exp_sum (row, row, (gsize) visible, mx);
      for (gint64 j = 0; j < visible; j++)
        row[j] *= inv;
      for (gint64 j = visible; j < kv; j++)
        row[j] = 0.0f;
    }
    /* Probabilities transposed ([kv][rows]) as the x operand of P·V. */
    isa->pack_rows (pp, s, (gsize) kvp, mr, most);

    gfloat *oh = job->out + (b * job->Sq + r0) * C + h * D;
    for (gint64 panel = 0; panel < job->d_panels; panel++)
      isa->gemm (mr, most, pp, vp + panel * kv * nr, NULL, VLM_CPU_GEMM_FINAL, oh + panel * nr,
                 (gsize) C, (gint) MIN (nr, D - panel * nr), &plain);
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
 * Fused attention on the GEMM micro-kernels (see the top of the file); with
 * causal, query i sees keys j ≤ q_offset + i and j < n_prefix.
 *
 * Returns: %TRUE on success; %FALSE when scratch memory ran out.
 */
gboolean
vlm_cpu_attention (VlmDevice *device, VlmTensor *out, const VlmTensor *q, const VlmTensor *k,
                   const VlmTensor *v, const VlmAttentionParams *params, GError **error)
{
  VlmCpuDevice *cpu = vlm_cpu_device (device);
  const VlmCpuIsa *isa = cpu->isa;
  AttentionJob job = {
    .isa = isa,
    .out = vlm_tensor_host_data (out),
    .q = vlm_tensor_host_data (q),
    .k = vlm_tensor_host_data (k),
    .v = vlm_tensor_host_data (v),
    .Sq = q->shape[1],
    .Skv = k->shape[1],
    .C = q->shape[2],
    .kv = params->kv_len,
    .H = params->n_heads,
    .p = *params,
  };
  gint64 B = q->shape[0];
  job.D = job.C / job.H;
  job.n_tiles = (job.Sq + isa->mr - 1) / isa->mr;
  job.k_panels = (job.kv + isa->nr - 1) / isa->nr;
  job.d_panels = (job.D + isa->nr - 1) / isa->nr;
  /* Split rows too when there are few (batch, head) pairs to share out. */
  gint64 pairs = B * job.H, want = 4 * (gint64) vlm_cpu_pool_n_threads (cpu->pool);
  job.n_row_chunks = CLAMP ((want + pairs - 1) / pairs, 1, job.n_tiles);
  gint64 n_tasks = pairs * job.n_row_chunks;
  if (n_tasks > G_MAXINT) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "attention: %" G_GINT64_FORMAT " batches × heads is too many", pairs);
    return FALSE;
  }
  job.scratch = vlm_cpu_scratch (device, scratch_floats (&job) * sizeof (gfloat), error);
  if (!job.scratch)
    return FALSE;
  vlm_cpu_pool_run (cpu->pool, (gint) n_tasks, attention_task, &job);
  return TRUE;
}
