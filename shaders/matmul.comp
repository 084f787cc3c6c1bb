#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — tiled GEMM with a fused epilogue (see matmul_head.glsl):
// y = act(x·wᵀ + bias) + residual, x [M, K], w [N, K], f32 accumulation.
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Each workgroup computes BM×BN tiles of y. Per step of BK along K it stages
// a BM×BK block of x and a BN×BK block of w in shared memory (transposed, so
// the inner loop reads along m and n, with one float of padding per row
// against bank conflicts), then every invocation accumulates its TM×TN
// outputs in registers. The outputs of invocation (tm, tn) are rows
// tm + i·BM/TM and columns tn + j·BN/TN of the tile: neighbouring
// invocations own neighbouring columns, so the epilogue's loads and stores
// of y are contiguous. Loads past M, N or K read zeros; stores past M or N
// are skipped, so any shape works. Tile sizes are specialization constants
// chosen by op-matmul.c, which checks the shared memory they need:
// BK·(BM + 1 + BN + 1) floats. WG must be (BM/TM)·(BN/TN).
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;

#include "matmul_head.glsl"

shared float x_tile[BK * (BM + 1)];  // [k][m]
shared float w_tile[BK * (BN + 1)];  // [k][n]

void
main ()
{
  uint t = gl_LocalInvocationID.x;
  uint wg = gl_WorkGroupSize.x;
  uint threads_n = BN / TN;
  uint tn = t % threads_n;
  uint tm = t / threads_n;
  uint stride_m = BM / TM;

  uint tiles_n = (pc.N + BN - 1u) / BN;
  uint tiles = ((pc.M + BM - 1u) / BM) * tiles_n;
  uint n_groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
  for (uint tile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; tile < tiles;
       tile += n_groups) {
    uint m0 = (tile / tiles_n) * BM;
    uint n0 = (tile % tiles_n) * BN;

    float acc[TM * TN];
    for (uint a = 0u; a < TM * TN; a++)
      acc[a] = 0.0;

    for (uint k0 = 0u; k0 < pc.K; k0 += BK) {
      // Stage the blocks; consecutive invocations read consecutive k.
      for (uint e = t; e < BM * BK; e += wg) {
        uint kk = e % BK, mm = e / BK;
        uint m = m0 + mm, k = k0 + kk;
        x_tile[kk * (BM + 1u) + mm] =
            m < pc.M && k < pc.K ? x_data[VLM_OFFSET(0) + m * pc.K + k] : 0.0;
      }
      for (uint e = t; e < BN * BK; e += wg) {
        uint kk = e % BK, nn = e / BK;
        uint n = n0 + nn, k = k0 + kk;
        w_tile[kk * (BN + 1u) + nn] =
            n < pc.N && k < pc.K ? float(w_data[VLM_OFFSET(1) + n * pc.K + k]) : 0.0;
      }
      barrier ();

      for (uint kk = 0u; kk < BK; kk++) {
        float xs[TM], ws[TN];
        for (uint i = 0u; i < TM; i++)
          xs[i] = x_tile[kk * (BM + 1u) + tm + i * stride_m];
        for (uint j = 0u; j < TN; j++)
          ws[j] = w_tile[kk * (BN + 1u) + tn + j * threads_n];
        for (uint i = 0u; i < TM; i++)
          for (uint j = 0u; j < TN; j++)
            acc[i * TN + j] += xs[i] * ws[j];
      }
      // The next step overwrites the blocks.
      barrier ();
    }

    for (uint i = 0u; i < TM; i++) {
      uint m = m0 + tm + i * stride_m;
      for (uint j = 0u; j < TN; j++) {
        uint n = n0 + tn + j * threads_n;
        if (m < pc.M && n < pc.N)
          vlm_store (m, n, acc[i * TN + j]);
      }
    }
  }
}
