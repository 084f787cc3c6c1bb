#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — multi-head scaled-dot-product attention, fp32:
//   out[b, i, h] = Σ_j softmax_j(scale · q[b, i, h] · k[b, j, h]) · v[b, j, h]
// over the keys query i sees: j < kv_len and, when causal, j ≤ q_offset + i
// or j < n_prefix. q, k, v and out are [B, S, H·D] with head h in columns
// h·D … h·D + D − 1.
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// One workgroup per (batch, head, query row). Keys are taken in chunks of one
// per invocation with an online softmax (running maximum m and sum l; when a
// chunk raises the maximum, the earlier sum and output are rescaled by
// exp(m_old − m_new)), so any number of keys fits in a fixed amount of shared
// memory and exp() never overflows. Each invocation owns output columns
// d = t, t + WG, … (DPT of them).
#include "common.glsl"

layout(local_size_x_id = 0) in;
// Output columns per invocation: ceil(D / WG).
layout(constant_id = 1) const uint DPT = 1;

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

shared float q_row[gl_WorkGroupSize.x * DPT];
shared float scores[gl_WorkGroupSize.x];
shared float probs[gl_WorkGroupSize.x];

void
main ()
{
  uint t = gl_LocalInvocationID.x;
  uint wg = gl_WorkGroupSize.x;
  uint C = pc.H * pc.D;
  uint n_rows = pc.B * pc.H * pc.Sq;
  uint n_groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
  for (uint r = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; r < n_rows;
       r += n_groups) {
    // r = (b·H + h)·Sq + i: neighbouring workgroups share a head's keys.
    uint i = r % pc.Sq;
    uint h = (r / pc.Sq) % pc.H;
    uint b = r / (pc.Sq * pc.H);
    uint q0 = VLM_OFFSET(0) + (b * pc.Sq + i) * C + h * pc.D;
    uint k0 = VLM_OFFSET(1) + b * pc.Skv * C + h * pc.D;
    uint v0 = VLM_OFFSET(2) + b * pc.Skv * C + h * pc.D;

    // Keys past kv_end are masked for this query.
    uint kv_end = pc.kv_len;
    uint pos = pc.q_offset + i;
    if (pc.causal != 0u)
      kv_end = min (kv_end, max (pos + 1u, pc.n_prefix));

    for (uint e = 0u; e < DPT; e++) {
      uint d = t + e * wg;
      if (d < pc.D)
        q_row[d] = q_data[q0 + d];
    }

    float m = NEG_INF;
    float l = 0.0;
    float acc[DPT];
    for (uint e = 0u; e < DPT; e++)
      acc[e] = 0.0;

    for (uint j0 = 0u; j0 < kv_end; j0 += wg) {
      uint count = min (wg, kv_end - j0);
      barrier ();  // q_row written; the previous chunk's probs read

      // This invocation's key. Below kv_end a key is masked only when it is
      // past the query's position and not in the prefix.
      uint j = j0 + t;
      float s = NEG_INF;
      if (t < count && (pc.causal == 0u || j <= pos || j < pc.n_prefix)) {
        float dot_qk = 0.0;
        for (uint d = 0u; d < pc.D; d++)
          dot_qk += q_row[d] * k_data[k0 + j * C + d];
        s = pc.scale * dot_qk;
      }
      scores[t] = s;
      barrier ();

      float m_new = m;
      for (uint c = 0u; c < count; c++)
        m_new = max (m_new, scores[c]);
      // While every key so far is masked there is nothing to weigh.
      float alpha = m_new == NEG_INF ? 1.0 : exp (m - m_new);
      probs[t] = m_new == NEG_INF ? 0.0 : exp (s - m_new);
      barrier ();

      float chunk_sum = 0.0;
      for (uint c = 0u; c < count; c++)
        chunk_sum += probs[c];
      l = l * alpha + chunk_sum;
      for (uint e = 0u; e < DPT; e++) {
        uint d = t + e * wg;
        if (d < pc.D) {
          float o = 0.0;
          for (uint c = 0u; c < count; c++)
            o += probs[c] * v_data[v0 + (j0 + c) * C + d];
          acc[e] = acc[e] * alpha + o;
        }
      }
      m = m_new;
    }

    float inv = l > 0.0 ? 1.0 / l : 0.0;
    uint o0 = VLM_OFFSET(3) + (b * pc.Sq + i) * C + h * pc.D;
    for (uint e = 0u; e < DPT; e++) {
      uint d = t + e * wg;
      if (d < pc.D)
        out_data[o0 + d] = acc[e] * inv;
    }
  }
}
