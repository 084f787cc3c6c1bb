/* bench-search — exact search over many stored frames (synthetic vectors).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Times what `vlm search` does after loading the index: the matrix-vector
 * product of all embeddings with the query (vlm_search_scores) and the
 * segment merging (vlm_search_segments), on N random unit vectors of
 * dimension D grouped into videos of F frames. With --sqlite ROWS it also
 * writes an index of ROWS such rows with the store and times loading it
 * back (vlm_store_load_frames), the other part of a search's wall time.
 *
 *   bench-search [--rows 1000000] [--dim 512] [--frames-per-video 3600]
 *                [--repeat 10] [--threads 0] [--top 5] [--sqlite 0 [--sqlite-file F]]
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vlm-search.h"
#include "vlm-store.h"

static guint64 rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: fast enough to fill gigabytes */
static inline guint64
next_u64 (void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

static inline gfloat
next_float (void)
{
  return (gfloat) ((next_u64 () >> 40) * (1.0 / 16777216.0) * 2.0 - 1.0);
}

static void
fill_unit (gfloat *v, gint dim)
{
  gdouble n = 0;
  for (gint j = 0; j < dim; j++) {
    v[j] = next_float ();
    n += (gdouble) v[j] * v[j];
  }
  gfloat inv = (gfloat) (1.0 / sqrt (n));
  for (gint j = 0; j < dim; j++)
    v[j] *= inv;
}

static gint
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;
  return x < y ? -1 : x > y;
}

static gdouble
median (gdouble *v, gint n)
{
  qsort (v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static gdouble
now_ms (void)
{
  return g_get_monotonic_time () / 1000.0;
}

static int
bench_sqlite (gint64 rows, gint dim, gint64 per_video, const gchar *keep)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *dir = keep ? NULL : g_dir_make_tmp ("bench-search-XXXXXX", &error);
  if (!keep && !dir) {
    fprintf (stderr, "bench-search: %s\n", error->message);
    return 1;
  }
  g_autofree gchar *path = keep ? g_strdup (keep) : g_build_filename (dir, "bench.db", NULL);
  if (keep && g_file_test (keep, G_FILE_TEST_EXISTS)) {
    fprintf (stderr, "bench-search: %s exists already\n", keep);
    return 1;
  }
  VlmStore *s = vlm_store_open (path, VLM_STORE_OPEN_CREATE, &error);
  VlmStoreModel m = { .path = (gchar *) "/bench", .fingerprint = (gchar *) "sha256:bench",
                      .dimension = dim };
  if (!s || !vlm_store_check_model (s, &m, TRUE, &error)) {
    fprintf (stderr, "bench-search: %s\n", error->message);
    return 1;
  }
  vlm_store_set_batch (s, 4096, G_MAXINT64);
  g_autofree gfloat *v = g_new (gfloat, dim);
  gdouble t0 = now_ms ();
  gint64 video = -1;
  for (gint64 r = 0; r < rows; r++) {
    if (r % per_video == 0) {
      if (video >= 0 && !vlm_store_finish_video (s, video, -1, &error))
        break;
      g_autofree gchar *uri = g_strdup_printf ("file:///bench/%" G_GINT64_FORMAT ".webm",
                                               r / per_video);
      VlmStoreVideo row = { .uri = uri, .size = 1, .mtime_ns = 1, .every_ns = 1000000000 };
      if (!vlm_store_begin_video (s, &row, FALSE, &video, &error))
        break;
    }
    fill_unit (v, dim);
    if (!vlm_store_add_frame (s, video, (r % per_video) * 1000000000, v, NULL, &error))
      break;
  }
  if (!error && video >= 0)
    vlm_store_finish_video (s, video, -1, &error);
  vlm_store_close (s);
  if (error) {
    fprintf (stderr, "bench-search: %s\n", error->message);
    return 1;
  }
  gdouble write_ms = now_ms () - t0;
  GStatBuf st;
  g_stat (path, &st);
  gdouble loads[3];
  for (gint i = 0; i < 3; i++) {
    t0 = now_ms ();
    g_autoptr (VlmStore) rs = vlm_store_open (path, VLM_STORE_OPEN_DEFAULT, &error);
    g_autoptr (VlmStoreFrames) fr = rs ? vlm_store_load_frames (rs, &error) : NULL;
    if (!fr) {
      fprintf (stderr, "bench-search: %s\n", error->message);
      return 1;
    }
    loads[i] = now_ms () - t0;
  }
  gdouble load = median (loads, 3);
  printf ("sqlite: %" G_GINT64_FORMAT " rows × %d written in %.0f ms (%.0f rows/s), file %.1f "
          "MiB (%.0f bytes/row)\n", rows, dim, write_ms, rows / (write_ms / 1000),
          st.st_size / 1048576.0, (gdouble) st.st_size / rows);
  printf ("sqlite: load all rows (median of 3, warm page cache) %.1f ms = %.2f µs/row "
          "→ %.2f s per million rows\n", load, load * 1000 / rows, load / rows * 1e3);
  if (keep)
    return 0;
  g_autofree gchar *wal = g_strconcat (path, "-wal", NULL);
  g_autofree gchar *shm = g_strconcat (path, "-shm", NULL);
  g_unlink (path);
  g_unlink (wal);
  g_unlink (shm);
  g_rmdir (dir);
  return 0;
}

int
main (int argc, char **argv)
{
  gint64 rows = 1000000, per_video = 3600, sqlite_rows = 0;
  gint dim = 512, repeat = 10, threads = 0, top = 5;
  g_autofree gchar *sqlite_file = NULL;
  GOptionEntry entries[] = {
    { "rows", 'n', 0, G_OPTION_ARG_INT64, &rows, "stored frames (default 1000000)", "N" },
    { "dim", 'd', 0, G_OPTION_ARG_INT, &dim, "embedding width (default 512)", "D" },
    { "frames-per-video", 'f', 0, G_OPTION_ARG_INT64, &per_video,
      "frames per video (default 3600: an hour at 1 frame/s)", "F" },
    { "repeat", 'r', 0, G_OPTION_ARG_INT, &repeat, "queries to time (default 10)", "R" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "0 (default): one per processor", "T" },
    { "top", 'k', 0, G_OPTION_ARG_INT, &top, "segments per query (default 5)", "K" },
    { "sqlite", 0, 0, G_OPTION_ARG_INT64, &sqlite_rows,
      "also time loading an SQLite index of this many rows", "ROWS" },
    { "sqlite-file", 0, 0, G_OPTION_ARG_FILENAME, &sqlite_file,
      "write that index to this (new) file and keep it", "FILE" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— time exact search");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "bench-search: %s\n", error->message);
    return 2;
  }
  if (rows < 1 || dim < 1 || dim > 65536 || per_video < 1 || repeat < 1 || threads < 0 ||
      top < 1 || sqlite_rows < 0) {
    fprintf (stderr, "bench-search: bad option values\n");
    return 2;
  }
  gsize n = (gsize) rows, bytes = n * (gsize) dim * sizeof (gfloat);
  gfloat *emb = NULL;
  if (posix_memalign ((void **) &emb, 64, bytes) != 0) {
    fprintf (stderr, "bench-search: cannot allocate %.1f GiB\n", bytes / 1073741824.0);
    return 1;
  }
  guint32 *group = g_new (guint32, n);
  gfloat *scores = g_new (gfloat, n);
  gfloat *q = g_new (gfloat, dim);
  gdouble t0 = now_ms ();
  for (gsize r = 0; r < n; r++) {
    fill_unit (emb + r * dim, dim);
    group[r] = (guint32) (r / (gsize) per_video);
  }
  printf ("rows %" G_GSIZE_FORMAT ", dim %d (%.2f GiB of float32), %" G_GINT64_FORMAT
          " frames per video, %u processors; generated in %.0f ms\n", n, dim,
          bytes / 1073741824.0, per_video, g_get_num_processors (), now_ms () - t0);

  guint thread_counts[] = { 1, (guint) threads };
  gint n_configs = threads == 1 ? 1 : 2;
  for (gint c = 0; c < n_configs; c++) {
    guint t = thread_counts[c];
    g_autofree gdouble *ms_scores = g_new (gdouble, repeat);
    g_autofree gdouble *ms_segs = g_new (gdouble, repeat);
    g_autofree gdouble *ms_total = g_new (gdouble, repeat);
    gdouble checksum = 0;
    for (gint i = 0; i < repeat; i++) {
      fill_unit (q, dim);
      gdouble a = now_ms ();
      vlm_search_scores (emb, n, dim, q, scores, t);
      gdouble b = now_ms ();
      GArray *segs = vlm_search_segments (scores, group, n, (guint) top);
      gdouble e = now_ms ();
      checksum += segs->len ? g_array_index (segs, VlmSearchSegment, 0).score : 0;
      g_array_unref (segs);
      ms_scores[i] = b - a;
      ms_segs[i] = e - b;
      ms_total[i] = e - a;
    }
    gdouble ms = median (ms_scores, repeat);
    printf ("threads %-3s scores %7.1f ms (%5.1f GB/s)   segments %6.1f ms   total %7.1f ms "
            "(median of %d; checksum %.4f)\n", t == 0 ? "all" : (t == 1 ? "1" : "T"), ms,
            bytes / (ms / 1000) / 1e9, median (ms_segs, repeat), median (ms_total, repeat),
            repeat, checksum);
  }
  free (emb);
  g_free (group);
  g_free (scores);
  g_free (q);
  return sqlite_rows ? bench_sqlite (sqlite_rows, dim, per_video, sqlite_file) : 0;
}
