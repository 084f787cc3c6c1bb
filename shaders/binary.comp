#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — elementwise a + b or a · b with numpy-style broadcasting.
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// y is contiguous with shape (d0, d1, d2, d3) (padded to four dimensions).
// a and b are addressed through per-dimension element strides that are 0
// where the operand is broadcast (its size there is 1). y may alias a or b
// when the shapes are equal: each invocation reads its inputs before it
// writes the same element.
#include "common.glsl"

layout(local_size_x_id = 0) in;

// Not readonly: y may alias a or b, and lavapipe miscompiles loads through a
// readonly binding whose memory another binding writes.
VLM_BUFFER(0, float, a_data)
VLM_BUFFER(1, float, b_data)
VLM_BUFFER(2, float, y_data)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(3)
  uint n;          // elements of y
  uint op;         // 0 add, 1 mul (VlmBinaryOp)
  uint d1, d2, d3; // y's sizes (d0 follows from n)
  uint a0, a1, a2, a3;
  uint b0, b1, b2, b3;
} pc;

void
main ()
{
  for (uint i = vlm_flat_id (); i < pc.n; i += vlm_flat_count ()) {
    uint i3 = i % pc.d3;
    uint r = i / pc.d3;
    uint i2 = r % pc.d2;
    r /= pc.d2;
    uint i1 = r % pc.d1;
    uint i0 = r / pc.d1;
    float a = a_data[VLM_OFFSET(0) + i0 * pc.a0 + i1 * pc.a1 + i2 * pc.a2 + i3 * pc.a3];
    float b = b_data[VLM_OFFSET(1) + i0 * pc.b0 + i1 * pc.b1 + i2 * pc.b2 + i3 * pc.b3];
    y_data[VLM_OFFSET(2) + i] = pc.op == 0u ? a + b : a * b;
  }
}
