/* gst-vlm engine — CPU backend: AVX-512 micro-kernels and vector activations.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Built with -mavx512f -mfma -mf16c; only called when the processor has
 * them (vlm-cpu-backend.c checks at run time).
 *
 * GEMM tile: up to 14 rows × 32 columns (two zmm per row, 28 accumulators)
 * over one block of K; per k two loads of the packed panel and one broadcast
 * per row. 14 rows measured a few percent faster than 12.
 */
#include "cpu-avx512-math.h"

#define MR 14
#define NR 32

static void
activation_avx512 (gfloat *y, const gfloat *x, gsize n, VlmActivation act)
{
  gsize i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps (y + i, act512 (_mm512_loadu_ps (x + i), act));
  if (i < n) {
    __mmask16 m = (__mmask16) ((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps (y + i, m, act512 (_mm512_maskz_loadu_ps (m, x + i), act));
  }
}

static gfloat
exp_sum_avx512 (gfloat *y, const gfloat *x, gsize n, gfloat shift)
{
  __m512 sh = _mm512_set1_ps (shift), sum = _mm512_setzero_ps ();
  gsize i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 e = exp512 (_mm512_sub_ps (_mm512_loadu_ps (x + i), sh));
    _mm512_storeu_ps (y + i, e);
    sum = _mm512_add_ps (sum, e);
  }
  if (i < n) {
    __mmask16 m = (__mmask16) ((1u << (n - i)) - 1);
    __m512 e = exp512 (_mm512_sub_ps (_mm512_maskz_loadu_ps (m, x + i), sh));
    _mm512_mask_storeu_ps (y + i, m, e);
    sum = _mm512_add_ps (sum, _mm512_maskz_mov_ps (m, e));
  }
  return _mm512_reduce_add_ps (sum);
}

static inline __attribute__ ((always_inline)) void
tile (const gint mr, gint64 kc, const gfloat *a, const gfloat *b, gfloat *sums,
      VlmCpuGemmFlags flags, gfloat *c, gsize ldc, gint n_valid, const VlmCpuTileArgs *ep)
{
  __m512 acc[MR][2];
  if (flags & VLM_CPU_GEMM_ACCUMULATE) {
    for (gint m = 0; m < mr; m++) {
      acc[m][0] = _mm512_load_ps (sums + m * NR);
      acc[m][1] = _mm512_load_ps (sums + m * NR + 16);
    }
  } else {
    for (gint m = 0; m < mr; m++)
      acc[m][0] = acc[m][1] = _mm512_setzero_ps ();
  }
  const gchar *pf = ep->prefetch;
  gsize step = ep->prefetch_step;     /* at most two cache lines */
  for (gint64 k = 0; k < kc; k++) {
    if (pf) {
      _mm_prefetch (pf + k * step, _MM_HINT_T1);
      if (step > 64)
        _mm_prefetch (pf + k * step + 64, _MM_HINT_T1);
    }
    __m512 b0 = _mm512_load_ps (b + k * NR);
    __m512 b1 = _mm512_load_ps (b + k * NR + 16);
    for (gint m = 0; m < mr; m++) {
      __m512 av = _mm512_set1_ps (a[k * mr + m]);
      acc[m][0] = _mm512_fmadd_ps (av, b0, acc[m][0]);
      acc[m][1] = _mm512_fmadd_ps (av, b1, acc[m][1]);
    }
  }
  if (!(flags & VLM_CPU_GEMM_FINAL)) {
    for (gint m = 0; m < mr; m++) {
      _mm512_store_ps (sums + m * NR, acc[m][0]);
      _mm512_store_ps (sums + m * NR + 16, acc[m][1]);
    }
    return;
  }
  __mmask16 m0 = n_valid >= 16 ? 0xffff : (__mmask16) ((1u << n_valid) - 1);
  __mmask16 m1 = n_valid >= 32 ? 0xffff : n_valid <= 16 ? 0 :
      (__mmask16) ((1u << (n_valid - 16)) - 1);
  for (gint m = 0; m < mr; m++) {
    gfloat *cm = c + m * ldc;
    const gfloat *res = ep->residual ? ep->residual + m * ep->ld_residual : NULL;
    store16 (acc[m][0], cm, ep->bias, res, m0, ep->act);
    if (m1)
      store16 (acc[m][1], cm + 16, ep->bias ? ep->bias + 16 : NULL, res ? res + 16 : NULL,
               m1, ep->act);
  }
}

static void
gemm_avx512 (gint mr, gint64 kc, const gfloat *a, const gfloat *b, gfloat *sums,
             VlmCpuGemmFlags flags, gfloat *c, gsize ldc, gint n_valid,
             const VlmCpuTileArgs *ep)
{
  switch (mr) {
#define TILE(r) case r: tile (r, kc, a, b, sums, flags, c, ldc, n_valid, ep); break;
    TILE (1) TILE (2) TILE (3) TILE (4) TILE (5) TILE (6)
    TILE (7) TILE (8) TILE (9) TILE (10) TILE (11) TILE (12) TILE (13) TILE (14)
#undef TILE
    default:
      g_assert_not_reached ();
  }
}

static void
half_to_float_avx512 (gfloat *dst, const guint16 *src, gsize n)
{
  gsize i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps (dst + i, _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) (src + i))));
  if (i < n)
    vlm_f16_to_f32 (dst + i, src + i, n - i);
}

/* Transposes 16 rows of 16 floats in place: r[j] becomes column j. */
static inline void
transpose16 (__m512 r[16])
{
  __m512 t[16];
  for (gint i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps (r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps (r[i], r[i + 1]);
  }
  for (gint i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps (t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps (t[i], t[i + 2], 0xee);
    r[i + 2] = _mm512_shuffle_ps (t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps (t[i + 1], t[i + 3], 0xee);
  }
  for (gint i = 0; i < 16; i += 8)
    for (gint j = 0; j < 4; j++) {
      t[i + j] = _mm512_shuffle_f32x4 (r[i + j], r[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_f32x4 (r[i + j], r[i + j + 4], 0xdd);
    }
  for (gint j = 0; j < 8; j++) {
    r[j] = _mm512_shuffle_f32x4 (t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4 (t[j], t[j + 8], 0xdd);
  }
}

/* Rows of x packed k-major for a tile: 16 k at a time, loaded as up to 14
 * rows of 16, transposed in registers and stored as 16 runs of mr floats
 * (~5 times the scalar loop's speed; the packing was 3–5% of a ViT pass). */
static void
pack_rows_avx512 (gfloat *dst, const gfloat *src, gsize ld, gint mr, gint64 K)
{
  __mmask16 rows = (__mmask16) ((1u << mr) - 1);
  for (gint64 k = 0; k < K; k += 16) {
    gint n = (gint) MIN (16, K - k);
    __mmask16 cols = n == 16 ? 0xffff : (__mmask16) ((1u << n) - 1);
    __m512 r[16];
    for (gint m = 0; m < 16; m++)
      r[m] = m < mr ? _mm512_maskz_loadu_ps (cols, src + m * ld + k) : _mm512_setzero_ps ();
    transpose16 (r);
    for (gint j = 0; j < n; j++)
      _mm512_mask_storeu_ps (dst + (k + j) * mr, rows, r[j]);
  }
}

static const VlmCpuIsa isa_avx512 = {
  .name = "avx512f",
  .mr = MR,
  .nr = NR,
  .gemm = gemm_avx512,
  .activation = activation_avx512,
  .half_to_float = half_to_float_avx512,
  .exp_sum = exp_sum_avx512,
  .pack_rows = pack_rows_avx512,
};

/**
 * vlm_cpu_isa_avx512:
 *
 * Returns: the AVX-512F kernels; call only when the processor has
 *   AVX-512F, AVX2, FMA and F16C.
 */
const VlmCpuIsa *
vlm_cpu_isa_avx512 (void)
{
  return &isa_avx512;
}
