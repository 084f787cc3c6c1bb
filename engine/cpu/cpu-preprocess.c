/* gst-vlm engine — CPU backend: frame → normalised model input.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Follows vlm-preprocess.h step by step (the Vulkan shaders do the same):
 * 1. horizontal pass over the source rows the crop needs
 *    (vlm_resample_rows()): each row is converted to RGB in [0, 1] over the
 *    columns the crop's taps reach, then filtered into a scratch image
 *    [3, rows, crop];
 * 2. vertical pass: each output row filters scratch rows, then normalises.
 * Both passes are split over the thread pool by rows.
 */
#include <string.h>

#include "vlm-cpu.h"
#include "../vlm-preprocess.h"

/* Partial sums of a horizontal tap loop. */
#define TAP_LANES 4

typedef struct {
  const VlmImageParams *p;
  const guint8 *src;
  gint crop;
  /* horizontal taps for the crop's columns: first source column, count,
   * weights [crop][max_taps_x] */
  const gint *first_x, *n_x;
  const gfloat *w_x;
  gint max_taps_x;
  gint col0, col1;         /* source columns any tap reads */
  gint row0, row1;         /* source rows the vertical pass reads */
  gfloat *scratch;         /* [3][row1 − row0][crop] */
  gpointer *row_buf;       /* per thread: [3][col1 − col0 + TAP_LANES] */
  /* vertical taps for the crop's rows */
  const gint *first_y, *n_y;
  const gfloat *w_y;
  gint max_taps_y;
  gfloat *out;             /* [3][crop][crop] */
} PreprocessJob;

/* Source row @y, columns [col0, col1), as planar R, G, B in [0, 1]. */
static void
load_row (const PreprocessJob *job, gint y, gfloat *rgb[3])
{
  const VlmImageParams *p = job->p;
  const guint8 *src = job->src;
  gint n = job->col1 - job->col0;
  const gfloat k = 1.0f / 255.0f;
  gint bpp = 4;
  gboolean bgr = FALSE;
  switch (p->format) {
    case VLM_PIXEL_RGB:
      bpp = 3;
      break;
    case VLM_PIXEL_RGBA:
    case VLM_PIXEL_RGBX:
      break;
    case VLM_PIXEL_BGRA:
    case VLM_PIXEL_BGRX:
      bgr = TRUE;
      break;
    case VLM_PIXEL_NV12:
    case VLM_PIXEL_I420: {
      const guint8 *yrow = src + p->plane_offset[0] + (gsize) y * p->stride[0];
      const guint8 *urow = src + p->plane_offset[1] + (gsize) (y / 2) * p->stride[1];
      const guint8 *vrow = p->format == VLM_PIXEL_I420
          ? src + p->plane_offset[2] + (gsize) (y / 2) * p->stride[2] : urow;
      /* Gather Y, U, V as floats first, then convert in a loop the
       * compiler vectorises. */
      gfloat *restrict yf = rgb[0], *restrict uf = rgb[1], *restrict vf = rgb[2];
      gboolean nv12 = p->format == VLM_PIXEL_NV12;
      for (gint i = 0; i < n; i++) {
        gint x = job->col0 + i;
        yf[i] = yrow[x];
        uf[i] = nv12 ? urow[(x / 2) * 2] : urow[x / 2];
        vf[i] = nv12 ? urow[(x / 2) * 2 + 1] : vrow[x / 2];
      }
      for (gint i = 0; i < n; i++) {
        gfloat c[3];
        vlm_yuv_to_rgb (yf[i], uf[i], vf[i], c);
        yf[i] = c[0] * k;
        uf[i] = c[1] * k;
        vf[i] = c[2] * k;
      }
      return;
    }
  }
  const guint8 *row = src + p->plane_offset[0] + (gsize) y * p->stride[0] + (gsize) job->col0 * bpp;
  /* The planes receiving bytes 0, 1, 2 of a pixel; constant strides let the
   * compiler vectorise the de-interleaving. */
  gfloat *restrict b0 = rgb[bgr ? 2 : 0], *restrict b1 = rgb[1], *restrict b2 = rgb[bgr ? 0 : 2];
  if (bpp == 3) {
    for (gint i = 0; i < n; i++) {
      b0[i] = row[i * 3] * k;
      b1[i] = row[i * 3 + 1] * k;
      b2[i] = row[i * 3 + 2] * k;
    }
  } else {
    for (gint i = 0; i < n; i++) {
      b0[i] = row[i * 4] * k;
      b1[i] = row[i * 4 + 1] * k;
      b2[i] = row[i * 4 + 2] * k;
    }
  }
}

static void
horizontal_rows (gpointer data, gint64 begin, gint64 end, guint thread)
{
  PreprocessJob *job = data;
  gint width = job->col1 - job->col0, rows = job->row1 - job->row0, crop = job->crop;
  gint padded = width + TAP_LANES;
  gfloat *buf = job->row_buf[thread];
  gfloat *rgb[3] = { buf, buf + padded, buf + 2 * padded };
  for (gint c = 0; c < 3; c++)
    memset (rgb[c] + width, 0, TAP_LANES * sizeof (gfloat));
  for (gint64 r = begin; r < end; r++) {
    load_row (job, job->row0 + (gint) r, rgb);
    gfloat *dst[3];
    for (gint c = 0; c < 3; c++)
      dst[c] = job->scratch + ((gsize) c * rows + r) * crop;
    for (gint o = 0; o < crop; o++) {
      /* Weights are zero past n_x[o] up to a multiple of TAP_LANES, and the
       * row has TAP_LANES zeros after its end, so whole groups are summed
       * in TAP_LANES partial sums the compiler vectorises. */
      const gfloat *restrict w = job->w_x + (gsize) o * job->max_taps_x;
      gint at = job->first_x[o] - job->col0;
      gint taps = (job->n_x[o] + TAP_LANES - 1) / TAP_LANES * TAP_LANES;
      for (gint c = 0; c < 3; c++) {
        const gfloat *restrict s = rgb[c] + at;
        gfloat part[TAP_LANES] = { 0 };
        for (gint t = 0; t < taps; t += TAP_LANES)
          for (gint l = 0; l < TAP_LANES; l++)
            part[l] += w[t + l] * s[t + l];
        gfloat acc = 0.0f;
        for (gint l = 0; l < TAP_LANES; l++)
          acc += part[l];
        dst[c][o] = acc;
      }
    }
  }
}

static void
vertical_rows (gpointer data, gint64 begin, gint64 end, guint thread)
{
  PreprocessJob *job = data;
  const VlmImageParams *p = job->p;
  gint rows = job->row1 - job->row0, crop = job->crop;
  for (gint64 o = begin; o < end; o++) {
    const gfloat *w = job->w_y + (gsize) o * job->max_taps_y;
    gint first = job->first_y[o] - job->row0;
    for (gint c = 0; c < 3; c++) {
      gfloat *dst = job->out + ((gsize) c * crop + o) * crop;
      const gfloat *plane = job->scratch + (gsize) c * rows * crop;
      for (gint x = 0; x < crop; x++)
        dst[x] = 0.0f;
      for (gint t = 0; t < job->n_y[o]; t++) {
        const gfloat *s = plane + (gsize) (first + t) * crop;
        gfloat wt = w[t];
        for (gint x = 0; x < crop; x++)
          dst[x] += wt * s[x];
      }
      gfloat mean = p->mean[c], inv_std = 1.0f / p->std[c];
      for (gint x = 0; x < crop; x++)
        dst[x] = (dst[x] - mean) * inv_std;
    }
  }
}

/* Taps of the crop's @crop output coordinates starting at @offset. */
static void
axis_taps (VlmResample r, gint in_size, gint out_size, gint offset, gint crop, gint max_taps,
           gint *first, gint *n, gfloat *w)
{
  memset (w, 0, (gsize) crop * max_taps * sizeof (gfloat));
  for (gint o = 0; o < crop; o++)
    n[o] = vlm_resample_taps (r, in_size, out_size, offset + o, &first[o],
                              w + (gsize) o * max_taps, max_taps);
}

/**
 * vlm_cpu_preprocess:
 * @device: the CPU device (op lock held)
 * @out: output [3, crop, crop]
 * @src: the raw frame (U8)
 * @params: frame layout and preprocessing
 * @error: return location for a #GError
 *
 * Colour conversion, antialiased separable resize of only the crop, and
 * normalisation, as fixed by vlm-preprocess.h.
 *
 * Returns: %TRUE on success; %FALSE when scratch memory ran out.
 */
gboolean
vlm_cpu_preprocess (VlmDevice *device, VlmTensor *out, const VlmTensor *src,
                    const VlmImageParams *params, GError **error)
{
  const VlmImageParams *p = params;
  VlmCpuPool *pool = vlm_cpu_device (device)->pool;
  gint rw, rh;
  vlm_image_resized_size (p, &rw, &rh);
  gint crop = p->crop, ox = (rw - crop) / 2, oy = (rh - crop) / 2;

  PreprocessJob job = {
    .p = p,
    .src = vlm_tensor_host_data (src),
    .crop = crop,
    /* rounded up to whole groups of the horizontal pass's partial sums */
    .max_taps_x = (vlm_resample_max_taps (p->resample, p->width, rw) + TAP_LANES - 1) /
        TAP_LANES * TAP_LANES,
    .max_taps_y = vlm_resample_max_taps (p->resample, p->height, rh),
    .out = vlm_tensor_host_data (out),
  };
  vlm_resample_rows (p, &job.row0, &job.row1);

  g_autofree gint *first_x = g_new (gint, crop);
  g_autofree gint *n_x = g_new (gint, crop);
  g_autofree gint *first_y = g_new (gint, crop);
  g_autofree gint *n_y = g_new (gint, crop);
  g_autofree gfloat *w_x = g_try_new (gfloat, (gsize) crop * job.max_taps_x);
  g_autofree gfloat *w_y = g_try_new (gfloat, (gsize) crop * job.max_taps_y);
  if (!w_x || !w_y) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_OUT_OF_MEMORY,
                 "preprocess: cannot allocate filter taps for a %d×%d frame", p->width,
                 p->height);
    return FALSE;
  }
  axis_taps (p->resample, p->width, rw, ox, crop, job.max_taps_x, first_x, n_x, w_x);
  axis_taps (p->resample, p->height, rh, oy, crop, job.max_taps_y, first_y, n_y, w_y);
  job.first_x = first_x;
  job.n_x = n_x;
  job.w_x = w_x;
  job.first_y = first_y;
  job.n_y = n_y;
  job.w_y = w_y;

  job.col0 = first_x[0];
  job.col1 = first_x[crop - 1] + n_x[crop - 1];
  for (gint o = 0; o < crop; o++) {
    job.col0 = MIN (job.col0, first_x[o]);
    job.col1 = MAX (job.col1, first_x[o] + n_x[o]);
  }
  gint rows = job.row1 - job.row0;

  gfloat *scratch = vlm_cpu_try_alloc ((gsize) 3 * rows * crop * sizeof (gfloat),
                                       "the preprocessing scratch image", error);
  if (!scratch)
    return FALSE;
  job.scratch = scratch;
  job.row_buf = vlm_cpu_scratch (device, (gsize) 3 * (job.col1 - job.col0 + TAP_LANES) *
                                 sizeof (gfloat),
                                 error);
  if (!job.row_buf) {
    free (scratch);
    return FALSE;
  }
  vlm_cpu_pool_range (pool, rows, 4, horizontal_rows, &job);
  vlm_cpu_pool_range (pool, crop, 4, vertical_rows, &job);
  free (scratch);
  return TRUE;
}
