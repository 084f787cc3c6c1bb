/* gst-vlm engine — CPU backend: bf16 matmul on AMX tiles.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Built with -mamx-tile -mamx-bf16 -mavx512f -mavx512bf16 (and the flags of
 * cpu-gemm-avx512.c); called only after vlm_cpu_amx_init() said yes.
 *
 * y = act(x·wᵀ + bias) + residual with w in bf16, packed by cpu-gemm.c in
 * panels of 32 columns with pairs of consecutive k side by side
 * ([Kp/2][32][2], Kp = K rounded up to 32, zeros past K and N), which is
 * the layout a TDPBF16PS B tile reads. x is rounded to bf16 (nearest even)
 * into row-major scratch [Mp][Kp], M rounded up to 32 with zero rows. Sums
 * are f32 (the products of two bf16 are exact in f32), so the only rounding
 * beyond an f32 matmul is x's to 8 bits of mantissa.
 *
 * Tiles: tmm0–3 hold the sums of a 32 × 32 block of y (two halves of rows ×
 * two halves of columns), tmm4–5 16 rows × 32 k of x each, tmm6–7 16
 * k-pairs × 16 columns of the panel each; per 32 k: 4 tile loads, 4
 * TDPBF16PS. Work is split into tasks of a few consecutive panels × a chunk
 * of 32-row blocks; for each panel every block of the chunk runs over the
 * whole K (the panel stays in L2 after the first), stores its tiles to
 * per-thread scratch, and the epilogue (bias, activation, residual, as in
 * the AVX-512 kernel) writes y. The first block prefetches the weights
 * 16 KiB ahead of itself into L2 (on into the next panel, which the pool
 * makes this thread's next task), since at batch 1 they stream from memory
 * far slower than the tiles consume them. Measured at batch 1 (bf16x3,
 * one thread, weights from memory; bench/GEMM.md): no prefetch, every
 * other line, the second block also prefetching the next panel, or the
 * prefetches spread evenly over every block of the panel were all equal
 * or 5–20% slower.
 *
 * Also here: f32 weights split into two bf16 (bf16x3, the default f32 math
 * with AMX: three products per tile pair), and int8 weights with row scales, packed in the
 * same pairs layout as int8 and widened a panel at a time to bf16(q·scale)
 * in per-thread scratch (half the bytes of bf16 to stream at batch 1).
 */
#include <cpuid.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu-avx512-math.h"

#define NR 32
#define BLOCK_ROWS 32
/* Bytes of one k-step of a panel: 32 k = 16 pair rows of NR × 2 bf16. */
#define STEP_BYTES (16 * NR * 2 * 2)
/* How far ahead of the tiles the weights are prefetched, in bytes. */
#define PREFETCH_AHEAD (8 * STEP_BYTES)
/* Keep a chunk of x (bf16 rows) below this many bytes (L2). */
#define X_CHUNK_BYTES (768 * 1024)

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* LDTILECFG's 64-byte operand. */
typedef struct {
  guint8 palette_id;
  guint8 start_row;
  guint8 reserved[14];
  guint16 colsb[16];
  guint8 rows[16];
} __attribute__ ((packed, aligned (64))) TileConfig;

/**
 * vlm_cpu_amx_init:
 *
 * Checks that the processor has AMX-TILE, AMX-BF16 and AVX512-BF16, and
 * asks Linux for permission to use the tile registers (needed once per
 * process, kernel 5.16 or later). VLM_CPU_NO_AMX=1 turns AMX off.
 *
 * Returns: %TRUE when the AMX kernels can run.
 */
gboolean
vlm_cpu_amx_init (void)
{
  static gsize state = 0;        /* 1: usable, 2: not */
  if (g_once_init_enter (&state)) {
    unsigned int a, b, c, d, a1 = 0, b1, c1, d1;
    gboolean ok = __get_cpuid_count (7, 0, &a, &b, &c, &d) &&
        (d & (1u << 24)) && (d & (1u << 22)) &&         /* AMX-TILE, AMX-BF16 */
        __get_cpuid_count (7, 1, &a1, &b1, &c1, &d1) && (a1 & (1u << 5));   /* AVX512-BF16 */
    const gchar *off = g_getenv ("VLM_CPU_NO_AMX");
    if (off && *off && g_strcmp0 (off, "0") != 0)
      ok = FALSE;
    if (ok && syscall (SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
      ok = FALSE;
    g_once_init_leave (&state, ok ? 1 : 2);
  }
  return state == 1;
}

typedef struct {
  gint64 M, N, K, Kp;
  const gfloat *x;
  guint16 *xb;             /* x in bf16, [Mp][Kp] */
  gboolean split;          /* bf16x3: w and x as hi + lo bf16 */
  guint16 *xl;             /* with split: x − hi in bf16, [Mp][Kp] */
  const VlmCpuPacked *w;
  const gfloat *scale;     /* i8 weights: per output column */
  const gfloat *bias;
  const gfloat *residual;
  gfloat *y;
  VlmActivation act;
  gint64 n_blocks;         /* of BLOCK_ROWS rows */
  gint64 n_panels;
  gint64 n_chunks;         /* groups of consecutive blocks */
  gpointer *scratch;       /* per thread: the sums of one block, [32][32]; then
                            * for i8 weights a panel widened to bf16 */
} AmxJob;

/* Widens @pair_rows pair rows of an int8 panel (64 values each: 32
 * columns × 2 k) to bf16(q·scale of the column); @sv holds the scales of
 * the 64 positions (each column's twice). Prefetches the int8 stream up
 * to @end. */
static void
dequant_panel (guint16 *dst, const gint8 *src, gint64 pair_rows, const __m512 sv[4],
               const gint8 *end)
{
  for (gint64 r = 0; r < pair_rows; r++) {
    const gint8 *p = src + r * 64;
    if (p + PREFETCH_AHEAD / 2 < end)
      _mm_prefetch ((const char *) p + PREFETCH_AHEAD / 2, _MM_HINT_T1);
    __m512 f[4];
    for (gint q = 0; q < 4; q++)
      f[q] = _mm512_mul_ps (_mm512_cvtepi32_ps (_mm512_cvtepi8_epi32 (
          _mm_loadu_si128 ((const __m128i *) (p + 16 * q)))), sv[q]);
    _mm512_storeu_si512 ((void *) (dst + r * 64), (__m512i) _mm512_cvtne2ps_pbh (f[1], f[0]));
    _mm512_storeu_si512 ((void *) (dst + r * 64 + 32),
                         (__m512i) _mm512_cvtne2ps_pbh (f[3], f[2]));
  }
}

/* One tile of at most 4 rows over a K block of a split weight, read in
 * place: per pair of k the hi and lo pairs of 32 columns are widened to
 * f32 (hi + lo) in registers and multiplied with f32 x, as the AVX-512
 * micro-kernel does with an f32 panel (same partial sums, epilogue and
 * prefetch hint). */
static inline __attribute__ ((always_inline)) void
split_tile (const gint mr, gint64 kc, const gfloat *a, const guint16 *b, gfloat *sums,
            VlmCpuGemmFlags flags, gfloat *c, gsize ldc, gint n_valid, const VlmCpuTileArgs *ep)
{
  __m512 acc[4][2];
  if (flags & VLM_CPU_GEMM_ACCUMULATE) {
    for (gint m = 0; m < mr; m++) {
      acc[m][0] = _mm512_load_ps (sums + m * NR);
      acc[m][1] = _mm512_load_ps (sums + m * NR + 16);
    }
  } else {
    for (gint m = 0; m < mr; m++)
      acc[m][0] = acc[m][1] = _mm512_setzero_ps ();
  }
  const __m512i high = _mm512_set1_epi32 ((gint) 0xffff0000u);
  const gchar *pf = ep->prefetch;
  gsize step = ep->prefetch_step;
  for (gint64 k = 0; k < kc; k += 2) {
    if (pf) {
      _mm_prefetch (pf + k * step, _MM_HINT_T1);
      _mm_prefetch (pf + k * step + 64, _MM_HINT_T1);
      if (2 * step > 128) {
        _mm_prefetch (pf + k * step + 128, _MM_HINT_T1);
        _mm_prefetch (pf + k * step + 192, _MM_HINT_T1);
      }
    }
    const guint16 *hp = b + (k / 32) * 64 * NR + ((k % 32) >> 1) * 2 * NR;
    const guint16 *lp = hp + 32 * NR;
    __m512i h0 = _mm512_loadu_si512 ((const void *) hp);
    __m512i h1 = _mm512_loadu_si512 ((const void *) (hp + 32));
    __m512i l0 = _mm512_loadu_si512 ((const void *) lp);
    __m512i l1 = _mm512_loadu_si512 ((const void *) (lp + 32));
    __m512 e0 = _mm512_add_ps (_mm512_castsi512_ps (_mm512_slli_epi32 (h0, 16)),
                               _mm512_castsi512_ps (_mm512_slli_epi32 (l0, 16)));
    __m512 e1 = _mm512_add_ps (_mm512_castsi512_ps (_mm512_slli_epi32 (h1, 16)),
                               _mm512_castsi512_ps (_mm512_slli_epi32 (l1, 16)));
    for (gint m = 0; m < mr; m++) {
      __m512 av = _mm512_set1_ps (a[k * mr + m]);
      acc[m][0] = _mm512_fmadd_ps (av, e0, acc[m][0]);
      acc[m][1] = _mm512_fmadd_ps (av, e1, acc[m][1]);
    }
    if (k + 1 < kc) {
      __m512 o0 = _mm512_add_ps (_mm512_castsi512_ps (_mm512_and_si512 (h0, high)),
                                 _mm512_castsi512_ps (_mm512_and_si512 (l0, high)));
      __m512 o1 = _mm512_add_ps (_mm512_castsi512_ps (_mm512_and_si512 (h1, high)),
                                 _mm512_castsi512_ps (_mm512_and_si512 (l1, high)));
      for (gint m = 0; m < mr; m++) {
        __m512 av = _mm512_set1_ps (a[(k + 1) * mr + m]);
        acc[m][0] = _mm512_fmadd_ps (av, o0, acc[m][0]);
        acc[m][1] = _mm512_fmadd_ps (av, o1, acc[m][1]);
      }
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

/**
 * vlm_cpu_gemm_split:
 * @mr: rows, 1 … 4
 * @b: the split panel at the block's first k (a multiple of 32)
 *
 * The FMA micro-kernel's contract (VlmCpuGemmKernel) for a split (bf16x3)
 * f32 weight read in place, w = hi + lo: for matmuls of a few rows, where
 * 32-row AMX tiles would mostly multiply padding.
 */
void
vlm_cpu_gemm_split (gint mr, gint64 kc, const gfloat *a, const guint16 *b, gfloat *sums,
                    VlmCpuGemmFlags flags, gfloat *c, gsize ldc, gint n_valid,
                    const VlmCpuTileArgs *ep)
{
  switch (mr) {
    case 1: split_tile (1, kc, a, b, sums, flags, c, ldc, n_valid, ep); break;
    case 2: split_tile (2, kc, a, b, sums, flags, c, ldc, n_valid, ep); break;
    case 3: split_tile (3, kc, a, b, sums, flags, c, ldc, n_valid, ep); break;
    case 4: split_tile (4, kc, a, b, sums, flags, c, ldc, n_valid, ep); break;
    default: g_assert_not_reached ();
  }
}

/* Rows [begin, end) of x to bf16; rows past M and k past K are zeros. */
static void
convert_rows (gpointer data, gint64 begin, gint64 end, guint thread)
{
  AmxJob *job = data;
  gint64 K = job->K, Kp = job->Kp;
  for (gint64 m = begin; m < end; m++) {
    guint16 *dst = job->xb + m * Kp;
    guint16 *rest = job->split ? job->xl + m * Kp : NULL;
    if (m >= job->M) {
      memset (dst, 0, (gsize) Kp * 2);
      if (rest)
        memset (rest, 0, (gsize) Kp * 2);
      continue;
    }
    const gfloat *src = job->x + m * K;
    for (gint64 k = 0; k < Kp; k += 32) {
      __mmask16 m0 = k + 16 <= K ? 0xffff : k >= K ? 0 : (__mmask16) ((1u << (K - k)) - 1);
      __mmask16 m1 = k + 32 <= K ? 0xffff : k + 16 >= K ? 0 :
          (__mmask16) ((1u << (K - k - 16)) - 1);
      __m512 v0 = _mm512_maskz_loadu_ps (m0, src + k);
      __m512 v1 = _mm512_maskz_loadu_ps (m1, src + k + 16);
      __m512i h = (__m512i) _mm512_cvtne2ps_pbh (v1, v0);
      _mm512_storeu_si512 ((void *) (dst + k), h);
      if (rest) {
        /* What the bf16 leaves out: v − hi, itself rounded to bf16. */
        __m512 h0 = _mm512_castsi512_ps (_mm512_slli_epi32 (
            _mm512_cvtepu16_epi32 (_mm512_castsi512_si256 (h)), 16));
        __m512 h1 = _mm512_castsi512_ps (_mm512_slli_epi32 (
            _mm512_cvtepu16_epi32 (_mm512_extracti64x4_epi64 (h, 1)), 16));
        _mm512_storeu_si512 ((void *) (rest + k), (__m512i) _mm512_cvtne2ps_pbh (
            _mm512_sub_ps (v1, h1), _mm512_sub_ps (v0, h0)));
      }
    }
  }
}

static void
amx_task (gpointer data, gint task, guint thread)
{
  AmxJob *job = data;
  gint64 N = job->N, Kp = job->Kp, steps = Kp / 32;
  /* One panel × one chunk of row blocks; the pool runs a thread's tasks in
   * order, so the next panel is (mostly) this thread's next task. */
  gint64 p0 = task % job->n_panels, p1 = p0 + 1, chunk = task / job->n_panels;
  gint64 b0 = job->n_blocks * chunk / job->n_chunks;
  gint64 b1 = job->n_blocks * (chunk + 1) / job->n_chunks;
  gsize ldx = (gsize) Kp * 2;
  /* Bytes of one k-step of the panel: hi, and with split lo after it. */
  gsize step_bytes = job->split ? 2 * STEP_BYTES : STEP_BYTES;
  gboolean q8 = job->w->dtype == VLM_DTYPE_I8;
  /* The panels in memory: bf16 (hi, lo) steps, or int8 pairs. */
  gsize panel_bytes = q8 ? (gsize) Kp * NR : (gsize) (Kp / 32) * step_bytes;
  const guint8 *wbase = job->w->data;
  const guint8 *stream_end = wbase + (gsize) job->n_panels * panel_bytes;
  gfloat *c = job->scratch[thread];
  guint16 *widened = (guint16 *) (c + BLOCK_ROWS * NR);

  TileConfig cfg = { .palette_id = 1 };
  for (gint t = 0; t < 8; t++) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig (&cfg);

  for (gint64 panel = p0; panel < p1; panel++) {
    const guint8 *wp = wbase + (gsize) panel * panel_bytes;
    gint64 n0 = panel * NR;
    gint n_valid = (gint) MIN (NR, N - n0);
    if (q8) {
      __m512 sv[4];
      for (gint q = 0; q < 4; q++) {
        gfloat lanes[16];
        for (gint i = 0; i < 16; i++) {
          gint col = q * 8 + i / 2;
          lanes[i] = col < n_valid ? job->scale[n0 + col] : 0.0f;
        }
        sv[q] = _mm512_loadu_ps (lanes);
      }
      dequant_panel (widened, (const gint8 *) wp, Kp / 2, sv, (const gint8 *) stream_end);
      wp = (const guint8 *) widened;
    }
    __mmask16 mask0 = n_valid >= 16 ? 0xffff : (__mmask16) ((1u << n_valid) - 1);
    __mmask16 mask1 = n_valid >= 32 ? 0xffff : n_valid <= 16 ? 0 :
        (__mmask16) ((1u << (n_valid - 16)) - 1);
    for (gint64 blk = b0; blk < b1; blk++) {
      const guint8 *xa = (const guint8 *) job->xb + (gsize) blk * BLOCK_ROWS * ldx;
      const guint8 *xr = job->split ? (const guint8 *) job->xl + (gsize) blk * BLOCK_ROWS * ldx
          : NULL;
      _tile_zero (0);
      _tile_zero (1);
      _tile_zero (2);
      _tile_zero (3);
      for (gint64 s = 0; s < steps; s++) {
        const guint8 *bk = wp + (gsize) s * step_bytes;
        if (!q8 && blk == b0 && bk + PREFETCH_AHEAD < stream_end)
          for (gsize l = 0; l < step_bytes; l += 64)
            _mm_prefetch ((const char *) bk + PREFETCH_AHEAD + l, _MM_HINT_T1);
        _tile_loadd (4, xa + s * 64, ldx);
        _tile_loadd (5, xa + 16 * ldx + s * 64, ldx);
        if (xr) {
          /* bf16x3: x·w ≈ x_hi·w_lo + x_lo·w_hi + x_hi·w_hi (x_lo·w_lo,
           * 2^-16 relative, left out); small terms first. */
          _tile_loadd (6, bk + STEP_BYTES, NR * 4);
          _tile_loadd (7, bk + STEP_BYTES + 64, NR * 4);
          _tile_dpbf16ps (0, 4, 6);
          _tile_dpbf16ps (1, 4, 7);
          _tile_dpbf16ps (2, 5, 6);
          _tile_dpbf16ps (3, 5, 7);
          _tile_loadd (4, xr + s * 64, ldx);
          _tile_loadd (5, xr + 16 * ldx + s * 64, ldx);
          _tile_loadd (6, bk, NR * 4);
          _tile_loadd (7, bk + 64, NR * 4);
          _tile_dpbf16ps (0, 4, 6);
          _tile_dpbf16ps (1, 4, 7);
          _tile_dpbf16ps (2, 5, 6);
          _tile_dpbf16ps (3, 5, 7);
          _tile_loadd (4, xa + s * 64, ldx);
          _tile_loadd (5, xa + 16 * ldx + s * 64, ldx);
        } else {
          _tile_loadd (6, bk, NR * 4);
          _tile_loadd (7, bk + 64, NR * 4);
        }
        _tile_dpbf16ps (0, 4, 6);
        _tile_dpbf16ps (1, 4, 7);
        _tile_dpbf16ps (2, 5, 6);
        _tile_dpbf16ps (3, 5, 7);
      }
      _tile_stored (0, c, NR * 4);
      _tile_stored (1, c + 16, NR * 4);
      _tile_stored (2, c + 16 * NR, NR * 4);
      _tile_stored (3, c + 16 * NR + 16, NR * 4);

      gint64 r0 = blk * BLOCK_ROWS, r1 = MIN (r0 + BLOCK_ROWS, job->M);
      const gfloat *bias = job->bias ? job->bias + n0 : NULL;
      for (gint64 r = r0; r < r1; r++) {
        const gfloat *sums = c + (r - r0) * NR;
        gfloat *yr = job->y + r * N + n0;
        const gfloat *res = job->residual ? job->residual + r * N + n0 : NULL;
        store16 (_mm512_load_ps (sums), yr, bias, res, mask0, job->act);
        if (mask1)
          store16 (_mm512_load_ps (sums + 16), yr + 16, bias ? bias + 16 : NULL,
                   res ? res + 16 : NULL, mask1, job->act);
      }
    }
  }
  _tile_release ();
}

/**
 * vlm_cpu_matmul_amx:
 * @device: the CPU device (op lock held), with AMX
 * @y: output [..., N]
 * @x: input [..., K]
 * @w: the weight, packed with 32-column panels
 * @w_scale: (nullable): the row scales of an i8 @w
 * @bias: (nullable): [N]
 * @residual: (nullable): shape of @y, may be @y
 * @act: activation before the residual
 * @error: return location for a #GError
 *
 * The matmul ops for bf16 weights, f32 weights split in two bf16 and int8
 * weights (widened to bf16 with their scales, a panel at a time) on AMX
 * (see the top of this file).
 *
 * Returns: %TRUE on success; %FALSE when scratch memory ran out.
 */
gboolean
vlm_cpu_matmul_amx (VlmDevice *device, VlmTensor *y, const VlmTensor *x, const VlmCpuPacked *w,
                    const VlmTensor *w_scale, const VlmTensor *bias, const VlmTensor *residual,
                    VlmActivation act, GError **error)
{
  VlmCpuDevice *cpu = vlm_cpu_device (device);
  g_assert (w->nr == NR && w->kp % 32 == 0 &&
            (w->dtype == VLM_DTYPE_BF16 || w->split || (w->dtype == VLM_DTYPE_I8 && w_scale)));
  gint64 M = vlm_tensor_rows (x);
  AmxJob job = {
    .M = M, .N = w->n, .K = w->k, .Kp = w->kp,
    .x = vlm_tensor_host_data (x),
    .w = w,
    .scale = w_scale ? vlm_tensor_host_data (w_scale) : NULL,
    .split = w->split,
    .bias = bias ? vlm_tensor_host_data (bias) : NULL,
    .residual = residual ? vlm_tensor_host_data (residual) : NULL,
    .y = vlm_tensor_host_data (y),
    .act = act,
    .n_blocks = (M + BLOCK_ROWS - 1) / BLOCK_ROWS,
    .n_panels = (w->n + NR - 1) / NR,
  };
  guint n_threads = vlm_cpu_pool_n_threads (cpu->pool);
  gint64 chunk_blocks = MAX (1, X_CHUNK_BYTES / (job.Kp * 2 * BLOCK_ROWS));
  job.n_chunks = (job.n_blocks + chunk_blocks - 1) / chunk_blocks;
  while (job.n_chunks * job.n_panels < 2 * (gint64) n_threads && job.n_chunks < job.n_blocks)
    job.n_chunks++;
  if (job.n_chunks * job.n_panels > G_MAXINT) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "matmul: too large for the "
                 "cpu backend (%" G_GINT64_FORMAT " tasks)", job.n_chunks * job.n_panels);
    return FALSE;
  }

  gint64 Mp = job.n_blocks * BLOCK_ROWS;
  gsize plane = (gsize) Mp * job.Kp;
  /* x in bf16 is kept for the next matmul on the same contents of x
   * (storages the backend allocated and only ops write: their stamp
   * changes with every write). */
  VlmCpuStorage *xs = x->storage->backend;
  gboolean reuse = cpu->amx_x_of.storage == x->storage && cpu->amx_x_of.stamp == xs->stamp &&
      cpu->amx_x_of.offset == x->offset && cpu->amx_x_of.m == M && cpu->amx_x_of.k == job.K &&
      cpu->amx_x_of.kp == job.Kp && cpu->amx_x_of.split == job.split;
  gsize x_bytes = (job.split ? 2 : 1) * plane * 2;
  cpu->amx_x_of.storage = NULL;
  if (cpu->amx_x_bytes < x_bytes) {
    free (cpu->amx_x);
    cpu->amx_x_bytes = 0;
    cpu->amx_x = vlm_cpu_try_alloc (x_bytes, "matmul rows in bf16", error);
    if (!cpu->amx_x)
      return FALSE;
    cpu->amx_x_bytes = x_bytes;
    reuse = FALSE;
  }
  job.xb = cpu->amx_x;
  job.xl = job.split ? job.xb + plane : NULL;
  gsize widened = w->dtype == VLM_DTYPE_I8 ? (gsize) job.Kp * NR * 2 : 0;
  job.scratch = vlm_cpu_scratch (device, BLOCK_ROWS * NR * sizeof (gfloat) + widened, error);
  if (!job.scratch)
    return FALSE;
  if (!reuse)
    vlm_cpu_pool_range (cpu->pool, Mp, MAX (1, 8192 / job.Kp), convert_rows, &job);
  if (xs->alloc && xs->written && (const VlmStorage *) x->storage != y->storage) {
    cpu->amx_x_of.storage = x->storage;
    cpu->amx_x_of.stamp = xs->stamp;
    cpu->amx_x_of.offset = x->offset;
    cpu->amx_x_of.m = M;
    cpu->amx_x_of.k = job.K;
    cpu->amx_x_of.kp = job.Kp;
    cpu->amx_x_of.split = job.split;
  }
  vlm_cpu_pool_run (cpu->pool, (gint) (job.n_chunks * job.n_panels), amx_task, &job);
  return TRUE;
}
