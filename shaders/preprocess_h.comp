#version 450
#extension GL_GOOGLE_include_directive : require
// gst-vlm — image preprocessing, pass 1 of 2 (engine/vlm-preprocess.h):
// colour conversion and horizontal resampling of the source rows
// [row0, row0 + rows) that the vertical pass reads, for the crop's columns
// only. Writes scratch [3, rows, crop] f32 in [0, 1] units.
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The frame is a U8 tensor bound as uint words; byte offsets (the binding's
// element offset, plane offsets, strides) address its bytes.
#include "common.glsl"
#include "resample.glsl"

layout(local_size_x_id = 0) in;

VLM_BUFFER_RO(0, uint, src)
VLM_BUFFER_WO(1, float, scratch)

layout(push_constant) uniform Push {
  VLM_PUSH_OFFSETS(2)
  uint format;        // VlmPixelFormat
  uint width;
  uint height;
  uint stride0, stride1, stride2;
  uint plane0, plane1, plane2;
  uint resized_w;     // width after the resize
  uint crop;
  uint off_x;         // crop offset in the resized image
  uint row0;
  uint rows;
  uint resample;      // VlmResample
} pc;

// VlmPixelFormat
const uint PIXEL_RGB = 0u;
const uint PIXEL_RGBA = 1u;
const uint PIXEL_RGBX = 2u;
const uint PIXEL_BGRA = 3u;
const uint PIXEL_BGRX = 4u;
const uint PIXEL_NV12 = 5u;
const uint PIXEL_I420 = 6u;

float
byte_at (uint i)
{
  return float(VLM_LOAD_U8 (src, VLM_OFFSET(0) + i));
}

// BT.601 limited range to RGB in [0, 255] (vlm_yuv_to_rgb()).
vec3
yuv_to_rgb (float y, float u, float v)
{
  float c = 1.164383 * (y - 16.0);
  float d = u - 128.0, e = v - 128.0;
  vec3 rgb = vec3 (c + 1.596027 * e, c - 0.391762 * d - 0.812968 * e, c + 2.017232 * d);
  return clamp (rgb, 0.0, 255.0);
}

// R, G, B of source pixel (x, y) in [0, 255].
vec3
pixel (uint x, uint y)
{
  if (pc.format == PIXEL_NV12 || pc.format == PIXEL_I420) {
    float luma = byte_at (pc.plane0 + y * pc.stride0 + x);
    // Chroma from the co-sited half-resolution sample.
    uint cx = x / 2u, cy = y / 2u;
    float u, v;
    if (pc.format == PIXEL_NV12) {
      uint uv = pc.plane1 + cy * pc.stride1 + 2u * cx;
      u = byte_at (uv);
      v = byte_at (uv + 1u);
    } else {
      u = byte_at (pc.plane1 + cy * pc.stride1 + cx);
      v = byte_at (pc.plane2 + cy * pc.stride2 + cx);
    }
    return yuv_to_rgb (luma, u, v);
  }
  uint bpp = pc.format == PIXEL_RGB ? 3u : 4u;
  uint p = pc.plane0 + y * pc.stride0 + x * bpp;
  vec3 rgb = vec3 (byte_at (p), byte_at (p + 1u), byte_at (p + 2u));
  return pc.format == PIXEL_BGRA || pc.format == PIXEL_BGRX ? rgb.bgr : rgb;
}

void
main ()
{
  uint n = pc.rows * pc.crop;
  for (uint i = vlm_flat_id (); i < n; i += vlm_flat_count ()) {
    uint ox = i % pc.crop;
    uint r = i / pc.crop;
    uint y = pc.row0 + r;
    Taps t = resample_taps (pc.resample, pc.width, pc.resized_w, pc.off_x + ox, 0, int(pc.width));
    vec3 acc = vec3 (0.0);
    for (int x = t.lo; x < t.hi; x++)
      acc += resample_weight (pc.resample, t, x) * (pixel (uint(x), y) * (1.0 / 255.0));
    for (uint c = 0u; c < 3u; c++)
      scratch[VLM_OFFSET(1) + (c * pc.rows + r) * pc.crop + ox] = acc[c];
  }
}
