/* gst-vlm tests — data movement and selection: patchify, gather_rows, topk.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <stdlib.h>

#include "test-ops.h"

/* ---- patchify ------------------------------------------------------------ */

typedef struct {
  const gchar *name;
  gboolean image_3d;   /* [C, H, W] instead of [B, C, H, W] */
  gboolean patches_2d; /* [np, C·p·p] instead of [B, np, C·p·p] */
  gint B, C, H, W, p;
} PatchifyCase;

static const PatchifyCase patchify_cases[] = {
  { "clip-b32-1x3x224x224-p32", FALSE, FALSE, 1, 3, 224, 224, 32 },
  { "ragged-2x3x37x29-p8", FALSE, FALSE, 2, 3, 37, 29, 8 },
  { "3d-3x16x16-p16", TRUE, FALSE, 1, 3, 16, 16, 16 },
  { "2d-out-1x3x20x12-p4", FALSE, TRUE, 1, 3, 20, 12, 4 },
  { "p1-1x2x3x5", FALSE, FALSE, 1, 2, 3, 5, 1 },
  { "4ch-2x4x21x13-p5", FALSE, FALSE, 2, 4, 21, 13, 5 },
};

static gboolean
run_patchify (VlmDevice *dev, const PatchifyCase *c, const gfloat *image, gfloat *patches)
{
  GError *error = NULL;
  gint64 ishape[4] = { c->B, c->C, c->H, c->W };
  gint64 np = (gint64) (c->H / c->p) * (c->W / c->p);
  gint64 pshape[3] = { c->B, np, (gint64) c->C * c->p * c->p };
  g_autoptr (VlmTensor) it = c->image_3d ? vt_tensor (dev, VLM_DTYPE_F32, 3, ishape + 1, image)
      : vt_tensor (dev, VLM_DTYPE_F32, 4, ishape, image);
  g_autoptr (VtOut) out = c->patches_2d ? vt_out_new (dev, VLM_DTYPE_F32, 2, pshape + 1, NULL)
      : vt_out_new (dev, VLM_DTYPE_F32, 3, pshape, NULL);
  gboolean ok = vlm_op_patchify (out->t, it, c->p, &error);
  return vt_op_ok ("patchify", ok, &error) && vt_out_read (out, patches, "patches");
}

static void
test_patchify (gconstpointer data)
{
  const PatchifyCase *c = data;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize ni = (gsize) c->B * c->C * c->H * c->W;
  gint nh = c->H / c->p, nw = c->W / c->p, inner = c->C * c->p * c->p;
  gsize np = (gsize) c->B * nh * nw * inner;
  g_autofree gfloat *image = vt_uniform (&rng, ni, -1, 1);
  g_autofree gfloat *ref = g_new (gfloat, np);
  g_autofree gfloat *got = g_new (gfloat, np);
  for (gint b = 0; b < c->B; b++)
    for (gint py = 0; py < nh; py++)
      for (gint px = 0; px < nw; px++)
        for (gint ch = 0; ch < c->C; ch++)
          for (gint ky = 0; ky < c->p; ky++)
            for (gint kx = 0; kx < c->p; kx++) {
              gsize dst = (((gsize) b * nh + py) * nw + px) * inner +
                  ((gsize) ch * c->p + ky) * c->p + kx;
              gsize src = (((gsize) b * c->C + ch) * c->H + py * c->p + ky) * c->W +
                  px * c->p + kx;
              ref[dst] = image[src];
            }
  if (!run_patchify (vt_device (), c, image, got))
    return;
  /* a copy: exact */
  vt_check_exact_f32 ("vs naive", ref, got, np);
  if (vt_cpu ()) {
    g_autofree gfloat *cpu = g_new (gfloat, np);
    if (run_patchify (vt_cpu (), c, image, cpu))
      vt_check_exact_f32 ("vulkan vs cpu", cpu, got, np);
  }
}

/* ---- gather_rows -------------------------------------------------------- */

typedef struct {
  const gchar *name;
  VlmDType dtype;
  gint64 V, D;
  gint ids_ndim;
  gint64 ids_shape[2];
  gboolean out_of_range;   /* put ids outside [0, V) in */
} GatherCase;

static const GatherCase gather_cases[] = {
  { "f32-50x33-17ids-oob", VLM_DTYPE_F32, 50, 33, 1, { 17 }, TRUE },
  { "f16-50x33-17ids-oob", VLM_DTYPE_F16, 50, 33, 1, { 17 }, TRUE },
  { "f32-1000x512-2x77ids", VLM_DTYPE_F32, 1000, 512, 2, { 2, 77 }, FALSE },
  { "f16-1000x768-2x9ids-oob", VLM_DTYPE_F16, 1000, 768, 2, { 2, 9 }, TRUE },
  { "f32-1x1-1id", VLM_DTYPE_F32, 1, 1, 1, { 1 }, FALSE },
  { "f16-7x3-5ids", VLM_DTYPE_F16, 7, 3, 1, { 5 }, FALSE },
};

static gboolean
run_gather (VlmDevice *dev, const GatherCase *c, gconstpointer table, const gint32 *ids,
            gfloat *y)
{
  GError *error = NULL;
  gint64 tshape[2] = { c->V, c->D };
  gint64 yshape[3] = { c->ids_shape[0], c->ids_shape[1], c->D };
  if (c->ids_ndim == 1)
    yshape[1] = c->D;
  g_autoptr (VlmTensor) tt = vt_tensor (dev, c->dtype, 2, tshape, table);
  g_autoptr (VlmTensor) it = vt_tensor (dev, VLM_DTYPE_I32, c->ids_ndim, c->ids_shape, ids);
  g_autoptr (VtOut) out = vt_out_new (dev, VLM_DTYPE_F32, c->ids_ndim + 1, yshape, NULL);
  gboolean ok = vlm_op_gather_rows (out->t, tt, it, &error);
  return vt_op_ok ("gather_rows", ok, &error) && vt_out_read (out, y, "gathered rows");
}

static void
test_gather (gconstpointer data)
{
  const GatherCase *c = data;
  if (c->dtype == VLM_DTYPE_F16 && !vt_need_f16 (vt_device ()))
    return;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize n = (gsize) vt_numel (c->ids_ndim, c->ids_shape), D = (gsize) c->D;
  gsize nt = (gsize) c->V * D;
  g_autofree gfloat *table = vt_uniform (&rng, nt, -1, 1);
  g_autofree guint16 *table16 = g_new (guint16, nt);
  g_autofree gfloat *rounded = g_new (gfloat, nt);
  vt_to_f16 (table, nt, table16, rounded);
  const gfloat *values = c->dtype == VLM_DTYPE_F16 ? rounded : table;
  gconstpointer upload = c->dtype == VLM_DTYPE_F16 ? (gconstpointer) table16 : table;

  g_autofree gint32 *ids = g_new (gint32, n);
  static const gint32 bad_ids[] = { -1, G_MININT32, G_MAXINT32, 1000000 };
  for (gsize i = 0; i < n; i++)
    ids[i] = vt_rng_int (&rng, 0, (gint) c->V - 1);
  if (c->out_of_range) {
    for (gsize i = 0; i < G_N_ELEMENTS (bad_ids) && 2 * i + 1 < n; i++)
      ids[2 * i + 1] = bad_ids[i];
    ids[n - 1] = (gint32) c->V;  /* one past the end */
  }
  g_autofree gfloat *ref = g_new (gfloat, n * D);
  g_autofree gfloat *got = g_new (gfloat, n * D);
  for (gsize i = 0; i < n; i++)
    for (gsize d = 0; d < D; d++)
      ref[i * D + d] = ids[i] >= 0 && ids[i] < c->V ? values[(gsize) ids[i] * D + d] : 0.0f;
  if (!run_gather (vt_device (), c, upload, ids, got))
    return;
  /* f32 rows are copies; f16 rows are exact conversions (NMSE allows for a
   * device that flushes f16 subnormals). Out-of-range rows are exact 0. */
  if (c->dtype == VLM_DTYPE_F32)
    vt_check_exact_f32 ("vs naive", ref, got, n * D);
  else
    vt_check_nmse ("vs naive", ref, got, n * D, VT_NMSE_ELEMENTWISE);
  for (gsize i = 0; i < n; i++) {
    if (ids[i] >= 0 && ids[i] < c->V)
      continue;
    for (gsize d = 0; d < D; d++)
      if (got[i * D + d] != 0.0f) {
        g_test_fail_printf ("row %" G_GSIZE_FORMAT " (id %d, out of range) is not zeros", i,
                            ids[i]);
        break;
      }
  }
  if (vt_cpu ()) {
    g_autofree gfloat *cpu = g_new (gfloat, n * D);
    if (run_gather (vt_cpu (), c, upload, ids, cpu))
      vt_check_nmse ("vulkan vs cpu", cpu, got, n * D, VT_NMSE_ELEMENTWISE);
  }
}

/* ---- topk ------------------------------------------------------------------- */

typedef enum {
  TOPK_UNIFORM,
  TOPK_TIES,           /* few distinct values: many ties */
  TOPK_TIES_NAN,       /* ties, plus NaN and ±inf in some rows */
  TOPK_NAN_FIRST,      /* NaN at index 0 of every row */
  TOPK_SIGNED_ZERO,    /* only −0 and +0: all equal, index order */
  TOPK_ALL_NAN,        /* every entry NaN: index order */
} TopkPattern;

typedef struct {
  const gchar *name;
  gint ndim;
  gint64 shape[VLM_MAX_DIMS];
  gint k;
  TopkPattern pattern;
} TopkCase;

static const TopkCase topk_cases[] = {
  { "argmax-4x37", 2, { 4, 37 }, 1, TOPK_UNIFORM },
  { "argmax-ties-6x37", 2, { 6, 37 }, 1, TOPK_TIES },
  { "argmax-nan-first-5x20", 2, { 5, 20 }, 1, TOPK_NAN_FIRST },
  { "argmax-vocab-2x30522", 2, { 2, 30522 }, 1, TOPK_UNIFORM },
  { "argmax-1d-49408", 1, { 49408 }, 1, TOPK_TIES },
  { "top5-3x2x37", 3, { 3, 2, 37 }, 5, TOPK_UNIFORM },
  { "top5-ties-nan-3x2x37", 3, { 3, 2, 37 }, 5, TOPK_TIES_NAN },
  { "top37-full-sort-ties-nan-4x37", 2, { 4, 37 }, 37, TOPK_TIES_NAN },
  { "top10-ties-3x1000", 2, { 3, 1000 }, 10, TOPK_TIES },
  { "top256-ties-nan-2x1000", 2, { 2, 1000 }, 256, TOPK_TIES_NAN },
  { "top4-nan-first-3x9", 2, { 3, 9 }, 4, TOPK_NAN_FIRST },
  { "top3-signed-zero-2x8", 2, { 2, 8 }, 3, TOPK_SIGNED_ZERO },
  { "top3-all-nan-2x6", 2, { 2, 6 }, 3, TOPK_ALL_NAN },
  { "k1-n1-3x1", 2, { 3, 1 }, 1, TOPK_UNIFORM },
  { "top2-many-rows-70001x4", 2, { 70001, 4 }, 2, TOPK_TIES },
};

typedef struct {
  gfloat v;
  gint32 i;
} Entry;

/* Descending by value, NaN below every number (and equal to NaN), ties by
 * lower index. */
static int
entry_cmp (const void *pa, const void *pb)
{
  const Entry *a = pa, *b = pb;
  gboolean na = isnan (a->v), nb = isnan (b->v);
  if (na != nb)
    return na ? 1 : -1;
  if (!na && a->v != b->v)
    return a->v > b->v ? -1 : 1;
  return a->i < b->i ? -1 : (a->i > b->i ? 1 : 0);
}

static gboolean
run_topk (VlmDevice *dev, const TopkCase *c, const gfloat *x, gfloat *values, gint32 *indices)
{
  GError *error = NULL;
  gint64 oshape[VLM_MAX_DIMS];
  for (gint i = 0; i < c->ndim; i++)
    oshape[i] = c->shape[i];
  oshape[c->ndim - 1] = c->k;
  g_autoptr (VlmTensor) xt = vt_tensor (dev, VLM_DTYPE_F32, c->ndim, c->shape, x);
  g_autoptr (VtOut) vo = vt_out_new (dev, VLM_DTYPE_F32, c->ndim, oshape, NULL);
  g_autoptr (VtOut) io = vt_out_new (dev, VLM_DTYPE_I32, c->ndim, oshape, NULL);
  gboolean ok = vlm_op_topk (vo->t, io->t, xt, c->k, &error);
  if (!vt_op_ok ("topk", ok, &error))
    return FALSE;
  gboolean a = vt_out_read (vo, values, "topk values");
  gboolean b = vt_out_read (io, indices, "topk indices");
  return a && b;
}

static void
test_topk (gconstpointer data)
{
  const TopkCase *c = data;
  VtRng rng;
  vt_rng_init (&rng, c->name);
  gsize n = (gsize) vt_numel (c->ndim, c->shape), N = (gsize) c->shape[c->ndim - 1];
  gsize rows = n / N, k = (gsize) c->k;
  g_autofree gfloat *x = vt_uniform (&rng, n, -1, 1);
  for (gsize r = 0; r < rows; r++) {
    gfloat *xr = x + r * N;
    for (gsize i = 0; i < N; i++) {
      switch (c->pattern) {
        case TOPK_UNIFORM:
          break;
        case TOPK_TIES:
        case TOPK_TIES_NAN:
          xr[i] = (floorf (xr[i] * 3.0f) + 0.5f) / 3.0f;   /* 6 levels, never 0 */
          break;
        case TOPK_NAN_FIRST:
          if (i == 0)
            xr[i] = NAN;
          break;
        case TOPK_SIGNED_ZERO:
          xr[i] = xr[i] < 0.0f ? -0.0f : 0.0f;
          break;
        case TOPK_ALL_NAN:
          xr[i] = NAN;
          break;
      }
    }
    if (c->pattern == TOPK_TIES_NAN) {
      /* NaN at a few places (one of them in front), ±inf in odd rows */
      xr[r % N] = NAN;
      xr[(3 * r + N / 2) % N] = NAN;
      if (r % 2 == 1) {
        xr[(r + 5) % N] = INFINITY;
        xr[(r + 7) % N] = -INFINITY;
      }
    }
  }
  g_autofree gfloat *ref_v = g_new (gfloat, rows * k);
  g_autofree gint32 *ref_i = g_new (gint32, rows * k);
  g_autofree Entry *e = g_new (Entry, N);
  for (gsize r = 0; r < rows; r++) {
    for (gsize i = 0; i < N; i++) {
      e[i].v = x[r * N + i];
      e[i].i = (gint32) i;
    }
    qsort (e, N, sizeof (Entry), entry_cmp);
    for (gsize j = 0; j < k; j++) {
      ref_v[r * k + j] = e[j].v;
      ref_i[r * k + j] = e[j].i;
    }
  }
  g_autofree gfloat *got_v = g_new (gfloat, rows * k);
  g_autofree gint32 *got_i = g_new (gint32, rows * k);
  if (!run_topk (vt_device (), c, x, got_v, got_i))
    return;
  vt_check_exact_i32 ("indices vs naive", ref_i, got_i, rows * k);
  vt_check_exact_f32 ("values vs naive", ref_v, got_v, rows * k);
  if (vt_cpu ()) {
    g_autofree gfloat *cpu_v = g_new (gfloat, rows * k);
    g_autofree gint32 *cpu_i = g_new (gint32, rows * k);
    if (run_topk (vt_cpu (), c, x, cpu_v, cpu_i)) {
      vt_check_exact_i32 ("indices vulkan vs cpu", cpu_i, got_i, rows * k);
      vt_check_exact_f32 ("values vulkan vs cpu", cpu_v, got_v, rows * k);
    }
  }
}

void
vt_register_index (const gchar *prefix)
{
  for (gsize i = 0; i < G_N_ELEMENTS (patchify_cases); i++) {
    vt_add (prefix, "patchify", patchify_cases[i].name, &patchify_cases[i], test_patchify);
    vt_add_odd (prefix, "patchify", patchify_cases[i].name, &patchify_cases[i], test_patchify);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (gather_cases); i++) {
    vt_add (prefix, "gather_rows", gather_cases[i].name, &gather_cases[i], test_gather);
    vt_add_odd (prefix, "gather_rows", gather_cases[i].name, &gather_cases[i], test_gather);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (topk_cases); i++) {
    vt_add (prefix, "topk", topk_cases[i].name, &topk_cases[i], test_topk);
    vt_add_odd (prefix, "topk", topk_cases[i].name, &topk_cases[i], test_topk);
  }
}
