#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — layer normalisation over the last dimension, one workgroup per
// row, two passes: the mean first, then the mean of squared deviations
// (population variance), both reduced in shared memory.
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// y may alias x: every invocation reads and writes only its own elements in
// the last pass.
#include "common.glsl"

// Workgroup size: a power of two (the reduction halves it).
layout(local_size_x_id = 0) in;

// Not readonly: y may alias x, and lavapipe miscompiles loads through a
// readonly binding whose memory another binding writes.
VLM_BUFFER(0, float, x_data)
VLM_BUFFER_RO(1, float, gamma_data)
VLM_BUFFER_RO(2, float, beta_data)
VLM_BUFFER(3, float, y_data)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(4)
  uint rows;
  uint cols;
  float eps;
  uint has_gamma;
  uint has_beta;
} pc;

shared float partial[gl_WorkGroupSize.x];

// Sum of every invocation's @v; all invocations get the result.
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
  // Nobody may overwrite partial[0] before everyone has read it.
  barrier ();
  return total;
}

void
main ()
{
  uint t = gl_LocalInvocationID.x;
  uint wg = gl_WorkGroupSize.x;
  uint n_groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
  for (uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; row < pc.rows;
       row += n_groups) {
    uint x0 = VLM_OFFSET(0) + row * pc.cols;
    uint y0 = VLM_OFFSET(3) + row * pc.cols;

    float s = 0.0;
    for (uint c = t; c < pc.cols; c += wg)
      s += x_data[x0 + c];
    float mean = workgroup_sum (s) / float(pc.cols);

    float q = 0.0;
    for (uint c = t; c < pc.cols; c += wg) {
      float d = x_data[x0 + c] - mean;
      q += d * d;
    }
    float rstd = 1.0 / sqrt (workgroup_sum (q) / float(pc.cols) + pc.eps);

    for (uint c = t; c < pc.cols; c += wg) {
      float v = (x_data[x0 + c] - mean) * rstd;
      if (pc.has_gamma != 0u)
        v *= gamma_data[VLM_OFFSET(1) + c];
      if (pc.has_beta != 0u)
        v += beta_data[VLM_OFFSET(2) + c];
      y_data[y0 + c] = v;
    }
  }
}
