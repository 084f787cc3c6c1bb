#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — image preprocessing, pass 2 of 2 (engine/vlm-preprocess.h):
// vertical resampling of the scratch image preprocess_h.comp wrote
// ([3, rows, crop], source rows row0 … row0 + rows − 1) and per-channel
// normalisation: out[c][oy][ox] = (value − mean[c]) · (1 / std[c]).
// SPDX-License-Identifier: LGPL-2.1-or-later
#include "common.glsl"
#include "resample.glsl"

layout(local_size_x_id = 0) in;

VLM_BUFFER_RO(0, float, scratch)
VLM_BUFFER_WO(1, float, out_data)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(2)
  uint height;        // source height
  uint resized_h;     // height after the resize
  uint crop;
  uint off_y;         // crop offset in the resized image
  uint row0;
  uint rows;
  uint resample;      // VlmResample
  float mean0, mean1, mean2;
  float inv_std0, inv_std1, inv_std2;  // 1 / std, as the CPU computes it
} pc;

void
main ()
{
  uint n = 3u * pc.crop * pc.crop;
  for (uint i = vlm_flat_id (); i < n; i += vlm_flat_count ()) {
    uint ox = i % pc.crop;
    uint oy = (i / pc.crop) % pc.crop;
    uint c = i / (pc.crop * pc.crop);
    Taps t = resample_taps (pc.resample, pc.height, pc.resized_h, pc.off_y + oy, int(pc.row0),
                            int(pc.row0 + pc.rows));
    float acc = 0.0;
    for (int y = t.lo; y < t.hi; y++)
      acc += resample_weight (pc.resample, t, y) *
          scratch[VLM_OFFSET(0) + (c * pc.rows + uint(y) - pc.row0) * pc.crop + ox];
    float mean = c == 0u ? pc.mean0 : (c == 1u ? pc.mean1 : pc.mean2);
    float inv_std = c == 0u ? pc.inv_std0 : (c == 1u ? pc.inv_std1 : pc.inv_std2);
    out_data[VLM_OFFSET(1) + i] = (acc - mean) * inv_std;
  }
}
