/* gst-vlm tests — image preprocessing (colour conversion, antialiased
 * resize, centre crop, normalisation) from every pixel format.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The reference is written from the specification in the header comment of
 * engine/vlm-preprocess.h, not from its helpers: every output pixel is a
 * direct double-precision sum over its source taps.
 */
#include <math.h>
#include <string.h>

#include "test-ops.h"

typedef struct {
  const gchar *name;
  VlmPixelFormat format;
  gint width, height;
  gint resize, crop;
  VlmResample filter;
  gint pad;            /* extra bytes at the end of every row (plane i: pad + 3·i) */
  gint lead;           /* bytes before plane 0, and between planes */
  gboolean clip_norm;  /* CLIP mean/std; otherwise mean 0, std 1 */
  gboolean out_4d;     /* out is [1, 3, crop, crop] */
} PreCase;

#define BIL VLM_RESAMPLE_BILINEAR
#define BIC VLM_RESAMPLE_BICUBIC

static const PreCase pre_cases[] = {
  { "rgb-37x29-r16c16-bilinear", VLM_PIXEL_RGB, 37, 29, 16, 16, BIL, 0, 0, FALSE, FALSE },
  { "rgb-37x29-r16c16-bicubic", VLM_PIXEL_RGB, 37, 29, 16, 16, BIC, 0, 0, TRUE, FALSE },
  { "rgba-64x48-r24c20-bicubic", VLM_PIXEL_RGBA, 64, 48, 24, 20, BIC, 0, 0, TRUE, FALSE },
  { "rgbx-20x30-r45c40-bicubic-up", VLM_PIXEL_RGBX, 20, 30, 45, 40, BIC, 0, 0, FALSE, FALSE },
  { "bgra-33x17-r40c31-bilinear-up", VLM_PIXEL_BGRA, 33, 17, 40, 31, BIL, 0, 0, TRUE, FALSE },
  { "bgrx-50x50-r13c13-bicubic-padded", VLM_PIXEL_BGRX, 50, 50, 13, 13, BIC, 13, 7, TRUE,
    FALSE },
  { "bgra-17x41-r9c7-bilinear-tall", VLM_PIXEL_BGRA, 17, 41, 9, 7, BIL, 0, 0, FALSE, FALSE },
  { "rgb-24x24-r24c24-bilinear-identity", VLM_PIXEL_RGB, 24, 24, 24, 24, BIL, 0, 0, FALSE,
    FALSE },
  { "rgb-1x1-r4c4-bicubic", VLM_PIXEL_RGB, 1, 1, 4, 4, BIC, 0, 0, FALSE, FALSE },
  { "rgb-33x21-r14c11-bicubic-padded", VLM_PIXEL_RGB, 33, 21, 14, 11, BIC, 5, 3, TRUE, FALSE },
  { "nv12-35x23-r18c17-bilinear-padded", VLM_PIXEL_NV12, 35, 23, 18, 17, BIL, 9, 11, TRUE,
    FALSE },
  { "nv12-7x5-r16c12-bicubic-up", VLM_PIXEL_NV12, 7, 5, 16, 12, BIC, 0, 0, FALSE, FALSE },
  { "nv12-36x20-r12c12-bicubic", VLM_PIXEL_NV12, 36, 20, 12, 12, BIC, 0, 0, TRUE, FALSE },
  { "i420-35x23-r18c17-bicubic-padded", VLM_PIXEL_I420, 35, 23, 18, 17, BIC, 9, 11, TRUE,
    FALSE },
  { "i420-3x3-r5c5-bilinear-up", VLM_PIXEL_I420, 3, 3, 5, 5, BIL, 0, 0, FALSE, FALSE },
  { "i420-63x95-r32c30-bicubic-tall", VLM_PIXEL_I420, 63, 95, 32, 30, BIC, 3, 1, TRUE, FALSE },
  { "rgb-320x240-r224c224-bicubic-clip", VLM_PIXEL_RGB, 320, 240, 224, 224, BIC, 0, 0, TRUE,
    TRUE },
  { "nv12-640x480-r224c224-bicubic-clip", VLM_PIXEL_NV12, 640, 480, 224, 224, BIC, 0, 0, TRUE,
    TRUE },
};

static const gfloat clip_mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
static const gfloat clip_std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };

/* Lays the planes out by hand (lead bytes, rows padded by @pad). */
static gsize
frame_layout (const PreCase *c, VlmImageParams *p)
{
  gsize w = (gsize) c->width, h = (gsize) c->height, cw = (w + 1) / 2, ch = (h + 1) / 2;
  gsize row[3] = { 0, 0, 0 }, rows[3] = { h, ch, ch };
  gint planes = 1;
  switch (c->format) {
    case VLM_PIXEL_RGB:
      row[0] = 3 * w;
      break;
    case VLM_PIXEL_RGBA:
    case VLM_PIXEL_RGBX:
    case VLM_PIXEL_BGRA:
    case VLM_PIXEL_BGRX:
      row[0] = 4 * w;
      break;
    case VLM_PIXEL_NV12:
      row[0] = w;
      row[1] = 2 * cw;
      planes = 2;
      break;
    case VLM_PIXEL_I420:
      row[0] = w;
      row[1] = row[2] = cw;
      planes = 3;
      break;
  }
  memset (p, 0, sizeof *p);
  p->format = c->format;
  p->width = c->width;
  p->height = c->height;
  gsize at = (gsize) c->lead;
  for (gint i = 0; i < planes; i++) {
    p->plane_offset[i] = at;
    /* with padding, every plane gets a stride of its own */
    p->stride[i] = (gint) (row[i] + (c->pad ? (gsize) (c->pad + 3 * i) : 0));
    at += rows[i] * (gsize) p->stride[i] + (gsize) c->lead;
  }
  return at;
}

/* Source pixel (x, y) as R, G, B in [0, 1]. */
static void
source_rgb (const PreCase *c, const VlmImageParams *p, const guint8 *f, gint x, gint y,
            double rgb[3])
{
  const guint8 *row = f + p->plane_offset[0] + (gsize) y * p->stride[0];
  switch (c->format) {
    case VLM_PIXEL_RGB:
      for (gint i = 0; i < 3; i++)
        rgb[i] = row[3 * x + i] / 255.0;
      return;
    case VLM_PIXEL_RGBA:
    case VLM_PIXEL_RGBX:
      for (gint i = 0; i < 3; i++)
        rgb[i] = row[4 * x + i] / 255.0;
      return;
    case VLM_PIXEL_BGRA:
    case VLM_PIXEL_BGRX:
      for (gint i = 0; i < 3; i++)
        rgb[i] = row[4 * x + 2 - i] / 255.0;
      return;
    case VLM_PIXEL_NV12:
    case VLM_PIXEL_I420:
      break;
  }
  double Y = row[x], U, V;
  const guint8 *c1 = f + p->plane_offset[1] + (gsize) (y / 2) * p->stride[1];
  if (c->format == VLM_PIXEL_NV12) {
    U = c1[2 * (x / 2)];
    V = c1[2 * (x / 2) + 1];
  } else {
    const guint8 *c2 = f + p->plane_offset[2] + (gsize) (y / 2) * p->stride[2];
    U = c1[x / 2];
    V = c2[x / 2];
  }
  /* BT.601 from its definition: Kr = 0.299, Kb = 0.114; limited range luma
   * 16..235 (219 steps), chroma 16..240 (224 steps) around 128. */
  const double kr = 0.299, kb = 0.114, kg = 1.0 - kr - kb;
  double yn = (Y - 16.0) / 219.0, pb = (U - 128.0) / 224.0, pr = (V - 128.0) / 224.0;
  double r = yn + 2.0 * (1.0 - kr) * pr;
  double b = yn + 2.0 * (1.0 - kb) * pb;
  double g = (yn - kr * r - kb * b) / kg;
  double v[3] = { r, g, b };
  for (gint i = 0; i < 3; i++)
    rgb[i] = CLAMP (v[i] * 255.0, 0.0, 255.0) / 255.0;
}

static double
filter (VlmResample r, double t)
{
  t = fabs (t);
  if (r == VLM_RESAMPLE_BILINEAR)
    return t < 1.0 ? 1.0 - t : 0.0;
  /* Keys' cubic convolution kernel with a = −0.5 */
  const double a = -0.5;
  if (t < 1.0)
    return (a + 2.0) * t * t * t - (a + 3.0) * t * t + 1.0;
  if (t < 2.0)
    return a * t * t * t - 5.0 * a * t * t + 8.0 * a * t - 4.0 * a;
  return 0.0;
}

/* Taps of output coordinate @o of an axis resized from @in to @out pixels. */
static gint
taps (VlmResample r, gint in, gint out, gint o, gint *first, double *w)
{
  double scale = (double) in / out;
  double stretch = MAX (scale, 1.0);
  double support = (r == VLM_RESAMPLE_BICUBIC ? 2.0 : 1.0) * stretch;
  double centre = (o + 0.5) * scale;
  gint lo = (gint) floor (centre - support + 0.5), hi = (gint) floor (centre + support + 0.5);
  lo = MAX (lo, 0);
  hi = MIN (hi, in);
  double sum = 0.0;
  for (gint i = lo; i < hi; i++) {
    w[i - lo] = filter (r, (i - centre + 0.5) / stretch);
    sum += w[i - lo];
  }
  for (gint i = lo; i < hi; i++)
    w[i - lo] /= sum;
  *first = lo;
  return hi - lo;
}

static void
ref_preprocess (const PreCase *c, const VlmImageParams *p, const guint8 *frame, gfloat *out)
{
  gint W = c->width, H = c->height, s = c->resize, crop = c->crop;
  gint64 rw, rh;
  if (W <= H) {
    rw = s;
    rh = (gint64) s * H / W;
  } else {
    rh = s;
    rw = (gint64) s * W / H;
  }
  gint ox = (gint) (rw - crop) / 2, oy = (gint) (rh - crop) / 2;
  g_autofree double *rgb = g_new (double, 3 * (gsize) W * H);
  for (gint y = 0; y < H; y++)
    for (gint x = 0; x < W; x++) {
      double px[3];
      source_rgb (c, p, frame, x, y, px);
      for (gint ch = 0; ch < 3; ch++)
        rgb[((gsize) ch * H + y) * W + x] = px[ch];
    }
  g_autofree double *wx = g_new (double, W + 8);
  g_autofree double *wy = g_new (double, H + 8);
  for (gint y = 0; y < crop; y++) {
    gint y0, ny = taps (c->filter, H, (gint) rh, y + oy, &y0, wy);
    for (gint x = 0; x < crop; x++) {
      gint x0, nx = taps (c->filter, W, (gint) rw, x + ox, &x0, wx);
      for (gint ch = 0; ch < 3; ch++) {
        double acc = 0.0;
        for (gint j = 0; j < ny; j++) {
          double racc = 0.0;
          for (gint i = 0; i < nx; i++)
            racc += wx[i] * rgb[((gsize) ch * H + y0 + j) * W + x0 + i];
          acc += wy[j] * racc;
        }
        double mean = c->clip_norm ? clip_mean[ch] : 0.0, sd = c->clip_norm ? clip_std[ch] : 1.0;
        out[((gsize) ch * crop + y) * crop + x] = (gfloat) ((acc - mean) / sd);
      }
    }
  }
}

static gboolean
run_preprocess (VlmDevice *dev, const PreCase *c, const VlmImageParams *p, const guint8 *frame,
                gsize frame_size, gfloat *out)
{
  GError *error = NULL;
  gint64 fs = (gint64) frame_size;
  gint64 oshape[4] = { 1, 3, c->crop, c->crop };
  g_autoptr (VlmTensor) src = vt_tensor (dev, VLM_DTYPE_U8, 1, &fs, frame);
  g_autoptr (VtOut) o = c->out_4d ? vt_out_new (dev, VLM_DTYPE_F32, 4, oshape, NULL)
      : vt_out_new (dev, VLM_DTYPE_F32, 3, oshape + 1, NULL);
  gboolean ok = vlm_op_preprocess (o->t, src, p, &error);
  return vt_op_ok ("preprocess", ok, &error) && vt_out_read (o, out, "preprocessed image");
}

static void
test_preprocess (gconstpointer data)
{
  const PreCase *c = data;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  VlmImageParams p;
  gsize size = frame_layout (c, &p);
  if (c->pad == 0 && c->lead == 0) {
    /* the engine's tight layout must be the one built here */
    VlmImageParams q;
    memset (&q, 0, sizeof q);
    gsize qsize = vlm_pixel_format_frame_size (c->format, c->width, c->height, &q);
    g_assert_cmpuint (qsize, ==, size);
    g_assert_cmpmem (q.stride, sizeof q.stride, p.stride, sizeof p.stride);
    g_assert_cmpmem (q.plane_offset, sizeof q.plane_offset, p.plane_offset,
                     sizeof p.plane_offset);
  }
  p.resize_short = c->resize;
  p.crop = c->crop;
  p.resample = c->filter;
  for (gint i = 0; i < 3; i++) {
    p.mean[i] = c->clip_norm ? clip_mean[i] : 0.0f;
    p.std[i] = c->clip_norm ? clip_std[i] : 1.0f;
  }
  /* random bytes everywhere, padding included (it must not be read) */
  g_autofree guint8 *frame = vt_random_bytes (&rng, size);
  gsize n = 3 * (gsize) c->crop * c->crop;
  g_autofree gfloat *ref = g_new (gfloat, n);
  g_autofree gfloat *got = g_new (gfloat, n);
  ref_preprocess (c, &p, frame, ref);
  if (!run_preprocess (vt_device (), c, &p, frame, size, got))
    return;
  vt_check_nmse ("vs naive", ref, got, n, VT_NMSE_ELEMENTWISE);
  if (vt_cpu ()) {
    g_autofree gfloat *cpu = g_new (gfloat, n);
    if (run_preprocess (vt_cpu (), c, &p, frame, size, cpu))
      vt_check_nmse ("vulkan vs cpu", cpu, got, n, VT_NMSE_ELEMENTWISE);
  }
}

void
vt_register_preprocess (const gchar *prefix)
{
  for (gsize i = 0; i < G_N_ELEMENTS (pre_cases); i++) {
    vt_add (prefix, "preprocess", pre_cases[i].name, &pre_cases[i], test_preprocess);
    vt_add_odd (prefix, "preprocess", pre_cases[i].name, &pre_cases[i], test_preprocess);
  }
}
