/* gst-vlm engine — CPU backend: device, storage and the backend table.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Storage is plain host memory (64-byte aligned), or the caller's memory
 * kept without a copy. Every op takes the device's op lock, so ops from
 * several threads on one device run one after the other, each spread over
 * the device's thread pool.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef VLM_CPU_HAVE_X86
#include <cpuid.h>
#endif

#include "vlm-cpu.h"

/**
 * vlm_cpu_try_alloc:
 * @nbytes: size in bytes (0 is treated as 1)
 * @what: what the memory is for, named in the error
 * @error: return location for a #GError
 *
 * Allocates 64-byte aligned memory, to be released with free().
 *
 * Returns: (nullable): the memory, or %NULL with @error set.
 */
gpointer
vlm_cpu_try_alloc (gsize nbytes, const gchar *what, GError **error)
{
  gpointer p = NULL;
  /* Round up so vector loops may touch a whole last cache line. */
  gsize size = (MAX (nbytes, 1) + 63) & ~(gsize) 63;
  if (size < nbytes || posix_memalign (&p, 64, size) != 0) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_OUT_OF_MEMORY,
                 "cpu: cannot allocate %" G_GSIZE_FORMAT " bytes for %s", nbytes, what);
    return NULL;
  }
  return p;
}

/**
 * vlm_cpu_scratch:
 * @device: a CPU device (op lock held)
 * @nbytes: bytes each thread needs
 * @error: return location for a #GError
 *
 * Per-thread scratch memory that survives between ops, so hot ops do not
 * allocate. The buffers are 64-byte aligned and uninitialised.
 *
 * Returns: (nullable): an array with one buffer per pool thread, or %NULL
 *   with @error set.
 */
gpointer *
vlm_cpu_scratch (VlmDevice *device, gsize nbytes, GError **error)
{
  VlmCpuDevice *cpu = vlm_cpu_device (device);
  if (cpu->scratch_bytes >= nbytes)
    return cpu->scratch;
  guint n = vlm_cpu_pool_n_threads (cpu->pool);
  for (guint i = 0; i < n; i++) {
    free (cpu->scratch[i]);
    cpu->scratch[i] = NULL;
  }
  cpu->scratch_bytes = 0;
  for (guint i = 0; i < n; i++) {
    cpu->scratch[i] = vlm_cpu_try_alloc (nbytes, "per-thread scratch memory", error);
    if (!cpu->scratch[i])
      return NULL;
  }
  cpu->scratch_bytes = nbytes;
  return cpu->scratch;
}

/**
 * vlm_cpu_shared_scratch:
 * @device: a CPU device (op lock held)
 * @nbytes: bytes needed
 * @error: return location for a #GError
 *
 * Scratch memory for one op, shared by the pool's threads, kept between
 * ops. 64-byte aligned and uninitialised.
 *
 * Returns: (nullable): the buffer, or %NULL with @error set.
 */
gpointer
vlm_cpu_shared_scratch (VlmDevice *device, gsize nbytes, GError **error)
{
  VlmCpuDevice *cpu = vlm_cpu_device (device);
  if (cpu->shared_bytes >= nbytes)
    return cpu->shared;
  free (cpu->shared);
  cpu->shared_bytes = 0;
  cpu->shared = vlm_cpu_try_alloc (nbytes, "shared scratch memory", error);
  if (cpu->shared)
    cpu->shared_bytes = nbytes;
  return cpu->shared;
}

#ifdef VLM_CPU_HAVE_X86
/* F16C from CPUID leaf 1 (ECX bit 29): clang 14 has no "f16c" for
 * __builtin_cpu_supports(). */
static gboolean
cpu_has_f16c (void)
{
  unsigned int a, b, c, d;
  return __get_cpuid (1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

static VlmCpuIsa const *
choose_isa (void)
{
  const gchar *force = g_getenv ("VLM_CPU_ISA");
  const VlmCpuIsa *best = vlm_cpu_isa_generic ();
#ifdef VLM_CPU_HAVE_X86
  __builtin_cpu_init ();
  gboolean avx2 = __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma") &&
      cpu_has_f16c ();
  gboolean avx512 = __builtin_cpu_supports ("avx512f") && avx2;
  if (avx512)
    best = vlm_cpu_isa_avx512 ();
  else if (avx2)
    best = vlm_cpu_isa_avx2 ();
  if (force && g_ascii_strcasecmp (force, "avx2") == 0 && avx2)
    return vlm_cpu_isa_avx2 ();
#endif
  if (force && g_ascii_strcasecmp (force, "generic") == 0)
    return vlm_cpu_isa_generic ();
  if (force && *force && g_ascii_strcasecmp (force, "avx2") != 0 &&
      g_ascii_strcasecmp (force, best->name) != 0)
    g_warning ("gst-vlm: VLM_CPU_ISA=\"%s\" is not avx2 or generic; using %s", force,
               best->name);
  return best;
}

static guint
choose_threads (void)
{
  guint cores = MAX (g_get_num_processors (), 1);
  const gchar *env = g_getenv ("VLM_THREADS");
  if (env && *env) {
    gchar *end = NULL;
    guint64 n = g_ascii_strtoull (env, &end, 10);
    if (end && *end == '\0' && n >= 1 && n <= 1024)
      return (guint) n;
    g_warning ("gst-vlm: VLM_THREADS=\"%s\" is not a number of threads (1 to 1024); "
               "using %u, one per core", env, cores);
  }
  return cores;
}

static void profile_print (VlmCpuDevice *cpu);

static void
cpu_destroy (VlmDevice *device)
{
  VlmCpuDevice *cpu = vlm_cpu_device (device);
  profile_print (cpu);
  for (guint i = 0; i < vlm_cpu_pool_n_threads (cpu->pool); i++)
    free (cpu->scratch[i]);
  g_free (cpu->scratch);
  free (cpu->shared);
  free (cpu->amx_x);
  vlm_cpu_pool_free (cpu->pool);
  g_mutex_clear (&cpu->op_lock);
  g_free (cpu);
}

/* Whether [begin, end) lies in one read-only mapping of a file, from
 * /proc/self/maps (a line "start-end perms offset dev inode path"). */
static gboolean
in_read_only_file_mapping (guintptr begin, guintptr end)
{
  g_autofree gchar *maps = NULL;
  if (!g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL))
    return FALSE;
  for (gchar *line = maps; line && *line;) {
    gchar *next = strchr (line, '\n');
    gchar *p = line;
    guint64 start = g_ascii_strtoull (p, &p, 16);
    guint64 stop = *p == '-' ? g_ascii_strtoull (p + 1, &p, 16) : 0;
    if (start <= begin && end <= stop && *p == ' ') {
      gchar perms[5] = { 0 };
      guint64 inode = 0;
      if (sscanf (p + 1, "%4s %*s %*s %" G_GUINT64_FORMAT, perms, &inode) != 2)
        return FALSE;
      return inode != 0 && perms[0] == 'r' && perms[1] == '-';
    }
    line = next ? next + 1 : NULL;
  }
  return FALSE;
}

static gboolean
keep_weights (void)
{
  static gsize keep = 0;
  if (g_once_init_enter (&keep)) {
    const gchar *env = g_getenv ("VLM_CPU_KEEP_WEIGHTS");
    g_once_init_leave (&keep, env && *env && g_strcmp0 (env, "0") != 0 ? 1 : 2);
  }
  return keep == 1;
}

/**
 * vlm_cpu_storage_packed:
 * @storage: a CPU storage holding a weight
 * @offset: first byte of the weight
 * @nbytes: its byte size
 * @packed: its packed copy, held by the storage's cache
 *
 * Gives back what the packed copy makes redundant: the whole pages of a
 * read-only file mapping (read from the file again if touched), or, when
 * @packed covers the entire storage, memory the backend owns or was handed
 * with a destroy notify (then freed or notified now; see
 * vlm_cpu_storage_restore()). Memory the caller keeps is left alone.
 */
void
vlm_cpu_storage_packed (VlmStorage *storage, gsize offset, gsize nbytes,
                        const VlmCpuPacked *packed)
{
  VlmCpuStorage *cs = storage->backend;
  if (keep_weights () || cs->written || cs->released || nbytes == 0)
    return;
  if (cs->file_backed < 0)
    cs->file_backed = !cs->alloc &&
        in_read_only_file_mapping ((guintptr) storage->host,
                                   (guintptr) storage->host + storage->nbytes);
  if (cs->file_backed) {
    guintptr page = (guintptr) sysconf (_SC_PAGESIZE);
    guintptr begin = (guintptr) storage->host + offset, end = begin + nbytes;
    guintptr first = (begin + page - 1) & ~(page - 1), last = end & ~(page - 1);
    if (last > first)
      madvise ((gpointer) first, last - first, MADV_DONTNEED);
    return;
  }
  /* Only a whole storage is freed, and only from an exact copy (split f32
   * packing keeps 16 bits of mantissa). */
  if (offset != 0 || nbytes != storage->nbytes || packed->split)
    return;
  if (cs->alloc) {
    free (cs->alloc);
    cs->alloc = NULL;
  } else if (cs->notify) {
    cs->notify (cs->notify_data);
    cs->notify = NULL;
  } else {
    return;
  }
  storage->host = NULL;
  cs->released = TRUE;
  cs->whole = packed;
}

/**
 * vlm_cpu_storage_restore:
 * @storage: a CPU storage
 * @error: return location for a #GError
 *
 * Rebuilds the bytes of a storage that vlm_cpu_storage_packed() freed, from
 * its packed copy (exact: packing only moves elements).
 *
 * Returns: %TRUE when @storage holds its bytes; %FALSE when memory ran out.
 */
gboolean
vlm_cpu_storage_restore (VlmStorage *storage, GError **error)
{
  VlmCpuStorage *cs = storage->backend;
  if (!cs->released)
    return TRUE;
  gpointer mem = vlm_cpu_try_alloc (storage->nbytes, "a weight read again after packing",
                                    error);
  if (!mem)
    return FALSE;
  vlm_cpu_unpack_weight (cs->whole, mem);
  cs->alloc = mem;
  storage->host = mem;
  cs->released = FALSE;
  cs->whole = NULL;
  return TRUE;
}

/**
 * vlm_cpu_storage_touch:
 * @storage: a CPU storage about to be written
 *
 * Gives @storage a new stamp, unique in the process: (storage, stamp)
 * names its contents, so copies derived from them (the AMX path's bf16
 * rows of x) can be reused until the next write.
 */
void
vlm_cpu_storage_touch (VlmStorage *storage)
{
  static atomic_ullong counter;
  VlmCpuStorage *cs = storage->backend;
  cs->stamp = atomic_fetch_add_explicit (&counter, 1, memory_order_relaxed) + 1;
}

static VlmStorage *
storage_wrap (gpointer host, gpointer alloc, GDestroyNotify notify, gpointer notify_data)
{
  VlmCpuStorage *cs = g_new0 (VlmCpuStorage, 1);
  cs->file_backed = -1;
  cs->alloc = alloc;
  cs->notify = notify;
  cs->notify_data = notify_data;
  VlmStorage *s = g_new0 (VlmStorage, 1);
  s->host = host;
  s->backend = cs;
  vlm_cpu_storage_touch (s);
  return s;
}

static VlmStorage *
cpu_storage_new (VlmDevice *device, gsize nbytes, GError **error)
{
  gpointer mem = vlm_cpu_try_alloc (nbytes, "a tensor", error);
  if (!mem)
    return NULL;
  return storage_wrap (mem, mem, NULL, NULL);
}

static VlmStorage *
cpu_storage_new_from_data (VlmDevice *device, gconstpointer data, gsize nbytes,
                           GDestroyNotify notify, gpointer notify_data, GError **error)
{
  return storage_wrap ((gpointer) data, NULL, notify, notify_data);
}

static void
cpu_storage_free (VlmDevice *device, VlmStorage *storage)
{
  VlmCpuStorage *cs = storage->backend;
  vlm_cpu_storage_drop_packed (storage);
  if (cs->packed)
    g_hash_table_unref (cs->packed);
  free (cs->alloc);
  if (cs->notify)
    cs->notify (cs->notify_data);
  g_free (cs);
  g_free (storage);
}

/**
 * vlm_cpu_storage_written:
 * @storage: a storage an op is about to write
 * @error: return location for a #GError
 *
 * Marks @storage as holding activations: its bytes are restored if they
 * were given back, its packed weight copies are dropped and none is made
 * again.
 *
 * Returns: %FALSE when memory to restore the bytes ran out.
 */
gboolean
vlm_cpu_storage_written (VlmStorage *storage, GError **error)
{
  VlmCpuStorage *cs = storage->backend;
  if (!cs->written) {
    if (!vlm_cpu_storage_restore (storage, error))
      return FALSE;
    cs->written = TRUE;
    vlm_cpu_storage_drop_packed (storage);
  }
  return TRUE;
}

static gboolean
cpu_upload (VlmDevice *device, VlmStorage *storage, gsize offset, gconstpointer data,
            gsize nbytes, GError **error)
{
  VlmCpuDevice *cpu = vlm_cpu_device (device);
  g_mutex_lock (&cpu->op_lock);
  gboolean ok = vlm_cpu_storage_restore (storage, error);
  if (ok) {
    vlm_cpu_storage_drop_packed (storage);
    vlm_cpu_storage_touch (storage);
    memcpy ((guint8 *) storage->host + offset, data, nbytes);
  }
  g_mutex_unlock (&cpu->op_lock);
  return ok;
}

static gboolean
cpu_download (VlmDevice *device, VlmStorage *storage, gsize offset, gpointer data,
              gsize nbytes, GError **error)
{
  VlmCpuDevice *cpu = vlm_cpu_device (device);
  g_mutex_lock (&cpu->op_lock);
  gboolean ok = vlm_cpu_storage_restore (storage, error);
  if (ok)
    memcpy (data, (const guint8 *) storage->host + offset, nbytes);
  g_mutex_unlock (&cpu->op_lock);
  return ok;
}

static gboolean
cpu_sync (VlmDevice *device, GError **error)
{
  return TRUE;
}

/* Every op takes the op lock, restores the storages it reads (see
 * vlm_cpu_storage_restore()) and marks the storages it writes (see
 * vlm_cpu_storage_written()) before it runs; @in holds @n_in inputs, any
 * of them NULL. Returns FALSE (lock held) when memory ran out. */
static gboolean
op_begin (VlmCpuDevice *cpu, GError **error, VlmTensor *out, VlmTensor *out2,
          const VlmTensor *const *in, gsize n_in)
{
  g_mutex_lock (&cpu->op_lock);
  for (gsize i = 0; i < n_in; i++)
    if (in[i] && !vlm_cpu_storage_restore (in[i]->storage, error))
      return FALSE;
  if (!vlm_cpu_storage_written (out->storage, error) ||
      (out2 && !vlm_cpu_storage_written (out2->storage, error)))
    return FALSE;
  vlm_cpu_storage_touch (out->storage);
  if (out2)
    vlm_cpu_storage_touch (out2->storage);
  return TRUE;
}

static gboolean
op_end (VlmCpuDevice *cpu, gboolean ok)
{
  g_mutex_unlock (&cpu->op_lock);
  return ok;
}

static const gchar *
dtype_label (VlmDType t)
{
  static const gchar *const names[] = { "f32", "f16", "i32", "u8", "bf16", "i8" };
  return (guint) t < G_N_ELEMENTS (names) ? names[t] : "?";
}

/* ---- VLM_CPU_PROFILE=1: time per op kind and shape, printed at exit ---- */

typedef struct {
  guint64 calls;
  gdouble wall, cpu;
  GArray *cpu_calls;       /* each call's CPU seconds, for the median */
} ProfileEntry;

static void
profile_entry_free (gpointer p)
{
  ProfileEntry *e = p;
  g_array_unref (e->cpu_calls);
  g_free (e);
}

static gint
compare_doubles (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;
  return x < y ? -1 : x > y;
}

static gdouble
clock_seconds (clockid_t id)
{
  struct timespec ts;
  clock_gettime (id, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static gint
profile_compare (gconstpointer a, gconstpointer b, gpointer table)
{
  const ProfileEntry *x = g_hash_table_lookup (table, *(const gchar **) a);
  const ProfileEntry *y = g_hash_table_lookup (table, *(const gchar **) b);
  return x->cpu < y->cpu ? 1 : x->cpu > y->cpu ? -1 : 0;
}

static void
profile_print (VlmCpuDevice *cpu)
{
  if (!cpu->profile)
    return;
  guint n;
  const gchar **keys = (const gchar **) g_hash_table_get_keys_as_array (cpu->profile, &n);
  g_qsort_with_data (keys, n, sizeof *keys, profile_compare, cpu->profile);
  gdouble wall = 0, cpus = 0;
  for (guint i = 0; i < n; i++) {
    const ProfileEntry *e = g_hash_table_lookup (cpu->profile, keys[i]);
    wall += e->wall;
    cpus += e->cpu;
  }
  fprintf (stderr, "VLM_CPU_PROFILE: %-44s %9s %10s %10s %6s %12s\n", "op", "calls",
           "wall ms", "cpu ms", "cpu %", "median cpu");
  for (guint i = 0; i < n; i++) {
    ProfileEntry *e = g_hash_table_lookup (cpu->profile, keys[i]);
    g_array_sort (e->cpu_calls, compare_doubles);
    fprintf (stderr, "VLM_CPU_PROFILE: %-44s %9" G_GUINT64_FORMAT " %10.1f %10.1f %6.1f %9.3f ms\n",
             keys[i], e->calls, e->wall * 1e3, e->cpu * 1e3, 100 * e->cpu / MAX (cpus, 1e-9),
             g_array_index (e->cpu_calls, gdouble, e->cpu_calls->len / 2) * 1e3);
  }
  fprintf (stderr, "VLM_CPU_PROFILE: %-44s %9s %10.1f %10.1f\n", "all ops", "", wall * 1e3,
           cpus * 1e3);
  gdouble task_s;
  guint64 jobs;
  vlm_cpu_pool_get_timing (cpu->pool, &task_s, &jobs);
  fprintf (stderr, "VLM_CPU_PROFILE: %" G_GUINT64_FORMAT " pool jobs; CPU ms inside tasks %.1f, "
           "in ops but outside tasks (waiting, spinning, serial parts) %.1f (%.1f%%)\n", jobs,
           task_s * 1e3, (cpus - task_s) * 1e3, 100 * (cpus - task_s) / MAX (cpus, 1e-9));
  g_free (keys);
  g_hash_table_unref (cpu->profile);
  cpu->profile = NULL;
}

static void
profile_add (VlmCpuDevice *cpu, const gdouble t0[2], const gchar *format, ...)
    G_GNUC_PRINTF (3, 4);

static void
profile_add (VlmCpuDevice *cpu, const gdouble t0[2], const gchar *format, ...)
{
  gdouble wall = clock_seconds (CLOCK_MONOTONIC) - t0[0];
  gdouble cpus = clock_seconds (CLOCK_PROCESS_CPUTIME_ID) - t0[1];
  va_list ap;
  va_start (ap, format);
  g_autofree gchar *key = g_strdup_vprintf (format, ap);
  va_end (ap);
  ProfileEntry *e = g_hash_table_lookup (cpu->profile, key);
  if (!e) {
    e = g_new0 (ProfileEntry, 1);
    e->cpu_calls = g_array_new (FALSE, FALSE, sizeof (gdouble));
    g_hash_table_insert (cpu->profile, g_steal_pointer (&key), e);
  }
  e->calls++;
  e->wall += wall;
  e->cpu += cpus;
  g_array_append_val (e->cpu_calls, cpus);
}

#define OP_BEGIN(out, out2, ...) \
  VlmCpuDevice *cpu = vlm_cpu_device (device); \
  const VlmTensor *const inputs[] = { __VA_ARGS__ }; \
  gdouble prof_t0[2] = { 0, 0 }; \
  if (cpu->profile) { \
    prof_t0[0] = clock_seconds (CLOCK_MONOTONIC); \
    prof_t0[1] = clock_seconds (CLOCK_PROCESS_CPUTIME_ID); \
  } \
  if (!op_begin (cpu, error, out, out2, inputs, G_N_ELEMENTS (inputs))) \
    return op_end (cpu, FALSE)

/* Ends an op begun with OP_BEGIN, counting its time under the label. */
#define OP_END(ok, ...) \
  G_STMT_START { \
    gboolean op_ok = (ok); \
    if (cpu->profile) \
      profile_add (cpu, prof_t0, __VA_ARGS__); \
    return op_end (cpu, op_ok); \
  } G_STMT_END

static gboolean
op_matmul (VlmDevice *device, VlmTensor *y, const VlmTensor *x, const VlmTensor *w,
           const VlmTensor *bias, const VlmTensor *residual, VlmActivation act,
           GError **error)
{
  /* w is restored by the matmul only if it has to be packed again. */
  OP_BEGIN (y, NULL, x, bias, residual);
  OP_END (vlm_cpu_matmul (device, y, x, w, bias, residual, act, error),
          "matmul %s M=%" G_GINT64_FORMAT " K=%" G_GINT64_FORMAT " N=%" G_GINT64_FORMAT "%s%s",
          dtype_label (w->dtype), vlm_tensor_rows (x), w->shape[1], w->shape[0],
          act ? " act" : "", residual ? " +res" : "");
}

static gboolean
op_matmul_scaled (VlmDevice *device, VlmTensor *y, const VlmTensor *x, const VlmTensor *w,
                  const VlmTensor *w_scale, const VlmTensor *bias, const VlmTensor *residual,
                  VlmActivation act, GError **error)
{
  OP_BEGIN (y, NULL, x, w_scale, bias, residual);
  OP_END (vlm_cpu_matmul_scaled (device, y, x, w, w_scale, bias, residual, act, error),
          "matmul %s M=%" G_GINT64_FORMAT " K=%" G_GINT64_FORMAT " N=%" G_GINT64_FORMAT "%s%s",
          dtype_label (w->dtype), vlm_tensor_rows (x), w->shape[1], w->shape[0],
          act ? " act" : "", residual ? " +res" : "");
}

static gboolean
op_layernorm (VlmDevice *device, VlmTensor *y, const VlmTensor *x, const VlmTensor *gamma,
              const VlmTensor *beta, gfloat eps, GError **error)
{
  OP_BEGIN (y, NULL, x, gamma, beta);
  OP_END (vlm_cpu_layernorm (device, y, x, gamma, beta, eps, error), "layernorm rows=%" G_GINT64_FORMAT, vlm_tensor_rows (x));
}

static gboolean
op_softmax (VlmDevice *device, VlmTensor *y, const VlmTensor *x, gfloat scale,
            const VlmTensor *mask, gboolean causal, GError **error)
{
  OP_BEGIN (y, NULL, x, mask);
  OP_END (vlm_cpu_softmax (device, y, x, scale, mask, causal, error), "softmax");
}

static gboolean
op_unary (VlmDevice *device, VlmTensor *y, const VlmTensor *x, VlmActivation act,
          GError **error)
{
  OP_BEGIN (y, NULL, x);
  OP_END (vlm_cpu_unary (device, y, x, act, error), "unary");
}

static gboolean
op_binary (VlmDevice *device, VlmTensor *y, const VlmTensor *a, const VlmTensor *b,
           VlmBinaryOp op, GError **error)
{
  OP_BEGIN (y, NULL, a, b);
  OP_END (vlm_cpu_binary (device, y, a, b, op, error), "binary");
}

static gboolean
op_attention (VlmDevice *device, VlmTensor *out, const VlmTensor *q, const VlmTensor *k,
              const VlmTensor *v, const VlmAttentionParams *params, GError **error)
{
  OP_BEGIN (out, NULL, q, k, v);
  OP_END (vlm_cpu_attention (device, out, q, k, v, params, error), "attention Sq=%" G_GINT64_FORMAT " Skv=%" G_GINT64_FORMAT " B=%" G_GINT64_FORMAT, q->shape[1], k->shape[1], q->shape[0]);
}

static gboolean
op_patchify (VlmDevice *device, VlmTensor *patches, const VlmTensor *image, gint patch,
             GError **error)
{
  OP_BEGIN (patches, NULL, image);
  OP_END (vlm_cpu_patchify (device, patches, image, patch, error), "patchify");
}

static gboolean
op_gather_rows (VlmDevice *device, VlmTensor *y, const VlmTensor *table, const VlmTensor *ids,
                GError **error)
{
  OP_BEGIN (y, NULL, table, ids);
  OP_END (vlm_cpu_gather_rows (device, y, table, ids, error), "gather_rows");
}

static gboolean
op_topk (VlmDevice *device, VlmTensor *values, VlmTensor *indices, const VlmTensor *x, gint k,
         GError **error)
{
  OP_BEGIN (values, indices, x);
  OP_END (vlm_cpu_topk (device, values, indices, x, k, error), "topk");
}

static gboolean
op_preprocess (VlmDevice *device, VlmTensor *out, const VlmTensor *src,
               const VlmImageParams *params, GError **error)
{
  OP_BEGIN (out, NULL, src);
  OP_END (vlm_cpu_preprocess (device, out, src, params, error), "preprocess");
}

static const VlmBackend cpu_backend = {
  .name = "cpu",
  .destroy = cpu_destroy,
  .storage_new = cpu_storage_new,
  .storage_new_from_data = cpu_storage_new_from_data,
  .storage_free = cpu_storage_free,
  .upload = cpu_upload,
  .download = cpu_download,
  .sync = cpu_sync,
  .matmul = op_matmul,
  .layernorm = op_layernorm,
  .softmax = op_softmax,
  .unary = op_unary,
  .binary = op_binary,
  .attention = op_attention,
  .patchify = op_patchify,
  .gather_rows = op_gather_rows,
  .topk = op_topk,
  .preprocess = op_preprocess,
  .matmul_scaled = op_matmul_scaled,
};

/**
 * vlm_cpu_device_new:
 * @error: return location for a #GError
 *
 * Opens the CPU backend: a pool of one thread per core (VLM_THREADS
 * overrides), the widest instruction set the processor has (VLM_CPU_ISA=avx2
 * or generic narrows it, for testing), f16 weights converted on the fly,
 * bf16 weights multiplied on AMX tiles when the processor has them
 * (VLM_CPU_NO_AMX=1 turns that off) and converted on the fly otherwise.
 * With AMX, f32 matmuls run on AMX too ("bf16x3", the default there):
 * each operand is split into two bf16 (hi + lo, 16 bits of mantissa
 * together instead of 24) and three of the four products are summed in f32
 * (x_lo·w_lo, 2^-16 relative, is left out): NMSE ~1e-11 against exact math
 * (the FMA kernels: ~1e-14), 1.6–1.8 times their speed on ViT-B at batch 8.
 * VLM_CPU_F32_MATH=strict keeps f32 matmuls on the FMA kernels (IEEE f32
 * products); without AMX they always are.
 *
 * Returns: (transfer full) (nullable): the device, or %NULL with @error set
 *   when the threads could not be started.
 */
VlmDevice *
vlm_cpu_device_new (GError **error)
{
  guint n_threads = choose_threads ();
  VlmCpuPool *pool = vlm_cpu_pool_new (n_threads, error);
  if (!pool)
    return NULL;
  VlmCpuDevice *cpu = g_new0 (VlmCpuDevice, 1);
  g_mutex_init (&cpu->op_lock);
  cpu->pool = pool;
  cpu->isa = choose_isa ();
#ifdef VLM_CPU_HAVE_X86
  cpu->amx = cpu->isa == vlm_cpu_isa_avx512 () && vlm_cpu_amx_init ();
#endif
  /* f32 matmuls: bf16x3 on AMX unless VLM_CPU_F32_MATH=strict (see
   * bench/GEMM.md for the measurements behind this default). */
  const gchar *math = g_getenv ("VLM_CPU_F32_MATH");
  gboolean want_x3 = TRUE;
  if (math && *math) {
    if (g_ascii_strcasecmp (math, "strict") == 0)
      want_x3 = FALSE;
    else if (g_ascii_strcasecmp (math, "bf16x3") != 0)
      g_warning ("gst-vlm: VLM_CPU_F32_MATH=\"%s\" is not strict or bf16x3; using the default "
                 "(bf16x3 with AMX, else strict)", math);
    else if (!cpu->amx)
      g_warning ("gst-vlm: VLM_CPU_F32_MATH=bf16x3 needs AMX, which this processor or kernel "
                 "does not offer; using strict f32");
  }
  cpu->f32_bf16x3 = want_x3 && cpu->amx;
  cpu->scratch = g_new0 (gpointer, n_threads);
  const gchar *profile = g_getenv ("VLM_CPU_PROFILE");
  if (profile && *profile && g_strcmp0 (profile, "0") != 0) {
    cpu->profile = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           profile_entry_free);
    vlm_cpu_pool_set_timing (pool, TRUE);
  }

  VlmDevice *dev = g_new0 (VlmDevice, 1);
  dev->ref_count = 1;
  dev->backend = &cpu_backend;
  dev->kind = VLM_BACKEND_CPU;
  dev->name = g_strdup_printf ("cpu (%u thread%s, %s%s%s)", n_threads, n_threads == 1 ? "" : "s",
                               cpu->isa->name, cpu->amx ? ", amx-bf16" : "",
                               cpu->f32_bf16x3 ? ", f32 matmul as bf16x3" : "");
  dev->reason = g_strdup ("cpu");
  dev->fp16 = TRUE;
  dev->bf16 = TRUE;
  dev->n_threads = n_threads;
  dev->priv = cpu;
  return dev;
}
