/* gst-vlm engine — CPU backend: one persistent thread pool per device.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The calling thread takes part in every job, so a pool of n threads starts
 * n − 1 workers. Tasks are handed out through an atomic counter (dynamic
 * scheduling). Between jobs a worker spins for a short while (ops follow
 * each other closely during a forward pass) and then sleeps on a condition
 * variable. One job runs at a time: the device's op lock serialises callers.
 */
#include <stdatomic.h>

#include "vlm-cpu.h"

/* How long an idle worker polls for the next job before it sleeps. */
#define SPIN_USEC 100

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
  atomic_int next_task;
  atomic_int n_busy;       /* workers still on the current job */
};

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

static void
run_tasks (VlmCpuPool *pool, VlmCpuTaskFunc func, gpointer data, gint n_tasks, guint thread)
{
  gint t;
  while ((t = atomic_fetch_add_explicit (&pool->next_task, 1, memory_order_relaxed)) < n_tasks)
    func (data, t, thread);
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
      if ((++spins & 63) == 0 && g_get_monotonic_time () > until)
        break;
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
    gint n_tasks = pool->n_tasks;
    g_mutex_unlock (&pool->lock);

    run_tasks (pool, func, data, n_tasks, index);

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
  atomic_init (&pool->next_task, 0);
  atomic_init (&pool->n_busy, 0);
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
  if (n_workers == 0 || n_tasks == 1) {
    for (gint t = 0; t < n_tasks; t++)
      func (data, t, 0);
    return;
  }

  g_mutex_lock (&pool->lock);
  pool->func = func;
  pool->data = data;
  pool->n_tasks = n_tasks;
  atomic_store (&pool->next_task, 0);
  atomic_store (&pool->n_busy, (gint) n_workers);
  atomic_fetch_add_explicit (&pool->generation, 1, memory_order_release);
  g_cond_broadcast (&pool->wake);
  g_mutex_unlock (&pool->lock);

  run_tasks (pool, func, data, n_tasks, 0);

  /* The workers finish the tasks they took; wait for the last one. */
  gint64 until = g_get_monotonic_time () + SPIN_USEC;
  guint spins = 0;
  while (atomic_load_explicit (&pool->n_busy, memory_order_acquire) > 0) {
    cpu_relax ();
    if ((++spins & 63) == 0 && g_get_monotonic_time () > until)
      break;
  }
  g_mutex_lock (&pool->lock);
  while (atomic_load (&pool->n_busy) > 0)
    g_cond_wait (&pool->done, &pool->lock);
  g_mutex_unlock (&pool->lock);
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
