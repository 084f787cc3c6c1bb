/* gst-vlm engine — Vulkan matmul with fused bias, activation and residual:
 * a tiled GEMM (shaders/matmul.comp) with per-shape tile configurations, and
 * a matrix-vector kernel (shaders/matvec.comp) for a few rows.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "op-grid.h"

/* Rows of x up to which the matrix-vector kernel runs. */
#define MATVEC_MAX_ROWS 4
/* Its workgroup size and output columns per workgroup. */
#define MATVEC_WG 64
#define MATVEC_NR 4

/* The GEMM takes the largest tiles that still give this many workgroups to
 * spread over the device. */
#define MIN_TILE_GROUPS 128

/* Matches the push block of matmul_head.glsl after the five offsets. */
typedef struct {
  guint32 M;
  guint32 N;
  guint32 K;
  guint32 act;
  guint32 has_bias;
  guint32 has_residual;
} MatmulPush;

/* A GEMM tile configuration: a BM×BN tile of y per workgroup, K in steps of
 * BK (a multiple of 4), TM×TN outputs per invocation (the specialization
 * constants of matmul.comp). */
typedef struct {
  guint bm, bn, bk, tm, tn;
} TileConfig;

/* Largest first. On lavapipe (the only device measured so far) 8×8 outputs
 * per invocation ran fastest, at 2.6–3.5 GFLOP/s for ViT-B shapes: llvmpipe
 * spends its time on memory accesses and barriers, which bigger register
 * tiles and deeper K steps amortise. */
static const TileConfig tile_configs[] = {
  { 128, 128, 16, 8, 8 },   /* 256 invocations, 20 KiB shared */
  { 64, 64, 32, 8, 8 },     /* 64 invocations, 18 KiB shared */
  { 32, 32, 32, 4, 4 },     /* 64 invocations, 9 KiB shared */
};

static guint
tile_invocations (const TileConfig *c)
{
  return (c->bm / c->tm) * (c->bn / c->tn);
}

static gboolean
tile_fits (VlmDevice *device, const TileConfig *c)
{
  const VlmVkLimits *lim = vlm_vk_limits (device);
  /* Both blocks, k-major in vec4s with one vec4 of padding per row. */
  guint64 shared = (guint64) (c->bm + c->bn) * (c->bk / 4 + 1) * 4 * sizeof (gfloat);
  return shared <= lim->shared_memory && tile_invocations (c) <= lim->max_workgroup_invocations;
}

static guint64
tile_count (const TileConfig *c, guint64 M, guint64 N)
{
  return ((M + c->bm - 1) / c->bm) * ((N + c->bn - 1) / c->bn);
}

/* The largest configuration that fits the device and gives at least
 * MIN_TILE_GROUPS workgroups, else the smallest that fits (the most
 * workgroups); NULL when none fits. */
static const TileConfig *
choose_tiles (VlmDevice *device, guint64 M, guint64 N)
{
  const TileConfig *fallback = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (tile_configs); i++) {
    const TileConfig *c = &tile_configs[i];
    if (!tile_fits (device, c))
      continue;
    if (tile_count (c, M, N) >= MIN_TILE_GROUPS)
      return c;
    fallback = c;
  }
  return fallback;
}

/**
 * vlm_vk_matmul:
 * @device: a Vulkan device
 * @y: output, F32 [..., N]
 * @x: input, F32 [..., K] with as many rows as @y
 * @w: weight, F32 or F16 [N, K]
 * @bias: (nullable): F32 [N]
 * @residual: (nullable): F32, shape of @y; may be @y
 * @act: activation applied before the residual is added
 * @error: return location for a #GError
 *
 * Records y = act(x·wᵀ + bias) + residual in one dispatch: the
 * matrix-vector kernel for up to four rows, else the tiled GEMM with tiles
 * chosen for the shape and the device's shared memory.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_vk_matmul (VlmDevice *device, VlmTensor *y, const VlmTensor *x, const VlmTensor *w,
               const VlmTensor *bias, const VlmTensor *residual, VlmActivation act,
               GError **error)
{
  if (!vlm_vk_check_count ("matmul", "x", (guint64) vlm_tensor_numel (x), error) ||
      !vlm_vk_check_count ("matmul", "w", (guint64) vlm_tensor_numel (w), error) ||
      !vlm_vk_check_count ("matmul", "y", (guint64) vlm_tensor_numel (y), error))
    return FALSE;
  guint64 M = (guint64) vlm_tensor_rows (x);
  guint64 N = (guint64) w->shape[0];
  guint64 K = (guint64) w->shape[1];
  gboolean f16 = w->dtype == VLM_DTYPE_F16;

  MatmulPush push = {
    .M = (guint32) M,
    .N = (guint32) N,
    .K = (guint32) K,
    .act = (guint32) act,
    .has_bias = bias != NULL,
    .has_residual = residual != NULL,
  };
  /* An absent bias or residual binds x in its place; the shader ignores it. */
  const VlmVkBinding bindings[] = {
    { x, FALSE },
    { w, FALSE },
    { bias ? bias : x, FALSE },
    { residual ? residual : x, FALSE },
    { y, TRUE },
  };
  guint32 gx, gy;

  const VlmVkLimits *lim = vlm_vk_limits (device);
  if (M <= MATVEC_MAX_ROWS && MATVEC_WG <= lim->max_workgroup_invocations &&
      (guint64) MATVEC_MAX_ROWS * MATVEC_NR * MATVEC_WG * sizeof (gfloat) <= lim->shared_memory) {
    const guint32 spec[] = { MATVEC_WG, MATVEC_NR, (guint32) M };
    vlm_vk_grid (device, (N + MATVEC_NR - 1) / MATVEC_NR, &gx, &gy);
    return vlm_vk_dispatch (device, f16 ? "matvec_f16" : "matvec_f32", spec,
                            G_N_ELEMENTS (spec), bindings, G_N_ELEMENTS (bindings), &push,
                            sizeof push, gx, gy, 1, error);
  }

  const TileConfig *c = choose_tiles (device, M, N);
  if (!c) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                 "matmul: %s has too little shared memory (%" G_GUINT64_FORMAT
                 " bytes) or too small workgroups (%u invocations) for any tile "
                 "configuration", device->name, lim->shared_memory,
                 lim->max_workgroup_invocations);
    return FALSE;
  }
  const guint32 spec[] = { tile_invocations (c), c->bm, c->bn, c->bk, c->tm, c->tn };
  vlm_vk_grid (device, tile_count (c, M, N), &gx, &gy);
  return vlm_vk_dispatch (device, f16 ? "matmul_f16" : "matmul_f32", spec, G_N_ELEMENTS (spec),
                          bindings, G_N_ELEMENTS (bindings), &push, sizeof push, gx, gy, 1,
                          error);
}
