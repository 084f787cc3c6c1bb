#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — cuts images [B, C, H, W] into non-overlapping p×p patches:
// patches[b][py·pw + px][(c·p + ky)·p + kx] = image[b][c][py·p + ky][px·p + kx],
// one invocation per output element. Pixels past the last whole patch are
// never read.
// SPDX-License-Identifier: LGPL-2.1-or-later
#include "common.glsl"

layout(local_size_x_id = 0) in;

VLM_BUFFER_RO(0, float, image)
VLM_BUFFER_WO(1, float, patches)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(2)
  uint n;          // elements of patches
  uint C, H, W;
  uint p;          // patch side
  uint pw;         // patches per row (W / p)
  uint n_patches;  // patches per image
} pc;

void
main ()
{
  uint inner = pc.C * pc.p * pc.p;
  for (uint i = vlm_flat_id (); i < pc.n; i += vlm_flat_count ()) {
    uint e = i % inner;
    uint rest = i / inner;
    uint pi = rest % pc.n_patches;
    uint b = rest / pc.n_patches;
    uint kx = e % pc.p;
    uint ky = (e / pc.p) % pc.p;
    uint c = e / (pc.p * pc.p);
    uint sy = (pi / pc.pw) * pc.p + ky;
    uint sx = (pi % pc.pw) * pc.p + kx;
    patches[VLM_OFFSET(1) + i] = image[VLM_OFFSET(0) + ((b * pc.C + c) * pc.H + sy) * pc.W + sx];
  }
}
