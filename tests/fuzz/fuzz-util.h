/* gst-vlm — helpers shared by the libFuzzer targets in tests/fuzz/.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The loaders under test read files by path, so each input is written to a
 * private folder (in /dev/shm when it exists: no disk traffic) and loaded
 * from there. Inputs that stand for several files are split at
 * FUZZ_SEPARATOR ("\n=====\n"), in a fixed order documented by each target.
 *
 * Invariants checked on every input (a violation aborts, which libFuzzer
 * reports as a crash):
 *   - a refusal returns a GError in the VLM_ERROR domain whose message names
 *     the file (fuzz_check_refusal);
 *   - GLib criticals and warnings are fatal (a g_return_if_fail() hit or a
 *     json-glib warning is a bug here).
 */
#pragma once

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "vlm-device.h"

#define FUZZ_SEPARATOR "\n=====\n"

static gchar *fuzz_dir;

static inline void
fuzz_cleanup (void)
{
  if (!fuzz_dir)
    return;
  GDir *d = g_dir_open (fuzz_dir, 0, NULL);
  if (d) {
    const gchar *name;
    while ((name = g_dir_read_name (d))) {
      g_autofree gchar *p = g_build_filename (fuzz_dir, name, NULL);
      g_unlink (p);
    }
    g_dir_close (d);
  }
  g_rmdir (fuzz_dir);
  g_clear_pointer (&fuzz_dir, g_free);
}

/* The folder the inputs are written to, created on first use. */
static inline const gchar *
fuzz_folder (void)
{
  if (fuzz_dir)
    return fuzz_dir;
  const gchar *base = g_getenv ("VLM_FUZZ_TMPDIR");
  if (!base)
    base = g_access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : g_get_tmp_dir ();
  g_autofree gchar *tmpl = g_build_filename (base, "vlm-fuzz-XXXXXX", NULL);
  fuzz_dir = g_mkdtemp (g_steal_pointer (&tmpl));
  if (!fuzz_dir)
    g_error ("fuzz: cannot create a folder under %s", base);
  atexit (fuzz_cleanup);
  return fuzz_dir;
}

/* g_error() and fatal log messages stop with SIGTRAP (G_BREAKPOINT), which
 * libFuzzer does not catch: turn it into abort(), which it does. */
static inline void
fuzz_on_trap (int sig)
{
  abort ();
}

/* Makes GLib's criticals and warnings abort like errors do. */
static inline void
fuzz_init_glib (void)
{
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  signal (SIGTRAP, fuzz_on_trap);
  fuzz_folder ();
}

/* Writes @len bytes as @name in the fuzz folder (@data NULL: removes the
 * file, so that "absent" is one of the cases). Returns the path (free it). */
static inline gchar *
fuzz_file (const gchar *name, const void *data, gsize len)
{
  gchar *path = g_build_filename (fuzz_folder (), name, NULL);
  if (!data) {
    g_unlink (path);
    return path;
  }
  GError *error = NULL;
  if (!g_file_set_contents (path, data, (gssize) len, &error))
    g_error ("fuzz: cannot write %s: %s", path, error->message);
  return path;
}

/* Splits @data at FUZZ_SEPARATOR into at most @max parts: parts[i] and
 * lens[i]; missing parts are NULL. Returns the number of parts found. */
static inline guint
fuzz_split (const uint8_t *data, size_t size, guint max, const uint8_t **parts, gsize *lens)
{
  const gsize sep = strlen (FUZZ_SEPARATOR);
  guint n = 0;
  const uint8_t *p = data, *end = data + size;
  for (guint i = 0; i < max; i++) {
    parts[i] = NULL;
    lens[i] = 0;
  }
  while (n < max) {
    const uint8_t *hit = NULL;
    if (n + 1 < max)
      hit = memmem (p, (gsize) (end - p), FUZZ_SEPARATOR, sep);
    parts[n] = p;
    lens[n] = hit ? (gsize) (hit - p) : (gsize) (end - p);
    n++;
    if (!hit)
      break;
    p = hit + sep;
  }
  return n;
}

/* A NUL-terminated copy of @len bytes (free it). */
static inline gchar *
fuzz_string (const void *data, gsize len)
{
  gchar *s = g_malloc (len + 1);
  if (len)
    memcpy (s, data, len);
  s[len] = '\0';
  return s;
}

/* A refusal must be a VLM_ERROR whose message names @what (the file or the
 * folder it is in) and says something after it. */
static inline void
fuzz_check_refusal (GError *error, const gchar *what)
{
  if (!error)
    g_error ("fuzz: refused without an error");
  if (error->domain != VLM_ERROR)
    g_error ("fuzz: error outside the VLM_ERROR domain: %s", error->message);
  if (!error->message || !strstr (error->message, what) ||
      strlen (error->message) < strlen (what) + 4)
    g_error ("fuzz: error does not name %s with a reason: %s", what, error->message);
}
