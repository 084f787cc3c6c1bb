#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — softmax over the last dimension of x [..., R, C], one workgroup
// per row: v = scale·x + mask[r] (optional, broadcast over the leading
// dimensions), −inf where causal masks it (c > r + C − R); then
// y = exp(v − max) / Σ exp(v − max). A row whose entries are all −inf gives
// zeros.
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// y may alias x: the exponentials go to y in the second pass, each
// invocation writing only the elements it read, after every invocation has
// finished reading x for the maximum.
#include "common.glsl"

// Workgroup size: a power of two (the reductions halve it).
layout(local_size_x_id = 0) in;

// Not readonly: y may alias x, and lavapipe miscompiles loads through a
// readonly binding whose memory another binding writes.
VLM_BUFFER(0, float, x_data)
VLM_BUFFER_RO(1, float, mask_data)
VLM_BUFFER(2, float, y_data)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(3)
  uint rows;      // all rows, leading dimensions included
  uint R;         // rows of one [R, C] matrix (the mask's rows)
  uint C;
  float scale;
  uint has_mask;
  uint causal;
} pc;

shared float partial[gl_WorkGroupSize.x];

const float NEG_INF = -1.0 / 0.0;

float
workgroup_max (float v)
{
  uint t = gl_LocalInvocationID.x;
  partial[t] = v;
  barrier ();
  for (uint half_n = gl_WorkGroupSize.x / 2u; half_n > 0u; half_n /= 2u) {
    if (t < half_n)
      partial[t] = max (partial[t], partial[t + half_n]);
    barrier ();
  }
  float total = partial[0];
  barrier ();
  return total;
}

float
workgroup_sum (float v)
{
  uint t = gl_LocalInvocationID.x;
  partial[t] = v;
  barrier ();
  for (uint half_n = gl_WorkGroupSize.x / 2u; half_n > 0u; half_n /= 2u) {
    if (t < half_n)
      partial[t] += partial[t + half_n];
    barrier ();
  }
  float total = partial[0];
  barrier ();
  return total;
}

// The scaled, masked logit of column c of row `row` (r = row mod R).
float
logit (uint row, uint r, uint c)
{
  if (pc.causal != 0u && c > r + (pc.C - pc.R))
    return NEG_INF;
  float v = pc.scale * x_data[VLM_OFFSET(0) + row * pc.C + c];
  if (pc.has_mask != 0u)
    v += mask_data[VLM_OFFSET(1) + r * pc.C + c];
  return v;
}

void
main ()
{
  uint t = gl_LocalInvocationID.x;
  uint wg = gl_WorkGroupSize.x;
  uint n_groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
  for (uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; row < pc.rows;
       row += n_groups) {
    uint r = row % pc.R;
    uint y0 = VLM_OFFSET(2) + row * pc.C;

    float m = NEG_INF;
    for (uint c = t; c < pc.C; c += wg)
      m = max (m, logit (row, r, c));
    m = workgroup_max (m);

    float s = 0.0;
    for (uint c = t; c < pc.C; c += wg) {
      // Fully masked row: exp(−inf − −inf) would be NaN; write zeros.
      float e = m == NEG_INF ? 0.0 : exp (logit (row, r, c) - m);
      y_data[y0 + c] = e;
      s += e;
    }
    s = workgroup_sum (s);

    if (m != NEG_INF) {
      float inv = 1.0 / s;
      for (uint c = t; c < pc.C; c += wg)
        y_data[y0 + c] *= inv;
    }
  }
}
