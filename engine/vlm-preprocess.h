/* gst-vlm engine — the image preprocessing algorithm, shared by backends.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Private to engine/. The CPU backend calls these helpers; the shaders
 * preprocess_h.comp and preprocess_v.comp implement the same arithmetic.
 *
 * 1. Resized size: the short side becomes resize_short, the long side
 *    floor(resize_short · long / short) (Hugging Face's rule).
 * 2. Crop offset: (resized − crop) / 2, rounded down, on each axis.
 * 3. Separable resampling, horizontal pass first, over only the crop:
 *    output coordinate o (in the resized image) has its centre at
 *    c = (o + 0.5) · scale in source pixels (scale = source / resized).
 *    When shrinking (scale > 1) the filter is stretched by scale
 *    (antialiasing, like PIL's resize); taps are source pixels
 *    [floor(c − support + 0.5), floor(c + support + 0.5)) clipped to the
 *    image, weighted by filter((i − c + 0.5) / stretch), normalised to sum 1.
 *    Unlike PIL there is no rounding to 8 bits between and after the passes:
 *    values stay f32 in [0, 1] units (before normalisation).
 * 4. YUV → RGB with BT.601 limited-range coefficients, chroma taken from the
 *    co-sited half-resolution sample (x / 2, y / 2), clamped to [0, 255].
 * 5. out[c][y][x] = (value − mean[c]) / std[c].
 *
 * The horizontal pass writes a scratch image [3, rows, crop] for the source
 * rows the vertical pass reads (vlm_resample_rows()).
 */
#pragma once

#include <math.h>
#include "vlm-ops.h"

/* Filter support in source pixels at scale 1. */
static inline double
vlm_resample_support (VlmResample r)
{
  return r == VLM_RESAMPLE_BICUBIC ? 2.0 : 1.0;
}

static inline double
vlm_resample_filter (VlmResample r, double x)
{
  if (x < 0.0)
    x = -x;
  if (r == VLM_RESAMPLE_BILINEAR)
    return x < 1.0 ? 1.0 - x : 0.0;
  /* cubic convolution, a = -0.5 */
  const double a = -0.5;
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0)
    return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

/* Source taps for output coordinate @o (in resized coordinates) of an axis of
 * @in_size source pixels resized to @out_size. Writes the first tap to
 * *@first and returns the number of taps (at most @max_taps; weights
 * normalised, written to @weights). */
static inline int
vlm_resample_taps (VlmResample r, int in_size, int out_size, int o, int *first,
                   float *weights, int max_taps)
{
  double scale = (double) in_size / (double) out_size;
  double stretch = scale > 1.0 ? scale : 1.0;
  double support = vlm_resample_support (r) * stretch;
  double centre = (o + 0.5) * scale;
  int lo = (int) floor (centre - support + 0.5);
  int hi = (int) floor (centre + support + 0.5);
  if (lo < 0)
    lo = 0;
  if (hi > in_size)
    hi = in_size;
  int n = hi - lo;
  if (n > max_taps)
    n = max_taps;
  double sum = 0.0;
  for (int i = 0; i < n; i++) {
    double w = vlm_resample_filter (r, (lo + i - centre + 0.5) / stretch);
    weights[i] = (float) w;
    sum += w;
  }
  for (int i = 0; i < n; i++)
    weights[i] = sum != 0.0 ? (float) (weights[i] / sum) : 0.0f;
  *first = lo;
  return n;
}

/* Largest number of taps an axis can need. */
static inline int
vlm_resample_max_taps (VlmResample r, int in_size, int out_size)
{
  double scale = (double) in_size / (double) out_size;
  double stretch = scale > 1.0 ? scale : 1.0;
  return (int) ceil (vlm_resample_support (r) * stretch) * 2 + 2;
}

/* Source rows [*row0, *row1) the vertical pass reads for the crop. */
static inline void
vlm_resample_rows (const VlmImageParams *p, int *row0, int *row1)
{
  int rw, rh;
  vlm_image_resized_size (p, &rw, &rh);
  int oy = (rh - p->crop) / 2;
  double scale = (double) p->height / (double) rh;
  double stretch = scale > 1.0 ? scale : 1.0;
  double support = vlm_resample_support (p->resample) * stretch;
  int lo = (int) floor ((oy + 0.5) * scale - support + 0.5);
  int hi = (int) floor ((oy + p->crop - 1 + 0.5) * scale + support + 0.5);
  *row0 = lo < 0 ? 0 : lo;
  *row1 = hi > p->height ? p->height : hi;
}

/* BT.601 limited range to RGB in [0, 255]. */
static inline void
vlm_yuv_to_rgb (float y, float u, float v, float rgb[3])
{
  float c = 1.164383f * (y - 16.0f);
  float d = u - 128.0f, e = v - 128.0f;
  float r = c + 1.596027f * e;
  float g = c - 0.391762f * d - 0.812968f * e;
  float b = c + 2.017232f * d;
  rgb[0] = r < 0.0f ? 0.0f : (r > 255.0f ? 255.0f : r);
  rgb[1] = g < 0.0f ? 0.0f : (g > 255.0f ? 255.0f : g);
  rgb[2] = b < 0.0f ? 0.0f : (b > 255.0f ? 255.0f : b);
}
