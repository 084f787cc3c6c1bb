/* gst-vlm engine — CPU backend: matmul driver and the portable micro-kernel.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * y[M, N] = act(x[M, K] · w[N, K]ᵀ + bias) + residual.
 *
 * The weight is repacked into panels of NR output columns, each stored k-major
 * ([K][NR]) so a micro-kernel reads NR consecutive floats per k and
 * broadcasts one x value per row. f16 weights stay f16 in their packed form
 * and each K block of a panel is widened to f32 into per-thread scratch just
 * before use. bf16 weights are packed with pairs of consecutive k side by
 * side ([K/2][NR][2], K padded to a multiple of 32), the layout AMX tiles
 * read (cpu-gemm-amx.c); without AMX they are widened like f16.
 * Packed weights are cached on their storage (keyed by offset, dtype and
 * shape) and reused by every later matmul; storages written by ops (i.e.
 * activations) are packed per call instead, and an upload drops the cache.
 *
 * x is cut into tiles of at most MR rows of nearly equal height (50 rows
 * with MR 14 → 12, 13, 12, 13), each packed k-major into shared scratch
 * so the micro-kernel broadcasts from one stream. Work is split into tasks
 * of one panel × a chunk of tiles, which the pool runs as one contiguous
 * range per thread (so prefetches that run past the end of a panel fetch
 * the thread's next task); a chunk of x is kept small enough to stay
 * in L2 while the panels stream past it. K is done in blocks: a block of the
 * panel stays in L1 while every tile of the chunk runs over it, partial sums
 * going to per-thread scratch between blocks; the last block applies bias,
 * activation and residual on the way out (residual may be y itself, so y is
 * written only then).
 */
#include <string.h>

#include "vlm-cpu.h"

/* A chunk of x (rows × K floats) should stay below this many bytes. */
#define X_CHUNK_BYTES (768 * 1024)

/* K is done in blocks so a block of a panel (K_BLOCK × NR floats) stays in
 * L1 while every tile of a chunk uses it (for f16 weights it is widened
 * into L1 once per block; measured ~5% faster than whole-K panels). */
#define K_BLOCK 192

/* How many K blocks ahead of its work a task prefetches its weights. */
#define PREFETCH_BLOCKS 2

typedef struct {
  gsize offset;
  gint64 n, k;
  VlmDType dtype;
} PackKey;

typedef VlmCpuPacked Packed;

static guint
pack_key_hash (gconstpointer p)
{
  const PackKey *key = p;
  return (guint) (key->offset * 2654435761u) ^ (guint) (key->n * 40503u) ^ (guint) key->k;
}

static gboolean
pack_key_equal (gconstpointer a, gconstpointer b)
{
  const PackKey *x = a, *y = b;
  return x->offset == y->offset && x->n == y->n && x->k == y->k && x->dtype == y->dtype;
}

static void
packed_free (gpointer p)
{
  Packed *packed = p;
  if (packed) {
    free (packed->data);
    g_free (packed);
  }
}

/**
 * vlm_cpu_storage_drop_packed:
 * @storage: a CPU storage
 *
 * Frees every packed copy of weights held in @storage. Unless the storage
 * is being freed, its bytes must be there (vlm_cpu_storage_restore()).
 */
void
vlm_cpu_storage_drop_packed (VlmStorage *storage)
{
  VlmCpuStorage *cs = storage->backend;
  cs->whole = NULL;
  if (cs->packed)
    g_hash_table_remove_all (cs->packed);
}

typedef struct {
  const VlmTensor *w;
  Packed *packed;
} PackJob;

static void
pack_panels (gpointer data, gint64 begin, gint64 end, guint thread)
{
  PackJob *job = data;
  Packed *p = job->packed;
  gint64 N = p->n, K = p->k, KP = p->kp;
  gint nr = p->nr;
  gsize esize = vlm_dtype_size (p->dtype);
  const guint8 *src = vlm_tensor_host_data (job->w);
  for (gint64 panel = begin; panel < end; panel++) {
    guint8 *dst = (guint8 *) p->data + (gsize) panel * KP * nr * esize;
    gint64 n0 = panel * nr;
    gint cols = (gint) MIN (nr, N - n0);
    if (cols < nr || KP > K)
      memset (dst, 0, (gsize) KP * nr * esize);
    /* Read rows of w sequentially, scatter into the k-major panel. */
    for (gint j = 0; j < cols; j++) {
      const guint8 *row = src + (gsize) (n0 + j) * K * esize;
      if (p->split) {
        /* hi and lo bf16 planes, 32 k of each at a time. */
        const gfloat *r = (const gfloat *) row;
        guint16 *d = (guint16 *) dst + 2 * j;
        for (gint64 k = 0; k < K; k++) {
          guint16 hi, lo;
          gfloat rest;
          vlm_f32_to_bf16 (&hi, &r[k], 1);
          guint32 bits = (guint32) hi << 16;
          memcpy (&rest, &bits, 4);
          rest = r[k] - rest;
          vlm_f32_to_bf16 (&lo, &rest, 1);
          gsize at = (gsize) (k / 32) * 64 * nr + (gsize) ((k % 32) >> 1) * 2 * nr + (k & 1);
          d[at] = hi;
          d[at + 32 * nr] = lo;
        }
      } else if (esize == 4) {
        const gfloat *r = (const gfloat *) row;
        gfloat *d = (gfloat *) dst + j;
        for (gint64 k = 0; k < K; k++)
          d[k * nr] = r[k];
      } else if (p->dtype == VLM_DTYPE_BF16) {
        /* Pairs of k side by side: [K/2][nr][2]. */
        const guint16 *r = (const guint16 *) row;
        guint16 *d = (guint16 *) dst + 2 * j;
        for (gint64 k = 0; k < K; k++)
          d[(k >> 1) * 2 * nr + (k & 1)] = r[k];
      } else if (p->dtype == VLM_DTYPE_I8) {
        const gint8 *r = (const gint8 *) row;
        gint8 *d = (gint8 *) dst + 2 * j;
        for (gint64 k = 0; k < K; k++)
          d[(k >> 1) * 2 * nr + (k & 1)] = r[k];
      } else {
        const guint16 *r = (const guint16 *) row;
        guint16 *d = (guint16 *) dst + j;
        for (gint64 k = 0; k < K; k++)
          d[k * nr] = r[k];
      }
    }
  }
}

static Packed *
pack_weight (VlmDevice *device, const VlmTensor *w, GError **error)
{
  VlmCpuDevice *cpu = vlm_cpu_device (device);
  gint nr = cpu->isa->nr;
  Packed *p = g_new0 (Packed, 1);
  p->n = w->shape[0];
  p->k = w->shape[1];
  p->split = w->dtype == VLM_DTYPE_F32 && cpu->f32_bf16x3;
  p->kp = w->dtype == VLM_DTYPE_BF16 || w->dtype == VLM_DTYPE_I8 || p->split ?
      (p->k + VLM_CPU_BF16_KSTEP - 1) / VLM_CPU_BF16_KSTEP * VLM_CPU_BF16_KSTEP : p->k;
  p->nr = nr;
  p->dtype = w->dtype;
  gint64 n_panels = (p->n + nr - 1) / nr;
  p->data = vlm_cpu_try_alloc ((gsize) n_panels * p->kp * nr * vlm_dtype_size (w->dtype),
                               "a packed matmul weight", error);
  if (!p->data) {
    g_free (p);
    return NULL;
  }
  PackJob job = { w, p };
  vlm_cpu_pool_range (cpu->pool, n_panels, 1, pack_panels, &job);
  return p;
}

/**
 * vlm_cpu_unpack_weight:
 * @p: a packed weight
 * @dst: (out caller-allocates): N × K elements of @p's dtype
 *
 * Writes the weight back in its original row-major [N, K] layout (the
 * packing only moves elements, so this is exact).
 */
void
vlm_cpu_unpack_weight (const VlmCpuPacked *p, gpointer dst)
{
  gint64 N = p->n, K = p->k, KP = p->kp;
  gint nr = p->nr;
  gsize esize = vlm_dtype_size (p->dtype);
  for (gint64 n = 0; n < N; n++) {
    gint64 panel = n / nr;
    gint j = (gint) (n % nr);
    const guint8 *src = (const guint8 *) p->data + (gsize) panel * KP * nr * esize;
    guint8 *row = (guint8 *) dst + (gsize) n * K * esize;
    if (esize == 4) {
      for (gint64 k = 0; k < K; k++)
        ((gfloat *) row)[k] = ((const gfloat *) src)[k * nr + j];
    } else if (p->dtype == VLM_DTYPE_BF16) {
      for (gint64 k = 0; k < K; k++)
        ((guint16 *) row)[k] = ((const guint16 *) src)[(k >> 1) * 2 * nr + 2 * j + (k & 1)];
    } else if (p->dtype == VLM_DTYPE_I8) {
      for (gint64 k = 0; k < K; k++)
        ((gint8 *) row)[k] = ((const gint8 *) src)[(k >> 1) * 2 * nr + 2 * j + (k & 1)];
    } else {
      for (gint64 k = 0; k < K; k++)
        ((guint16 *) row)[k] = ((const guint16 *) src)[k * nr + j];
    }
  }
}

/* Widens @kc rows (k0 … k0 + kc − 1, k0 even) of a bf16 panel in pairs
 * layout to f32 [kc][nr]: a pair read as 32 bits holds the even k in its
 * low half and the odd k in its high half, and a bfloat16 is the high half
 * of the float it stands for. */
static void
bf16_pairs_to_float (gfloat *restrict dst, const guint16 *restrict pairs, gint64 kc, gint nr)
{
  for (gint64 k = 0; k < kc; k += 2) {
    const guint16 *src = pairs + k * nr;
    gfloat *even = dst + k * nr, *odd = even + nr;
    for (gint j = 0; j < nr; j++) {
      guint32 lo = (guint32) src[2 * j] << 16;
      memcpy (&even[j], &lo, 4);
    }
    if (k + 1 < kc)
      for (gint j = 0; j < nr; j++) {
        guint32 hi = (guint32) src[2 * j + 1] << 16;
        memcpy (&odd[j], &hi, 4);
      }
  }
}

/* The packed form of @w, from the storage's cache when it is a weight;
 * *@owned tells the caller to free a per-call packing. */
static Packed *
get_packed (VlmDevice *device, const VlmTensor *w, gboolean *owned, GError **error)
{
  VlmCpuStorage *cs = w->storage->backend;
  *owned = FALSE;
  if (cs->written) {
    *owned = TRUE;
    return pack_weight (device, w, error);
  }
  PackKey key = { w->offset, w->shape[0], w->shape[1], w->dtype };
  if (!cs->packed)
    cs->packed = g_hash_table_new_full (pack_key_hash, pack_key_equal, g_free, packed_free);
  Packed *p = g_hash_table_lookup (cs->packed, &key);
  if (p)
    return p;
  if (!vlm_cpu_storage_restore (w->storage, error))
    return NULL;
  p = pack_weight (device, w, error);
  if (p) {
    g_hash_table_insert (cs->packed, g_memdup2 (&key, sizeof key), p);
    /* Matmul reads only the packed copy from now on. */
    vlm_cpu_storage_packed (w->storage, w->offset, w->nbytes, p);
  }
  return p;
}

/* Widens @kc rows (k0 … k0 + kc − 1, k0 even) of an int8 panel in pairs
 * layout to f32 [kc][nr], each column times its scale (@n_valid scales;
 * the padding columns are zero). */
static void
i8_pairs_to_float (gfloat *restrict dst, const gint8 *restrict pairs, gint64 kc, gint nr,
                   const gfloat *scale, gint n_valid)
{
  for (gint64 k = 0; k < kc; k += 2) {
    const gint8 *src = pairs + k * nr;
    gfloat *even = dst + k * nr, *odd = even + nr;
    for (gint j = 0; j < nr; j++) {
      gfloat s = j < n_valid ? scale[j] : 0.0f;
      even[j] = src[2 * j] * s;
      if (k + 1 < kc)
        odd[j] = src[2 * j + 1] * s;
    }
  }
}

typedef struct {
  const VlmCpuIsa *isa;
  gint64 M, N, K;
  const gfloat *x;
  gfloat *xp;              /* x packed tile by tile, [K][tile rows] each */
  const Packed *w;
  const gfloat *scale;     /* int8 weights: per output column */
  const gfloat *bias;
  const gfloat *residual;
  gfloat *y;
  VlmActivation act;
  gint64 n_tiles;          /* row tiles of at most MR rows, nearly equal */
  gint64 n_panels;
  gsize w_elements;        /* of the packed weight */
  gint n_chunks;           /* groups of consecutive tiles */
  gpointer *scratch;       /* per thread: a K block of the panel widened to f32,
                            * then the chunk's partial sums */
} GemmJob;

static inline gint64
tile_row (const GemmJob *job, gint64 tile)
{
  return job->M * tile / job->n_tiles;
}

/* Packs the rows of tiles [begin, end) of x: tile rows r0 … r1 become
 * [K][r1 − r0] at xp + r0·K, so the kernel reads one stream. */
static void
pack_x_tiles (gpointer data, gint64 begin, gint64 end, guint thread)
{
  GemmJob *job = data;
  gint64 K = job->K;
  for (gint64 t = begin; t < end; t++) {
    gint64 r0 = tile_row (job, t), mr = tile_row (job, t + 1) - r0;
    job->isa->pack_rows (job->xp + r0 * K, job->x + r0 * K, (gsize) K, (gint) mr, K);
  }
}

static void
gemm_task (gpointer data, gint task, guint thread)
{
  GemmJob *job = data;
  const VlmCpuIsa *isa = job->isa;
  gint nr = isa->nr;
  gint64 K = job->K, N = job->N;
  /* One panel × one chunk of tiles; the pool runs a thread's tasks in
   * order, so the panel after this one is (mostly) this thread's next. */
  gint64 p0 = task % job->n_panels, p1 = p0 + 1;
  gint64 chunk = task / job->n_panels;
  gint64 t0 = job->n_tiles * chunk / job->n_chunks;
  gint64 t1 = job->n_tiles * (chunk + 1) / job->n_chunks;
  gfloat *wide = job->scratch ? job->scratch[thread] : NULL;  /* [KC][nr] */
  gfloat *sums = wide ? wide + K_BLOCK * nr : NULL;           /* [chunk rows][nr] */
  gint64 c0 = tile_row (job, t0);
  gsize esize = vlm_dtype_size (job->w->dtype);
  /* Prefetches run on into the next panel, up to the end of the weight. */
  gint64 KP = job->w->kp;
  gsize stream_end = (gsize) job->n_panels * KP * nr;

  for (gint64 panel = p0; panel < p1; panel++) {
    gint64 n0 = panel * nr;
    gint n_valid = (gint) MIN (nr, N - n0);
    for (gint64 k0 = 0; k0 < K; k0 += K_BLOCK) {
      gint64 kc = MIN (K_BLOCK, K - k0);
      VlmCpuGemmFlags flags = (k0 > 0 ? VLM_CPU_GEMM_ACCUMULATE : 0) |
          (k0 + kc == K ? VLM_CPU_GEMM_FINAL : 0);
      gsize at = ((gsize) panel * KP + k0) * nr;
      const gfloat *b;
      if (job->w->dtype == VLM_DTYPE_F16) {
        isa->half_to_float (wide, (const guint16 *) job->w->data + at, (gsize) kc * nr);
        b = wide;
      } else if (job->w->split) {
        b = NULL;   /* read in place by vlm_cpu_gemm_split() */
      } else if (job->w->dtype == VLM_DTYPE_BF16) {
        bf16_pairs_to_float (wide, (const guint16 *) job->w->data + at, kc, nr);
        b = wide;
      } else if (job->w->dtype == VLM_DTYPE_I8) {
        i8_pairs_to_float (wide, (const gint8 *) job->w->data + at, kc, nr, job->scale + n0,
                           n_valid);
        b = wide;
      } else {
        b = (const gfloat *) job->w->data + at;
      }
      /* Every tile of the chunk prefetches its share of the block
       * PREFETCH_BLOCKS ahead into L2: spread over the whole block's work
       * the requests stay within what the core keeps in flight (measured
       * +25% with weights from memory, against the first tile fetching the
       * whole next block). */
      gsize ahead = at + (gsize) PREFETCH_BLOCKS * K_BLOCK * nr;
      gsize slice = (((gsize) kc * nr * esize) / (gsize) (t1 - t0) + 63) & ~(gsize) 63;
      gboolean prefetch = ahead + (gsize) kc * nr <= stream_end;
      for (gint64 t = t0; t < t1; t++) {
        gint64 r0 = tile_row (job, t), r1 = tile_row (job, t + 1);
        VlmCpuTileArgs ep = {
          .bias = job->bias ? job->bias + n0 : NULL,
          .residual = job->residual ? job->residual + r0 * N + n0 : NULL,
          .ld_residual = (gsize) N,
          .act = job->act,
        };
        if (prefetch) {
          ep.prefetch = (const gchar *) job->w->data + ahead * esize + (t - t0) * slice;
          ep.prefetch_step = MAX (slice / (gsize) kc, 1);
        }
#ifdef VLM_CPU_HAVE_X86
        if (!b) {
          /* A split weight (≤ 4 rows, one tile): same bytes per k as f32,
           * so the block starts at byte 4·at. */
          vlm_cpu_gemm_split ((gint) (r1 - r0), kc, job->xp + r0 * K + k0 * (r1 - r0),
                              (const guint16 *) job->w->data + 2 * at,
                              sums ? sums + (r0 - c0) * nr : NULL, flags,
                              job->y + r0 * N + n0, (gsize) N, n_valid, &ep);
          continue;
        }
#endif
        isa->gemm ((gint) (r1 - r0), kc, job->xp + r0 * K + k0 * (r1 - r0), b,
                   sums ? sums + (r0 - c0) * nr : NULL, flags, job->y + r0 * N + n0, (gsize) N,
                   n_valid, &ep);
      }
    }
  }
}

/**
 * vlm_cpu_matmul:
 * @device: the CPU device (op lock held)
 * @y: output [..., N]
 * @x: input [..., K]
 * @w: weight [N, K], f32 or f16
 * @bias: (nullable): [N]
 * @residual: (nullable): shape of @y, may be @y
 * @act: activation before the residual
 * @error: return location for a #GError
 *
 * The matmul op on packed weights (see the top of cpu-gemm.c); bf16
 * weights go to the AMX kernels when the device has them.
 *
 * Returns: %TRUE on success; %FALSE when memory for packing ran out.
 */
gboolean
vlm_cpu_matmul (VlmDevice *device, VlmTensor *y, const VlmTensor *x, const VlmTensor *w,
                const VlmTensor *bias, const VlmTensor *residual, VlmActivation act,
                GError **error)
{
  return vlm_cpu_matmul_scaled (device, y, x, w, NULL, bias, residual, act, error);
}

/**
 * vlm_cpu_matmul_scaled:
 * @device: the CPU device (op lock held)
 * @y: output [..., N]
 * @x: input [..., K]
 * @w: weight [N, K]: f32, f16, bf16, or i8 with @w_scale
 * @w_scale: (nullable): [N], the scale of each row of an i8 @w
 * @bias: (nullable): [N]
 * @residual: (nullable): shape of @y, may be @y
 * @act: activation before the residual
 * @error: return location for a #GError
 *
 * The matmul ops (see vlm_cpu_matmul()); int8 weights are widened with
 * their scales (to bf16 for AMX, to f32 otherwise) one block at a time.
 *
 * Returns: %TRUE on success; %FALSE when memory for packing ran out.
 */
gboolean
vlm_cpu_matmul_scaled (VlmDevice *device, VlmTensor *y, const VlmTensor *x, const VlmTensor *w,
                       const VlmTensor *w_scale, const VlmTensor *bias,
                       const VlmTensor *residual, VlmActivation act, GError **error)
{
  VlmCpuDevice *cpu = vlm_cpu_device (device);
  const VlmCpuIsa *isa = cpu->isa;
  gint64 M = vlm_tensor_rows (x), K = w->shape[1], N = w->shape[0];
  gboolean owned;
  Packed *packed = get_packed (device, w, &owned, error);
  if (!packed)
    return FALSE;
#ifdef VLM_CPU_HAVE_X86
  if ((packed->dtype == VLM_DTYPE_BF16 || packed->dtype == VLM_DTYPE_I8 ||
       (packed->split && M > VLM_CPU_SPLIT_FMA_MAX_ROWS)) && cpu->amx) {
    gboolean ok = vlm_cpu_matmul_amx (device, y, x, packed, w_scale, bias, residual, act, error);
    if (owned)
      packed_free (packed);
    return ok;
  }
#endif

  GemmJob job = {
    .isa = isa,
    .M = M, .N = N, .K = K,
    .x = vlm_tensor_host_data (x),
    .w = packed,
    .scale = w_scale ? vlm_tensor_host_data (w_scale) : NULL,
    .bias = bias ? vlm_tensor_host_data (bias) : NULL,
    .residual = residual ? vlm_tensor_host_data (residual) : NULL,
    .y = vlm_tensor_host_data (y),
    .act = act,
    .n_tiles = (M + isa->mr - 1) / isa->mr,
    .n_panels = (N + isa->nr - 1) / isa->nr,
  };
  job.w_elements = (gsize) job.n_panels * packed->kp * isa->nr;
  /* Chunks of tiles: keep a chunk of x in L2, and make enough tasks to
   * feed every thread when there are few panels. */
  guint n_threads = vlm_cpu_pool_n_threads (cpu->pool);
  gint64 chunk_rows = MAX (isa->mr, X_CHUNK_BYTES / (K * (gint64) sizeof (gfloat)));
  gint64 n_chunks = (M + chunk_rows - 1) / chunk_rows;
  while (n_chunks * job.n_panels < 2 * (gint64) n_threads && n_chunks < job.n_tiles)
    n_chunks++;
  n_chunks = MIN (n_chunks, job.n_tiles);
  if (n_chunks * job.n_panels > G_MAXINT)
    n_chunks = MAX (G_MAXINT / job.n_panels, 1);
  job.n_chunks = (gint) n_chunks;

  gboolean ok = TRUE;
  job.xp = vlm_cpu_shared_scratch (device, (gsize) M * K * sizeof (gfloat), error);
  if (!job.xp)
    ok = FALSE;
  if (ok && (packed->dtype != VLM_DTYPE_F32 || K > K_BLOCK)) {
    /* Per thread: a widened block of the panel, then the partial sums of
     * the largest chunk. */
    gint64 chunk_tiles = (job.n_tiles + n_chunks - 1) / n_chunks;
    gsize floats = (gsize) (K_BLOCK + chunk_tiles * isa->mr) * isa->nr;
    job.scratch = vlm_cpu_scratch (device, floats * sizeof (gfloat), error);
    ok = job.scratch != NULL;
  }
  if (ok) {
    vlm_cpu_pool_range (cpu->pool, job.n_tiles, MAX (1, 16384 / (K * isa->mr)), pack_x_tiles,
                        &job);
    vlm_cpu_pool_run (cpu->pool, (gint) (n_chunks * job.n_panels), gemm_task, &job);
  }
  if (owned)
    packed_free (packed);
  return ok;
}

/* ---- portable ISA ---- */

#define GENERIC_MR 4
#define GENERIC_NR 16

static void
gemm_generic (gint mr, gint64 kc, const gfloat *a, const gfloat *b, gfloat *sums,
              VlmCpuGemmFlags flags, gfloat *c, gsize ldc, gint n_valid,
              const VlmCpuTileArgs *ep)
{
  gfloat acc[GENERIC_MR][GENERIC_NR] = { { 0 } };
  if (flags & VLM_CPU_GEMM_ACCUMULATE)
    memcpy (acc, sums, (gsize) mr * GENERIC_NR * sizeof (gfloat));
  for (gint64 k = 0; k < kc; k++) {
    const gfloat *bk = b + k * GENERIC_NR;
    for (gint m = 0; m < mr; m++) {
      gfloat av = a[k * mr + m];
      for (gint j = 0; j < GENERIC_NR; j++)
        acc[m][j] += av * bk[j];
    }
  }
  if (!(flags & VLM_CPU_GEMM_FINAL)) {
    memcpy (sums, acc, (gsize) mr * GENERIC_NR * sizeof (gfloat));
    return;
  }
  for (gint m = 0; m < mr; m++) {
    gfloat *cm = c + m * ldc;
    for (gint j = 0; j < n_valid; j++) {
      gfloat v = acc[m][j] + (ep->bias ? ep->bias[j] : 0.0f);
      v = vlm_cpu_act_scalar (v, ep->act);
      if (ep->residual)
        v += ep->residual[m * ep->ld_residual + j];
      cm[j] = v;
    }
  }
}

static void
pack_rows_generic (gfloat *restrict dst, const gfloat *restrict src, gsize ld, gint mr, gint64 K)
{
  /* In blocks of k so the written part stays in L1. */
  for (gint64 k0 = 0; k0 < K; k0 += 64) {
    gint64 k1 = MIN (K, k0 + 64);
    for (gint m = 0; m < mr; m++) {
      const gfloat *row = src + (gsize) m * ld;
      for (gint64 k = k0; k < k1; k++)
        dst[k * mr + m] = row[k];
    }
  }
}

static void
activation_generic (gfloat *y, const gfloat *x, gsize n, VlmActivation act)
{
  for (gsize i = 0; i < n; i++)
    y[i] = vlm_cpu_act_scalar (x[i], act);
}

static gfloat
exp_sum_generic (gfloat *y, const gfloat *x, gsize n, gfloat shift)
{
  gfloat sum = 0.0f;
  for (gsize i = 0; i < n; i++) {
    y[i] = expf (x[i] - shift);
    sum += y[i];
  }
  return sum;
}

static const VlmCpuIsa isa_generic = {
  .name = "generic",
  .mr = GENERIC_MR,
  .nr = GENERIC_NR,
  .gemm = gemm_generic,
  .activation = activation_generic,
  .half_to_float = vlm_f16_to_f32,
  .exp_sum = exp_sum_generic,
  .pack_rows = pack_rows_generic,
};

/**
 * vlm_cpu_pack_rows_generic:
 * @dst: (out caller-allocates): @K × @mr floats
 * @src: @mr rows of at least @K floats, @ld apart
 * @ld: row stride of @src, in floats
 * @mr: number of rows
 * @K: row length
 *
 * dst[k·mr + m] = src[m·ld + k]: rows of x packed k-major for a GEMM tile
 * (the portable version, also used by the AVX2 kernels).
 */
void
vlm_cpu_pack_rows_generic (gfloat *dst, const gfloat *src, gsize ld, gint mr, gint64 K)
{
  pack_rows_generic (dst, src, ld, mr, K);
}

/**
 * vlm_cpu_isa_generic:
 *
 * Returns: the portable kernels (plain C, vectorised by the compiler for
 *   the baseline instruction set).
 */
const VlmCpuIsa *
vlm_cpu_isa_generic (void)
{
  return &isa_generic;
}
