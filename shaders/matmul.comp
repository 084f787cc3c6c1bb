#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — tiled GEMM with a fused epilogue (see matmul_head.glsl):
// y = act(x·wᵀ + bias) + residual, x [M, K], w [N, K], f32 accumulation.
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Each workgroup computes BM×BN tiles of y. Per step of BK along K it stages
// a BM×BK block of x and a BN×BK block of w in shared memory, both k-major
// in vec4s (rows padded by one vec4 against bank conflicts), then every
// invocation accumulates its TM×TN outputs in registers with vec4 dot
// products: TM + TN shared loads per 4·TM·TN multiply-adds. The outputs of
// invocation (tm, tn) are rows tm + i·BM/TM and columns tn + j·BN/TN of the
// tile: neighbouring invocations own neighbouring columns, so the epilogue's
// loads and stores of y are contiguous. Loads past M, N or K read zeros;
// stores past M or N are skipped, so any shape works. Tile sizes are
// specialization constants chosen by op-matmul.c, which checks the shared
// memory they need: (BM + BN)·(BK/4 + 1) vec4s. BK must be a multiple of 4
// and WG equal to (BM/TM)·(BN/TN).
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;

#include "matmul_head.glsl"

// Row stride of the staged blocks, in vec4s.
const uint ROW4 = BK / 4u + 1u;

shared vec4 x_tile[BM * ROW4];  // [m][k / 4]
shared vec4 w_tile[BN * ROW4];  // [n][k / 4]

void
main ()
{
  uint t = gl_LocalInvocationID.x;
  uint wg = gl_WorkGroupSize.x;
  uint threads_n = BN / TN;
  uint tn = t % threads_n;
  uint tm = t / threads_n;
  uint stride_m = BM / TM;
  uint bk4 = BK / 4u;

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
      for (uint e = t; e < BM * bk4; e += wg) {
        uint m = m0 + e / bk4, k = k0 + 4u * (e % bk4);
        x_tile[(e / bk4) * ROW4 + e % bk4] =
            m < pc.M && k < pc.K ? vlm_load_x4 (m, k) : vec4 (0.0);
      }
      for (uint e = t; e < BN * bk4; e += wg) {
        uint n = n0 + e / bk4, k = k0 + 4u * (e % bk4);
        w_tile[(e / bk4) * ROW4 + e % bk4] =
            n < pc.N && k < pc.K ? vlm_load_w4 (n, k) : vec4 (0.0);
      }
      barrier ();

      for (uint k4 = 0u; k4 < bk4; k4++) {
        vec4 xs[TM], ws[TN];
        for (uint i = 0u; i < TM; i++)
          xs[i] = x_tile[(tm + i * stride_m) * ROW4 + k4];
        for (uint j = 0u; j < TN; j++)
          ws[j] = w_tile[(tn + j * threads_n) * ROW4 + k4];
        for (uint i = 0u; i < TM; i++)
          for (uint j = 0u; j < TN; j++)
            acc[i * TN + j] += dot (xs[i], ws[j]);
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
