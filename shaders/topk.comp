#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — the k largest entries of each row of x [rows, N], largest first,
// one workgroup per row. The order is total: larger values first, equal
// values by lower index, NaN after every number. Pass p finds the first
// element of that order that comes after the pick of pass p − 1 (a strided
// scan per invocation, then a reduction in shared memory), so k passes give
// the k first elements without sorting the row. k is small (≤ 256): argmax
// for greedy decoding, a few labels or beams.
// SPDX-License-Identifier: LGPL-2.1-or-later
#include "common.glsl"

// Workgroup size: a power of two (the reduction halves it).
layout(local_size_x_id = 0) in;

VLM_BUFFER_RO(0, float, x_data)
VLM_BUFFER_WO(1, float, values)
VLM_BUFFER_WO(2, int, indices)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(3)
  uint rows;
  uint N;
  uint k;
} pc;

const uint NONE = 0xffffffffu;

shared float best_v[gl_WorkGroupSize.x];
shared uint best_i[gl_WorkGroupSize.x];

// Whether (av, ai) comes before (bv, bi) in the output order.
bool
precedes (float av, uint ai, float bv, uint bi)
{
  bool an = isnan (av), bn = isnan (bv);
  if (an != bn)
    return bn;
  if (!an && av != bv)
    return av > bv;
  return ai < bi;
}

void
main ()
{
  uint t = gl_LocalInvocationID.x;
  uint wg = gl_WorkGroupSize.x;
  uint n_groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
  for (uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; row < pc.rows;
       row += n_groups) {
    uint x0 = VLM_OFFSET(0) + row * pc.N;
    // The previous pick; nothing precedes the first one.
    float prev_v = 0.0;
    uint prev_i = NONE;
    for (uint p = 0u; p < pc.k; p++) {
      float bv = 0.0;
      uint bi = NONE;
      for (uint j = t; j < pc.N; j += wg) {
        float v = x_data[x0 + j];
        if ((prev_i == NONE || precedes (prev_v, prev_i, v, j)) &&
            (bi == NONE || precedes (v, j, bv, bi))) {
          bv = v;
          bi = j;
        }
      }
      best_v[t] = bv;
      best_i[t] = bi;
      barrier ();
      for (uint half_n = wg / 2u; half_n > 0u; half_n /= 2u) {
        if (t < half_n) {
          float ov = best_v[t + half_n];
          uint oi = best_i[t + half_n];
          if (oi != NONE && (best_i[t] == NONE || precedes (ov, oi, best_v[t], best_i[t]))) {
            best_v[t] = ov;
            best_i[t] = oi;
          }
        }
        barrier ();
      }
      prev_v = best_v[0];
      prev_i = best_i[0];
      if (t == 0u) {
        values[VLM_OFFSET(1) + row * pc.k + p] = prev_v;
        indices[VLM_OFFSET(2) + row * pc.k + p] = int(prev_i);
      }
      // Everyone has read the winner before the next pass overwrites it.
      barrier ();
    }
  }
}
