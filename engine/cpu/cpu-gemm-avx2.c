/* gst-vlm engine — CPU backend: AVX2 + FMA micro-kernels and vector activations.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Built with -mavx2 -mfma -mf16c; only called when the processor has them
 * (vlm-cpu-backend.c checks at run time).
 *
 * GEMM tile: up to 6 rows × 16 columns (two ymm per row, 12 accumulators)
 * over one block of K.
 */
#include <string.h>
#include <immintrin.h>

#include "vlm-cpu.h"

#define MR 6
#define NR 16

/* e^x, as exp512() in cpu-gemm-avx512.c but building 2^n from its bits;
 * the input is clamped to where 2^n is a normal float. NaN stays NaN. */
static inline __m256
exp256 (__m256 x)
{
  x = _mm256_max_ps (_mm256_set1_ps (-87.3f), _mm256_min_ps (_mm256_set1_ps (88.3f), x));
  __m256 n = _mm256_round_ps (_mm256_mul_ps (x, _mm256_set1_ps (1.44269504089f)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps (n, _mm256_set1_ps (0.693359375f), x);
  r = _mm256_fnmadd_ps (n, _mm256_set1_ps (-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps (1.9875691500e-4f);
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.3981999507e-3f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (8.3334519073e-3f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (4.1665795894e-2f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.6666665459e-1f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (5.0000001201e-1f));
  p = _mm256_fmadd_ps (p, _mm256_mul_ps (r, r), _mm256_add_ps (r, _mm256_set1_ps (1.0f)));
  __m256i e = _mm256_slli_epi32 (_mm256_add_epi32 (_mm256_cvtps_epi32 (n),
                                                   _mm256_set1_epi32 (127)), 23);
  return _mm256_mul_ps (p, _mm256_castsi256_ps (e));
}

static inline __m256
x_sigmoid256 (__m256 x, __m256 zx)
{
  __m256 e = exp256 (_mm256_sub_ps (_mm256_setzero_ps (), zx));
  return _mm256_div_ps (x, _mm256_add_ps (_mm256_set1_ps (1.0f), e));
}

/* erf(x) by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7). */
static inline __m256
erf256 (__m256 x)
{
  __m256 signbit = _mm256_set1_ps (-0.0f);
  __m256 sign = _mm256_and_ps (x, signbit);
  __m256 ax = _mm256_andnot_ps (signbit, x);
  __m256 t = _mm256_div_ps (_mm256_set1_ps (1.0f),
                            _mm256_fmadd_ps (ax, _mm256_set1_ps (0.3275911f),
                                             _mm256_set1_ps (1.0f)));
  __m256 p = _mm256_set1_ps (1.061405429f);
  p = _mm256_fmadd_ps (p, t, _mm256_set1_ps (-1.453152027f));
  p = _mm256_fmadd_ps (p, t, _mm256_set1_ps (1.421413741f));
  p = _mm256_fmadd_ps (p, t, _mm256_set1_ps (-0.284496736f));
  p = _mm256_fmadd_ps (p, t, _mm256_set1_ps (0.254829592f));
  p = _mm256_mul_ps (p, t);
  __m256 e = exp256 (_mm256_sub_ps (_mm256_setzero_ps (), _mm256_mul_ps (ax, ax)));
  return _mm256_or_ps (_mm256_fnmadd_ps (p, e, _mm256_set1_ps (1.0f)), sign);
}

static inline __m256
act256 (__m256 x, VlmActivation act)
{
  switch (act) {
    case VLM_ACT_GELU_ERF: {
      __m256 e = erf256 (_mm256_mul_ps (x, _mm256_set1_ps (0.70710678118f)));
      return _mm256_mul_ps (_mm256_mul_ps (x, _mm256_set1_ps (0.5f)),
                            _mm256_add_ps (e, _mm256_set1_ps (1.0f)));
    }
    case VLM_ACT_GELU_TANH: {
      __m256 x3 = _mm256_mul_ps (_mm256_mul_ps (x, x), x);
      __m256 u = _mm256_fmadd_ps (x3, _mm256_set1_ps (0.044715f), x);
      return x_sigmoid256 (x, _mm256_mul_ps (u, _mm256_set1_ps (2.0f * 0.7978845608f)));
    }
    case VLM_ACT_QUICK_GELU:
      return x_sigmoid256 (x, _mm256_mul_ps (x, _mm256_set1_ps (1.702f)));
    case VLM_ACT_NONE:
      break;
  }
  return x;
}

static void
activation_avx2 (gfloat *y, const gfloat *x, gsize n, VlmActivation act)
{
  gsize i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (y + i, act256 (_mm256_loadu_ps (x + i), act));
  if (i < n) {
    gfloat tmp[8] = { 0 };
    memcpy (tmp, x + i, (n - i) * sizeof (gfloat));
    _mm256_storeu_ps (tmp, act256 (_mm256_loadu_ps (tmp), act));
    memcpy (y + i, tmp, (n - i) * sizeof (gfloat));
  }
}

static gfloat
exp_sum_avx2 (gfloat *y, const gfloat *x, gsize n, gfloat shift)
{
  __m256 sh = _mm256_set1_ps (shift), sum = _mm256_setzero_ps ();
  gsize i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp256 (_mm256_sub_ps (_mm256_loadu_ps (x + i), sh));
    _mm256_storeu_ps (y + i, e);
    sum = _mm256_add_ps (sum, e);
  }
  gfloat tail[8], total = 0.0f;
  if (i < n) {
    gsize rest = n - i;
    for (gsize j = 0; j < 8; j++)
      tail[j] = j < rest ? x[i + j] : shift;
    _mm256_storeu_ps (tail, exp256 (_mm256_sub_ps (_mm256_loadu_ps (tail), sh)));
    for (gsize j = 0; j < rest; j++) {
      y[i + j] = tail[j];
      total += tail[j];
    }
  }
  _mm256_storeu_ps (tail, sum);
  for (gint j = 0; j < 8; j++)
    total += tail[j];
  return total;
}

/* Bias, activation, residual and store of @cnt (1 … 8) columns. */
static inline void
store8 (__m256 v, gfloat *c, const gfloat *bias, const gfloat *res, gint cnt,
        VlmActivation act)
{
  if (cnt == 8) {
    if (bias)
      v = _mm256_add_ps (v, _mm256_loadu_ps (bias));
    v = act256 (v, act);
    if (res)
      v = _mm256_add_ps (v, _mm256_loadu_ps (res));
    _mm256_storeu_ps (c, v);
    return;
  }
  gfloat tb[8] = { 0 }, tr[8] = { 0 }, tc[8];
  gsize bytes = (gsize) cnt * sizeof (gfloat);
  if (bias)
    memcpy (tb, bias, bytes);
  if (res)
    memcpy (tr, res, bytes);
  v = _mm256_add_ps (act256 (_mm256_add_ps (v, _mm256_loadu_ps (tb)), act),
                     _mm256_loadu_ps (tr));
  _mm256_storeu_ps (tc, v);
  memcpy (c, tc, bytes);
}

static inline __attribute__ ((always_inline)) void
tile (const gint mr, gint64 kc, const gfloat *a, const gfloat *b, gfloat *sums,
      VlmCpuGemmFlags flags, gfloat *c, gsize ldc, gint n_valid, const VlmCpuTileArgs *ep)
{
  __m256 acc[MR][2];
  if (flags & VLM_CPU_GEMM_ACCUMULATE) {
    for (gint m = 0; m < mr; m++) {
      acc[m][0] = _mm256_load_ps (sums + m * NR);
      acc[m][1] = _mm256_load_ps (sums + m * NR + 8);
    }
  } else {
    for (gint m = 0; m < mr; m++)
      acc[m][0] = acc[m][1] = _mm256_setzero_ps ();
  }
  const gchar *pf = ep->prefetch;
  for (gint64 k = 0; k < kc; k++) {
    if (pf) {
      _mm_prefetch (pf + k * ep->prefetch_step, _MM_HINT_T1);
      if (ep->prefetch_step > 64)
        _mm_prefetch (pf + k * ep->prefetch_step + 64, _MM_HINT_T1);
    }
    __m256 b0 = _mm256_load_ps (b + k * NR);
    __m256 b1 = _mm256_load_ps (b + k * NR + 8);
    for (gint m = 0; m < mr; m++) {
      __m256 av = _mm256_broadcast_ss (a + k * mr + m);
      acc[m][0] = _mm256_fmadd_ps (av, b0, acc[m][0]);
      acc[m][1] = _mm256_fmadd_ps (av, b1, acc[m][1]);
    }
  }
  if (!(flags & VLM_CPU_GEMM_FINAL)) {
    for (gint m = 0; m < mr; m++) {
      _mm256_store_ps (sums + m * NR, acc[m][0]);
      _mm256_store_ps (sums + m * NR + 8, acc[m][1]);
    }
    return;
  }
  gint n0 = MIN (n_valid, 8), n1 = n_valid - n0;
  for (gint m = 0; m < mr; m++) {
    gfloat *cm = c + m * ldc;
    const gfloat *res = ep->residual ? ep->residual + m * ep->ld_residual : NULL;
    store8 (acc[m][0], cm, ep->bias, res, n0, ep->act);
    if (n1 > 0)
      store8 (acc[m][1], cm + 8, ep->bias ? ep->bias + 8 : NULL, res ? res + 8 : NULL, n1,
              ep->act);
  }
}

static void
gemm_avx2 (gint mr, gint64 kc, const gfloat *a, const gfloat *b, gfloat *sums,
           VlmCpuGemmFlags flags, gfloat *c, gsize ldc, gint n_valid, const VlmCpuTileArgs *ep)
{
  switch (mr) {
#define TILE(r) case r: tile (r, kc, a, b, sums, flags, c, ldc, n_valid, ep); break;
    TILE (1) TILE (2) TILE (3) TILE (4) TILE (5) TILE (6)
#undef TILE
    default:
      g_assert_not_reached ();
  }
}

static void
half_to_float_avx2 (gfloat *dst, const guint16 *src, gsize n)
{
  gsize i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (dst + i, _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) (src + i))));
  if (i < n)
    vlm_f16_to_f32 (dst + i, src + i, n - i);
}

static const VlmCpuIsa isa_avx2 = {
  .name = "avx2",
  .mr = MR,
  .nr = NR,
  .gemm = gemm_avx2,
  .activation = activation_avx2,
  .half_to_float = half_to_float_avx2,
  .exp_sum = exp_sum_avx2,
  .pack_rows = vlm_cpu_pack_rows_generic,
};

/**
 * vlm_cpu_isa_avx2:
 *
 * Returns: the AVX2 + FMA kernels; call only when the processor has AVX2,
 *   FMA and F16C.
 */
const VlmCpuIsa *
vlm_cpu_isa_avx2 (void)
{
  return &isa_avx2;
}
