#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — embedding lookup: y[i][d] = table[ids[i]][d], zeros for an id
// outside [0, V). One invocation per output element; the table is f32, or
// f16 when built with -DWEIGHT_F16 (widened to f32 on the way out).
// SPDX-License-Identifier: LGPL-2.1-or-later
#include "common.glsl"

layout(local_size_x_id = 0) in;

VLM_BUFFER_RO(0, WEIGHT_T, table)
VLM_BUFFER_RO(1, int, ids)
VLM_BUFFER_WO(2, float, y_data)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(3)
  uint n;          // elements of y
  uint V;          // table rows
  uint D;          // row length
} pc;

void
main ()
{
  for (uint i = vlm_flat_id (); i < pc.n; i += vlm_flat_count ()) {
    uint row = i / pc.D;
    uint d = i % pc.D;
    int id = ids[VLM_OFFSET(1) + row];
    float v = 0.0;
    if (id >= 0 && uint(id) < pc.V)
      v = float(table[VLM_OFFSET(0) + uint(id) * pc.D + d]);
    y_data[VLM_OFFSET(2) + i] = v;
  }
}
