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
//
// The centre (o + 0.5)·in/out is kept as an integer part and a fraction,
// both exact (centre_split()), so the filter arguments i + 0.5 − centre keep
// f32 precision even for centres far from 0.
struct Taps {
  int lo;
  int hi;
  int centre_int;
  float centre_frac;
  float stretch;
  float sum;
};

// Argument of the filter for source pixel i.
float
resample_arg (Taps t, int i)
{
  return (float(i - t.centre_int) + 0.5 - t.centre_frac) / t.stretch;
}

// (2o + 1)·in / (2·out) as an integer part and a fraction. The numerator is
// 64-bit (umulExtended()); past 32 bits it is divided by schoolbook long
// division, two bits per step (the divisor, below 2^30, keeps every step
// within 32 bits).
void
centre_split (uint o, uint in_size, uint out_size, out int centre_int, out float centre_frac)
{
  uint hi, lo;
  umulExtended (2u * o + 1u, in_size, hi, lo);
  uint den = 2u * out_size;
  uint q = lo / den, rem = lo % den;
  // Only extreme aspect ratios need more than 32 bits.
  if (hi != 0u) {
    q = 0u;
    rem = 0u;
    for (int s = 62; s >= 0; s -= 2) {
      uint bits = s >= 32 ? (hi >> uint(s - 32)) & 3u : (lo >> uint(s)) & 3u;
      rem = rem * 4u + bits;
      q = q * 4u + rem / den;
      rem %= den;
    }
  }
  centre_int = int(q);
  centre_frac = float(rem) / float(den);
}

Taps
resample_taps (uint kind, uint in_size, uint out_size, uint o, int clip_lo, int clip_hi)
{
  Taps t;
  float scale = float(in_size) / float(out_size);
  t.stretch = max (scale, 1.0);
  float support = (kind == RESAMPLE_BICUBIC ? 2.0 : 1.0) * t.stretch;
  centre_split (o, in_size, out_size, t.centre_int, t.centre_frac);
  t.lo = t.centre_int + int(floor (t.centre_frac - support + 0.5));
  t.hi = t.centre_int + int(floor (t.centre_frac + support + 0.5));
  t.lo = max (t.lo, max (clip_lo, 0));
  t.hi = min (t.hi, min (clip_hi, int(in_size)));
  t.sum = 0.0;
  for (int i = t.lo; i < t.hi; i++)
    t.sum += resample_filter (kind, resample_arg (t, i));
  return t;
}

// Normalised weight of source pixel i (lo ≤ i < hi).
float
resample_weight (uint kind, Taps t, int i)
{
  if (t.sum == 0.0)
    return 0.0;
  return resample_filter (kind, resample_arg (t, i)) / t.sum;
}
