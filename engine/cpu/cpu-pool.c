/* gst-vlm engine — CPU backend: one persistent thread pool per device.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The calling thread takes part in every job, so a pool of n threads starts
 * n − 1 workers. The tasks of a job are split into n contiguous ranges, one
 * per thread; a thread runs its own range in order (so a task can prefetch
 * what its successor reads: the matmul's next weight panel) and, when it is
 * done, takes tasks from the end of the fullest other range, one at a time
 * (so a late or descheduled thread does not hold up the job by more than a
 * task). Between jobs a worker spins for a short while (ops follow each
 * other closely during a forward pass), yielding now and then, and then
 * sleeps on a condition variable. One job runs at a time: the device's op lock serialises callers.
 */
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "vlm-cpu.h"

/* How long an idle worker polls for the next job (and the caller for the
 * workers to finish) before it sleeps. Every 64 polls it calls
 * sched_yield(): alone on its core that returns at once, but when the
 * machine has more runnable threads than cores (another job, or a pool
 * larger than the cores it gets) it lets them run — among them, often, the
 * very thread it waits for. Measured on our 2 cores with a training job on
 * one of them (ViT-B/32, 2 threads): without the yield 12.9 images/s and
 * 74 ms CPU per image, with it 18.3–18.9 and 53 ms (one thread alone: 19). */
#define SPIN_USEC 100

/* One range per cache line (the threads update their own). */
typedef struct {
  _Alignas (64) atomic_ullong v;
} PoolRange;

struct _VlmCpuPool {
  guint n_threads;
  GThread **workers;

  GMutex lock;
  GCond wake;              /* a new job was posted, or quit */
  GCond done;              /* the last worker finished the job */
  atomic_uint generation;  /* bumped for every job */
  gboolean quit;

  VlmCpuTaskFunc func;
  gpointer data;
  gint n_tasks;
  /* Per thread, the tasks [front, back) left of its range: front in the
   * low 32 bits, back in the high 32 bits (one CAS moves either end). */
  PoolRange *ranges;
  atomic_int n_busy;       /* workers still on the current job */
  /* vlm_cpu_pool_set_timing(): thread CPU time spent in tasks, and jobs */
  gboolean timing;
  atomic_ullong task_ns;
  atomic_ullong n_jobs;
};

static inline guint64
thread_cpu_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (guint64) ts.tv_sec * 1000000000u + (guint64) ts.tv_nsec;
}

static inline guint64
range_pack (guint32 front, guint32 back)
{
  return (guint64) back << 32 | front;
}

/* Takes the first task of range @r; -1 when it is empty. */
static inline gint
range_take_front (atomic_ullong *r)
{
  unsigned long long v = atomic_load_explicit (r, memory_order_relaxed);
  for (;;) {
    guint32 front = (guint32) v, back = (guint32) (v >> 32);
    if (front >= back)
      return -1;
    if (atomic_compare_exchange_weak_explicit (r, &v, range_pack (front + 1, back),
                                               memory_order_relaxed, memory_order_relaxed))
      return (gint) front;
  }
}

/* Takes the last task of range @r; -1 when it is empty. */
static inline gint
range_take_back (atomic_ullong *r)
{
  unsigned long long v = atomic_load_explicit (r, memory_order_relaxed);
  for (;;) {
    guint32 front = (guint32) v, back = (guint32) (v >> 32);
    if (front >= back)
      return -1;
    if (atomic_compare_exchange_weak_explicit (r, &v, range_pack (front, back - 1),
                                               memory_order_relaxed, memory_order_relaxed))
      return (gint) back - 1;
  }
}

typedef struct {
  VlmCpuPool *pool;
  guint index;
} WorkerArgs;

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

static void run_tasks_untimed (VlmCpuPool *pool, VlmCpuTaskFunc func, gpointer data,
                               guint thread);

static void
run_tasks (VlmCpuPool *pool, VlmCpuTaskFunc func, gpointer data, guint thread)
{
  if (!pool->timing) {
    run_tasks_untimed (pool, func, data, thread);
    return;
  }
  guint64 t0 = thread_cpu_ns ();
  run_tasks_untimed (pool, func, data, thread);
  atomic_fetch_add_explicit (&pool->task_ns, thread_cpu_ns () - t0, memory_order_relaxed);
}

static void
run_tasks_untimed (VlmCpuPool *pool, VlmCpuTaskFunc func, gpointer data, guint thread)
{
  gint t;
  while ((t = range_take_front (&pool->ranges[thread].v)) >= 0)
    func (data, t, thread);
  /* Then help the others: the last task of the range with most left. */
  for (;;) {
    guint best = thread;
    guint32 most = 0;
    for (guint i = 0; i < pool->n_threads; i++) {
      guint64 v = atomic_load_explicit (&pool->ranges[i].v, memory_order_relaxed);
      guint32 front = (guint32) v, back = (guint32) (v >> 32);
      if (back > front && back - front > most) {
        most = back - front;
        best = i;
      }
    }
    if (most == 0)
      return;
    if ((t = range_take_back (&pool->ranges[best].v)) >= 0)
      func (data, t, thread);
  }
}

static gpointer
worker_main (gpointer user_data)
{
  WorkerArgs *args = user_data;
  VlmCpuPool *pool = args->pool;
  guint index = args->index;
  guint seen = 0;
  g_free (args);

  for (;;) {
    /* Poll first: a forward pass posts jobs back to back. */
    gint64 until = g_get_monotonic_time () + SPIN_USEC;
    guint spins = 0;
    while (atomic_load_explicit (&pool->generation, memory_order_acquire) == seen) {
      cpu_relax ();
      if ((++spins & 63) == 0) {
        if (g_get_monotonic_time () > until)
          break;
        sched_yield ();
      }
    }

    g_mutex_lock (&pool->lock);
    while (atomic_load (&pool->generation) == seen && !pool->quit)
      g_cond_wait (&pool->wake, &pool->lock);
    if (pool->quit) {
      g_mutex_unlock (&pool->lock);
      break;
    }
    seen = atomic_load (&pool->generation);
    VlmCpuTaskFunc func = pool->func;
    gpointer data = pool->data;
    g_mutex_unlock (&pool->lock);

    run_tasks (pool, func, data, index);

    if (atomic_fetch_sub_explicit (&pool->n_busy, 1, memory_order_acq_rel) == 1) {
      g_mutex_lock (&pool->lock);
      g_cond_signal (&pool->done);
      g_mutex_unlock (&pool->lock);
    }
  }
  return NULL;
}

/**
 * vlm_cpu_pool_new:
 * @n_threads: threads taking part in a job, the caller included (≥ 1)
 * @error: return location for a #GError
 *
 * Starts @n_threads − 1 worker threads that live until vlm_cpu_pool_free().
 *
 * Returns: (transfer full) (nullable): the pool, or %NULL with @error set
 *   when a thread could not be created.
 */
VlmCpuPool *
vlm_cpu_pool_new (guint n_threads, GError **error)
{
  VlmCpuPool *pool = g_new0 (VlmCpuPool, 1);
  pool->n_threads = MAX (n_threads, 1);
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->wake);
  g_cond_init (&pool->done);
  atomic_init (&pool->generation, 0);
  atomic_init (&pool->n_busy, 0);
  pool->ranges = aligned_alloc (64, pool->n_threads * sizeof (PoolRange));
  for (guint i = 0; i < pool->n_threads; i++)
    atomic_init (&pool->ranges[i].v, 0);
  pool->workers = g_new0 (GThread *, pool->n_threads);
  for (guint i = 1; i < pool->n_threads; i++) {
    WorkerArgs *args = g_new (WorkerArgs, 1);
    args->pool = pool;
    args->index = i;
    g_autofree gchar *name = g_strdup_printf ("vlm-cpu-%u", i);
    GError *local = NULL;
    pool->workers[i] = g_thread_try_new (name, worker_main, args, &local);
    if (!pool->workers[i]) {
      g_free (args);
      g_set_error (error, VLM_ERROR, VLM_ERROR_DEVICE,
                   "cpu thread pool: cannot start worker %u of %u: %s", i, pool->n_threads - 1,
                   local->message);
      g_error_free (local);
      pool->n_threads = i;
      vlm_cpu_pool_free (pool);
      return NULL;
    }
  }
  return pool;
}

/**
 * vlm_cpu_pool_free:
 * @pool: (nullable): a pool
 *
 * Stops and joins the workers. No job may be running.
 */
void
vlm_cpu_pool_free (VlmCpuPool *pool)
{
  if (!pool)
    return;
  g_mutex_lock (&pool->lock);
  pool->quit = TRUE;
  g_cond_broadcast (&pool->wake);
  g_mutex_unlock (&pool->lock);
  for (guint i = 1; i < pool->n_threads; i++)
    if (pool->workers[i])
      g_thread_join (pool->workers[i]);
  g_free (pool->workers);
  free (pool->ranges);
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->wake);
  g_cond_clear (&pool->done);
  g_free (pool);
}

/**
 * vlm_cpu_pool_n_threads:
 * @pool: a pool
 *
 * Returns: the threads a job runs on, the caller included.
 */
guint
vlm_cpu_pool_n_threads (VlmCpuPool *pool)
{
  return pool->n_threads;
}

/**
 * vlm_cpu_pool_run:
 * @pool: a pool
 * @n_tasks: number of tasks
 * @func: called once per task, on any thread of the pool
 * @data: passed to @func
 *
 * Runs one job on the calling thread and the workers and returns when every
 * task is done. Calls must not overlap (the device's op lock ensures it).
 */
void
vlm_cpu_pool_run (VlmCpuPool *pool, gint n_tasks, VlmCpuTaskFunc func, gpointer data)
{
  if (n_tasks <= 0)
    return;
  guint n_workers = pool->n_threads - 1;
  if (pool->timing)
    atomic_fetch_add_explicit (&pool->n_jobs, 1, memory_order_relaxed);
  if (n_workers == 0 || n_tasks == 1) {
    guint64 t0 = pool->timing ? thread_cpu_ns () : 0;
    for (gint t = 0; t < n_tasks; t++)
      func (data, t, 0);
    if (pool->timing)
      atomic_fetch_add_explicit (&pool->task_ns, thread_cpu_ns () - t0, memory_order_relaxed);
    return;
  }

  g_mutex_lock (&pool->lock);
  pool->func = func;
  pool->data = data;
  pool->n_tasks = n_tasks;
  for (guint i = 0; i < pool->n_threads; i++)
    atomic_store_explicit (&pool->ranges[i].v,
                           range_pack ((guint32) ((gint64) n_tasks * i / pool->n_threads),
                                       (guint32) ((gint64) n_tasks * (i + 1) / pool->n_threads)),
                           memory_order_relaxed);
  atomic_store (&pool->n_busy, (gint) n_workers);
  atomic_fetch_add_explicit (&pool->generation, 1, memory_order_release);
  g_cond_broadcast (&pool->wake);
  g_mutex_unlock (&pool->lock);

  run_tasks (pool, func, data, 0);

  /* The workers finish the tasks they took; wait for the last one. */
  gint64 until = g_get_monotonic_time () + SPIN_USEC;
  guint spins = 0;
  while (atomic_load_explicit (&pool->n_busy, memory_order_acquire) > 0) {
    cpu_relax ();
    if ((++spins & 63) == 0) {
      if (g_get_monotonic_time () > until)
        break;
      sched_yield ();
    }
  }
  g_mutex_lock (&pool->lock);
  while (atomic_load (&pool->n_busy) > 0)
    g_cond_wait (&pool->done, &pool->lock);
  g_mutex_unlock (&pool->lock);
}

/**
 * vlm_cpu_pool_set_timing:
 * @pool: a pool, idle
 * @on: whether to count
 *
 * Starts counting the CPU time threads spend inside tasks and the jobs run
 * (for VLM_CPU_PROFILE; costs two clock reads per thread and job).
 */
void
vlm_cpu_pool_set_timing (VlmCpuPool *pool, gboolean on)
{
  pool->timing = on;
}

/**
 * vlm_cpu_pool_get_timing:
 * @pool: a pool
 * @task_seconds: (out): CPU seconds all threads spent inside tasks
 * @n_jobs: (out): jobs run
 */
void
vlm_cpu_pool_get_timing (VlmCpuPool *pool, gdouble *task_seconds, guint64 *n_jobs)
{
  *task_seconds = atomic_load (&pool->task_ns) * 1e-9;
  *n_jobs = atomic_load (&pool->n_jobs);
}

typedef struct {
  VlmCpuRangeFunc func;
  gpointer data;
  gint64 n_items;
  gint n_chunks;
} RangeJob;

static void
range_task (gpointer data, gint task, guint thread)
{
  RangeJob *job = data;
  gint64 begin = job->n_items * task / job->n_chunks;
  gint64 end = job->n_items * (task + 1) / job->n_chunks;
  if (end > begin)
    job->func (job->data, begin, end, thread);
}

/**
 * vlm_cpu_pool_range:
 * @pool: a pool
 * @n_items: items to process, [0, @n_items)
 * @grain: fewest items worth a task of their own (≥ 1)
 * @func: called with contiguous sub-ranges
 * @data: passed to @func
 *
 * Splits a range of equally costly items into a few chunks per thread (so
 * a late thread does not hold up the job) and runs them on the pool.
 */
void
vlm_cpu_pool_range (VlmCpuPool *pool, gint64 n_items, gint64 grain, VlmCpuRangeFunc func,
                    gpointer data)
{
  if (n_items <= 0)
    return;
  gint64 by_grain = (n_items + MAX (grain, 1) - 1) / MAX (grain, 1);
  gint64 n_chunks = MIN (by_grain, (gint64) pool->n_threads * 4);
  if (n_chunks <= 1) {
    func (data, 0, n_items, 0);
    return;
  }
  RangeJob job = { func, data, n_items, (gint) n_chunks };
  vlm_cpu_pool_run (pool, job.n_chunks, range_task, &job);
}
