#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — matrix-vector kernel for a few rows of x (batch-1 decoding,
// M ≤ 4), same contract and epilogue as matmul.comp (see matmul_head.glsl).
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The weight dominates the traffic, so each workgroup streams NR rows of w
// once, for all M rows of x: invocation t accumulates the products of the
// four-element chunks k = 4t, 4(t + WG), … (consecutive invocations read
// consecutive chunks), then the WG partial sums of each of the M·NR outputs
// are added up in shared memory.
#include "common.glsl"

layout(local_size_x_id = 0) in;
// Rows of w (output columns) per workgroup.
layout(constant_id = 1) const uint NR = 4;
// Rows of x; must equal pc.M.
layout(constant_id = 2) const uint MR = 1;

#include "matmul_head.glsl"

shared float partial[MR * NR * gl_WorkGroupSize.x];

void
main ()
{
  uint t = gl_LocalInvocationID.x;
  uint wg = gl_WorkGroupSize.x;
  uint n_blocks = (pc.N + NR - 1u) / NR;
  uint n_groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
  for (uint block = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; block < n_blocks;
       block += n_groups) {
    uint n0 = block * NR;
    vec4 acc[MR * NR];
    for (uint a = 0u; a < MR * NR; a++)
      acc[a] = vec4 (0.0);

    for (uint k = 4u * t; k < pc.K; k += 4u * wg) {
      vec4 xs[MR];
      for (uint m = 0u; m < MR; m++)
        xs[m] = vlm_load_x4 (m, k);
      for (uint r = 0u; r < NR; r++) {
        // A block past N repeats its last row; those sums are dropped.
        vec4 w = vlm_load_w4 (min (n0 + r, pc.N - 1u), k);
        for (uint m = 0u; m < MR; m++)
          acc[m * NR + r] += xs[m] * w;
      }
    }

    for (uint a = 0u; a < MR * NR; a++)
      partial[a * wg + t] = (acc[a].x + acc[a].y) + (acc[a].z + acc[a].w);
    barrier ();
    for (uint a = t; a < MR * NR; a += wg) {
      float s = 0.0;
      for (uint i = 0u; i < wg; i++)
        s += partial[a * wg + i];
      uint m = a / NR, n = n0 + a % NR;
      if (n < pc.N)
        vlm_store (m, n, s);
    }
    // The next block overwrites the partial sums.
    barrier ();
  }
}
