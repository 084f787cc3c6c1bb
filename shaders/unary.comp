// gst-vlm — elementwise activations: y = act(x) (vlm_activate() of
// common.glsl). Bindings: 0 x (f32), 1 y (f32; may be x). Spec: 0 workgroup
// size, 1 VlmActivation. Grid-stride loop over n elements, 1-D or 2-D
// dispatch.
// SPDX-License-Identifier: LGPL-2.1-or-later
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ACT = 0;

// Not readonly: y may alias x (see common.glsl).
VLM_BUFFER(0, float, x_data)
VLM_BUFFER(1, float, y_data)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(2)
  uint n;
} pc;

void
main ()
{
  for (uint i = vlm_flat_id (); i < pc.n; i += vlm_flat_count ())
    y_data[VLM_OFFSET(1) + i] = vlm_activate (ACT, x_data[VLM_OFFSET(0) + i]);
}
