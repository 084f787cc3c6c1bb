/* gst-vlm engine — CPU backend: AVX-512 vector math shared by the kernels.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Static inline functions for files built with -mavx512f (cpu-gemm-avx512.c,
 * cpu-gemm-amx.c): e^x, erf, and the matmul activations, each following
 * vlm_cpu_act_scalar().
 */
#pragma once

#include <immintrin.h>

#include "vlm-cpu.h"

/* e^x: x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial for e^r, then
 * scalef by 2^n (which also gives 0 and inf past the float range). Relative
 * error about 2 ulp. NaN stays NaN. */
static inline __m512
exp512 (__m512 x)
{
  x = _mm512_max_ps (_mm512_set1_ps (-104.0f), _mm512_min_ps (_mm512_set1_ps (104.0f), x));
  __m512 n = _mm512_roundscale_ps (_mm512_mul_ps (x, _mm512_set1_ps (1.44269504089f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps (n, _mm512_set1_ps (0.693359375f), x);
  r = _mm512_fnmadd_ps (n, _mm512_set1_ps (-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps (1.9875691500e-4f);
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.3981999507e-3f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (8.3334519073e-3f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (4.1665795894e-2f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.6666665459e-1f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (5.0000001201e-1f));
  p = _mm512_fmadd_ps (p, _mm512_mul_ps (r, r), _mm512_add_ps (r, _mm512_set1_ps (1.0f)));
  return _mm512_scalef_ps (p, n);
}

/* x / (1 + e^(−z·x)): x·sigmoid(z·x). */
static inline __m512
x_sigmoid512 (__m512 x, __m512 zx)
{
  __m512 e = exp512 (_mm512_sub_ps (_mm512_setzero_ps (), zx));
  return _mm512_div_ps (x, _mm512_add_ps (_mm512_set1_ps (1.0f), e));
}

/* erf(x) by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7). */
static inline __m512
erf512 (__m512 x)
{
  __m512 sign = _mm512_castsi512_ps (_mm512_and_si512 (_mm512_castps_si512 (x),
                                                       _mm512_set1_epi32 ((int) 0x80000000u)));
  __m512 ax = _mm512_castsi512_ps (_mm512_andnot_si512 (_mm512_castps_si512 (sign),
                                                        _mm512_castps_si512 (x)));
  __m512 t = _mm512_div_ps (_mm512_set1_ps (1.0f),
                            _mm512_fmadd_ps (ax, _mm512_set1_ps (0.3275911f),
                                             _mm512_set1_ps (1.0f)));
  __m512 p = _mm512_set1_ps (1.061405429f);
  p = _mm512_fmadd_ps (p, t, _mm512_set1_ps (-1.453152027f));
  p = _mm512_fmadd_ps (p, t, _mm512_set1_ps (1.421413741f));
  p = _mm512_fmadd_ps (p, t, _mm512_set1_ps (-0.284496736f));
  p = _mm512_fmadd_ps (p, t, _mm512_set1_ps (0.254829592f));
  p = _mm512_mul_ps (p, t);
  __m512 e = exp512 (_mm512_sub_ps (_mm512_setzero_ps (), _mm512_mul_ps (ax, ax)));
  __m512 y = _mm512_fnmadd_ps (p, e, _mm512_set1_ps (1.0f));
  return _mm512_castsi512_ps (_mm512_or_si512 (_mm512_castps_si512 (y),
                                               _mm512_castps_si512 (sign)));
}

static inline __m512
act512 (__m512 x, VlmActivation act)
{
  switch (act) {
    case VLM_ACT_GELU_ERF: {
      __m512 e = erf512 (_mm512_mul_ps (x, _mm512_set1_ps (0.70710678118f)));
      return _mm512_mul_ps (_mm512_mul_ps (x, _mm512_set1_ps (0.5f)),
                            _mm512_add_ps (e, _mm512_set1_ps (1.0f)));
    }
    case VLM_ACT_GELU_TANH: {
      /* 0.5·x·(1 + tanh(u)) = x·sigmoid(2u) */
      __m512 x3 = _mm512_mul_ps (_mm512_mul_ps (x, x), x);
      __m512 u = _mm512_fmadd_ps (x3, _mm512_set1_ps (0.044715f), x);
      return x_sigmoid512 (x, _mm512_mul_ps (u, _mm512_set1_ps (2.0f * 0.7978845608f)));
    }
    case VLM_ACT_QUICK_GELU:
      return x_sigmoid512 (x, _mm512_mul_ps (x, _mm512_set1_ps (1.702f)));
    case VLM_ACT_NONE:
      break;
  }
  return x;
}

/* Bias, activation, residual and store of one 16-column half-row. */
static inline void
store16 (__m512 v, gfloat *c, const gfloat *bias, const gfloat *res, __mmask16 m,
         VlmActivation act)
{
  if (bias)
    v = _mm512_add_ps (v, _mm512_maskz_loadu_ps (m, bias));
  v = act512 (v, act);
  if (res)
    v = _mm512_add_ps (v, _mm512_maskz_loadu_ps (m, res));
  _mm512_mask_storeu_ps (c, m, v);
}
