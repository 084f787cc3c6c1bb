// gst-vlm — the resampling filter and tap windows of the image preprocessing,
// shared by preprocess_h.comp and preprocess_v.comp. The arithmetic follows
// engine/vlm-preprocess.h (vlm_resample_filter(), vlm_resample_taps()) in
// f32 instead of f64.
// SPDX-License-Identifier: LGPL-2.1-or-later

// VlmResample
const uint RESAMPLE_BILINEAR = 0u;
const uint RESAMPLE_BICUBIC = 1u;

float
resample_filter (uint kind, float x)
{
  x = abs (x);
  if (kind == RESAMPLE_BILINEAR)
    return x < 1.0 ? 1.0 - x : 0.0;
  // cubic convolution, a = −0.5
  const float a = -0.5;
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0)
    return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// The source pixels [lo, hi) output coordinate o of an axis of in_size
// pixels resized to out_size reads, and the sum of their raw weights.
// When shrinking, the filter is stretched by the scale (antialiasing). The
// window is also clipped to [clip_lo, clip_hi): the pixels the host made
// available, which the f64 window of the host may draw one pixel narrower
// than this one at an edge where the weight is ~0.
struct Taps {
  int lo;
  int hi;
  float centre;
  float stretch;
  float sum;
};

Taps
resample_taps (uint kind, uint in_size, uint out_size, uint o, int clip_lo, int clip_hi)
{
  Taps t;
  float scale = float(in_size) / float(out_size);
  t.stretch = max (scale, 1.0);
  float support = (kind == RESAMPLE_BICUBIC ? 2.0 : 1.0) * t.stretch;
  t.centre = (float(o) + 0.5) * scale;
  t.lo = max (int(floor (t.centre - support + 0.5)), max (clip_lo, 0));
  t.hi = min (int(floor (t.centre + support + 0.5)), min (clip_hi, int(in_size)));
  t.sum = 0.0;
  for (int i = t.lo; i < t.hi; i++)
    t.sum += resample_filter (kind, (float(i) - t.centre + 0.5) / t.stretch);
  return t;
}

// Normalised weight of source pixel i (lo ≤ i < hi).
float
resample_weight (uint kind, Taps t, int i)
{
  if (t.sum == 0.0)
    return 0.0;
  return resample_filter (kind, (float(i) - t.centre + 0.5) / t.stretch) / t.sum;
}
