#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — multi-head scaled-dot-product attention, fp32:
//   out[b, i, h] = Σ_j softmax_j(scale · q[b, i, h] · k[b, j, h]) · v[b, j, h]
// over the keys query i sees: j < kv_len and, when causal, j ≤ q_offset + i
// or j < n_prefix. q, k, v and out are [B, S, H·D] with head h in columns
// h·D … h·D + D − 1.
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// One workgroup per (batch, head, block of QB query rows). The keys are
// taken in chunks of CH with an online softmax: per row a running maximum m
// and sum l; when a chunk raises the maximum, the earlier sum and output
// are rescaled by exp(m_old − m_new). So any number of keys fits in a fixed
// amount of shared memory, exp() never overflows, and each chunk of k and v
// is loaded once for QB rows. Rows are stored as DV vec4s (D rounded up to a
// multiple of 4, zero-padded). Output element (r, dv) of the block belongs
// to slot r·DV + dv; invocation t owns slots t, t + WG, … (OPT of them).
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint QB = 16;   // query rows per workgroup
layout(constant_id = 2) const uint CH = 32;   // keys per chunk
layout(constant_id = 3) const uint DV = 16;   // ceil(D / 4)
layout(constant_id = 4) const uint OPT = 4;   // ceil(QB · DV / WG)

VLM_BUFFER_RO(0, float, q_data)
VLM_BUFFER_RO(1, float, k_data)
VLM_BUFFER_RO(2, float, v_data)
VLM_BUFFER_WO(3, float, out_data)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(4)
  uint B;
  uint Sq;
  uint Skv;
  uint H;
  uint D;
  uint kv_len;
  uint causal;
  uint n_prefix;
  uint q_offset;
  float scale;
} pc;

const float NEG_INF = -1.0 / 0.0;

shared vec4 q_tile[QB * DV];
shared vec4 k_tile[CH * DV];
shared vec4 v_tile[CH * DV];
shared float s_tile[QB * CH];     // scores, then probabilities
shared float m_row[QB];           // running maximum
shared float l_row[QB];           // running sum
shared float alpha_row[QB];       // this chunk's rescale factor

// Columns d … d + 3 of the row starting at element `base` of a binding, zeros
// past D.
#define LOAD_ROW4(data, base, d)                                      \
  vec4 ((d) < pc.D ? data[(base) + (d)] : 0.0,                         \
        (d) + 1u < pc.D ? data[(base) + (d) + 1u] : 0.0,               \
        (d) + 2u < pc.D ? data[(base) + (d) + 2u] : 0.0,               \
        (d) + 3u < pc.D ? data[(base) + (d) + 3u] : 0.0)

// Whether query row i sees key j.
bool
visible (uint i, uint j)
{
  return j < pc.kv_len && (pc.causal == 0u || j <= pc.q_offset + i || j < pc.n_prefix);
}

void
main ()
{
  uint t = gl_LocalInvocationID.x;
  uint wg = gl_WorkGroupSize.x;
  uint C = pc.H * pc.D;
  uint q_blocks = (pc.Sq + QB - 1u) / QB;
  uint n_blocks = pc.B * pc.H * q_blocks;
  uint n_groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
  for (uint blk = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; blk < n_blocks;
       blk += n_groups) {
    // blk = (b·H + h)·q_blocks + qb: neighbouring workgroups share a head.
    uint i0 = (blk % q_blocks) * QB;
    uint h = (blk / q_blocks) % pc.H;
    uint b = blk / (q_blocks * pc.H);
    uint rows = min (QB, pc.Sq - i0);
    uint kv0 = b * pc.Skv * C + h * pc.D;

    // Keys past kv_end are masked for every row of the block.
    uint kv_end = pc.kv_len;
    if (pc.causal != 0u)
      kv_end = min (kv_end, max (pc.q_offset + i0 + rows, pc.n_prefix));

    for (uint e = t; e < QB * DV; e += wg) {
      uint r = e / DV;
      uint base = VLM_OFFSET(0) + (b * pc.Sq + i0 + r) * C + h * pc.D;
      q_tile[e] = r < rows ? LOAD_ROW4 (q_data, base, 4u * (e % DV)) : vec4 (0.0);
    }
    for (uint r = t; r < QB; r += wg) {
      m_row[r] = NEG_INF;
      l_row[r] = 0.0;
    }
    vec4 acc[OPT];
    for (uint o = 0u; o < OPT; o++)
      acc[o] = vec4 (0.0);

    for (uint j0 = 0u; j0 < kv_end; j0 += CH) {
      uint count = min (CH, kv_end - j0);
      barrier ();  // the previous chunk (or the q block) is done with

      for (uint e = t; e < CH * DV; e += wg) {
        uint c = e / DV, d = 4u * (e % DV);
        bool in_chunk = c < count;
        uint base = kv0 + (j0 + c) * C;
        k_tile[e] = in_chunk ? LOAD_ROW4 (k_data, VLM_OFFSET(1) + base, d) : vec4 (0.0);
        v_tile[e] = in_chunk ? LOAD_ROW4 (v_data, VLM_OFFSET(2) + base, d) : vec4 (0.0);
      }
      barrier ();

      for (uint e = t; e < QB * CH; e += wg) {
        uint r = e / CH, c = e % CH;
        float s = NEG_INF;
        if (r < rows && c < count && visible (i0 + r, j0 + c)) {
          float qk = 0.0;
          for (uint dv = 0u; dv < DV; dv++)
            qk += dot (q_tile[r * DV + dv], k_tile[c * DV + dv]);
          s = pc.scale * qk;
        }
        s_tile[e] = s;
      }
      barrier ();

      // One invocation per row turns the scores into probabilities.
      for (uint r = t; r < QB; r += wg) {
        float m_old = m_row[r];
        float m_new = m_old;
        for (uint c = 0u; c < count; c++)
          m_new = max (m_new, s_tile[r * CH + c]);
        // While every key so far is masked there is nothing to weigh.
        float alpha = m_new == NEG_INF ? 1.0 : exp (m_old - m_new);
        float sum = 0.0;
        for (uint c = 0u; c < count; c++) {
          float s = s_tile[r * CH + c];
          float p = s == NEG_INF ? 0.0 : exp (s - m_new);
          s_tile[r * CH + c] = p;
          sum += p;
        }
        m_row[r] = m_new;
        l_row[r] = l_row[r] * alpha + sum;
        alpha_row[r] = alpha;
      }
      barrier ();

      for (uint o = 0u; o < OPT; o++) {
        uint slot = t + o * wg;
        uint r = slot / DV, dv = slot % DV;
        if (r < rows) {
          vec4 pv = vec4 (0.0);
          for (uint c = 0u; c < count; c++)
            pv += s_tile[r * CH + c] * v_tile[c * DV + dv];
          acc[o] = acc[o] * alpha_row[r] + pv;
        }
      }
    }

    for (uint o = 0u; o < OPT; o++) {
      uint slot = t + o * wg;
      uint r = slot / DV, d = 4u * (slot % DV);
      if (r < rows) {
        float l = l_row[r];
        vec4 v = l > 0.0 ? acc[o] / l : vec4 (0.0);
        uint base = VLM_OFFSET(3) + (b * pc.Sq + i0 + r) * C + h * pc.D + d;
        for (uint c = 0u; c < 4u; c++)
          if (d + c < pc.D)
            out_data[base + c] = v[c];
      }
    }
    // The next block resets m_row and l_row.
    barrier ();
  }
}
