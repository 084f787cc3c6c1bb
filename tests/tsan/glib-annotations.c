/* gst-vlm tests — GLib's locks made visible to ThreadSanitizer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * GLib implements GMutex, GRecMutex, GRWLock and GCond on Linux with futexes
 * and atomics inside libglib, which is not instrumented: TSan sees none of
 * the ordering they give, and would report every access guarded by
 * GST_OBJECT_LOCK, the model pool's lock or the engine's locks as a race.
 * Linked into a TSan-built test executable (exported with -rdynamic), these
 * definitions take the place of GLib's for every other library (GStreamer,
 * its plugins, gst-vlm): each calls GLib's own function (dlsym RTLD_NEXT)
 * and tells TSan that the lock was acquired (__tsan_acquire) or is being
 * released (__tsan_release). GLib's calls to its own locks (GMainContext,
 * GAsyncQueue, GThreadPool) bind inside libglib and stay invisible; what
 * they protect is GLib's own state, which TSan does not watch.
 *
 * Used by tests/tsan/run.sh through tests/meson.build (b_sanitize=thread).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>
#include <sanitizer/tsan_interface.h>

static void *
real (const char *name)
{
  void *f = dlsym (RTLD_NEXT, name);
  if (!f) {
    fprintf (stderr, "glib-annotations: GLib has no %s\n", name);
    abort ();
  }
  return f;
}

/* Resolved on first use; a relaxed atomic so that two first uses racing
 * (they store the same value) are not a race either. */
#define REAL(name, type) \
  static type real_##name; \
  type f_##name = __atomic_load_n (&real_##name, __ATOMIC_RELAXED); \
  if (!f_##name) { \
    f_##name = (type) real (#name); \
    __atomic_store_n (&real_##name, f_##name, __ATOMIC_RELAXED); \
  }

typedef void (*LockFunc) (gpointer);
typedef gboolean (*TryLockFunc) (gpointer);

#define LOCK(name, type) \
  void name (type *lock) { REAL (name, LockFunc); f_##name (lock); __tsan_acquire (lock); }
#define UNLOCK(name, type) \
  void name (type *lock) { REAL (name, LockFunc); __tsan_release (lock); f_##name (lock); }
#define TRYLOCK(name, type) \
  gboolean name (type *lock) \
  { \
    REAL (name, TryLockFunc); \
    gboolean ok = f_##name (lock); \
    if (ok) \
      __tsan_acquire (lock); \
    return ok; \
  }

LOCK (g_mutex_lock, GMutex)
UNLOCK (g_mutex_unlock, GMutex)
TRYLOCK (g_mutex_trylock, GMutex)
LOCK (g_rec_mutex_lock, GRecMutex)
UNLOCK (g_rec_mutex_unlock, GRecMutex)
TRYLOCK (g_rec_mutex_trylock, GRecMutex)
LOCK (g_rw_lock_writer_lock, GRWLock)
UNLOCK (g_rw_lock_writer_unlock, GRWLock)
TRYLOCK (g_rw_lock_writer_trylock, GRWLock)
LOCK (g_rw_lock_reader_lock, GRWLock)
UNLOCK (g_rw_lock_reader_unlock, GRWLock)
TRYLOCK (g_rw_lock_reader_trylock, GRWLock)

typedef void (*CondWaitFunc) (GCond *, GMutex *);
typedef gboolean (*CondWaitUntilFunc) (GCond *, GMutex *, gint64);

void
g_cond_wait (GCond *cond, GMutex *mutex)
{
  REAL (g_cond_wait, CondWaitFunc);
  __tsan_release (mutex);
  f_g_cond_wait (cond, mutex);
  __tsan_acquire (mutex);
}

gboolean
g_cond_wait_until (GCond *cond, GMutex *mutex, gint64 end_time)
{
  REAL (g_cond_wait_until, CondWaitUntilFunc);
  __tsan_release (mutex);
  gboolean ok = f_g_cond_wait_until (cond, mutex, end_time);
  __tsan_acquire (mutex);
  return ok;
}
