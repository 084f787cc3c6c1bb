/* Tests of the video index store (tools/vlm-store.c) and the search ranking
 * (tools/vlm-search.c): schema, migration and refusals, model identity,
 * damaged files, transactions across a killed process, exact scores, top-k
 * and segments.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vlm-search.h"
#include "vlm-store.h"

#define DIM 8

static gchar *tmp_dir;

static gchar *
tmp_path (const gchar *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

/* A fresh file name per call, so tests do not see each other's files. */
static gchar *
new_db_path (void)
{
  static gint n;
  g_autofree gchar *name = g_strdup_printf ("index-%d.db", ++n);
  return tmp_path (name);
}

static void
unit_vector (gfloat *v, gint dim, guint seed)
{
  GRand *r = g_rand_new_with_seed (seed);
  gdouble n = 0;
  for (gint i = 0; i < dim; i++) {
    v[i] = (gfloat) g_rand_double_range (r, -1, 1);
    n += v[i] * v[i];
  }
  for (gint i = 0; i < dim; i++)
    v[i] /= (gfloat) sqrt (n);
  g_rand_free (r);
}

/* A model folder with config.json and a minimal safetensors file whose data
 * bytes depend on @seed. */
static gchar *
fake_model (const gchar *name, guint seed, gsize data_bytes)
{
  g_autofree gchar *dir = tmp_path (name);
  g_mkdir_with_parents (dir, 0755);
  g_autofree gchar *config = g_build_filename (dir, "config.json", NULL);
  g_assert_true (g_file_set_contents (config, "{\"projection_dim\": 8}", -1, NULL));
  const gchar *header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
  gsize hl = strlen (header);
  GByteArray *b = g_byte_array_new ();
  for (gint i = 0; i < 8; i++) {
    guint8 c = (guint8) ((guint64) hl >> (8 * i));
    g_byte_array_append (b, &c, 1);
  }
  g_byte_array_append (b, (const guint8 *) header, hl);
  GRand *r = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < data_bytes; i++) {
    guint8 c = (guint8) g_rand_int (r);
    g_byte_array_append (b, &c, 1);
  }
  g_rand_free (r);
  g_autofree gchar *st = g_build_filename (dir, "model.safetensors", NULL);
  g_assert_true (g_file_set_contents (st, (const gchar *) b->data, b->len, NULL));
  g_byte_array_unref (b);
  return g_steal_pointer (&dir);
}

static VlmStore *
new_store (gchar **path_out)
{
  g_autofree gchar *path = new_db_path ();
  g_autoptr (GError) error = NULL;
  VlmStore *s = vlm_store_open (path, VLM_STORE_OPEN_CREATE, &error);
  g_assert_no_error (error);
  VlmStoreModel m = { .path = (gchar *) "/models/a", .fingerprint = (gchar *) "sha256:aa",
                      .dimension = DIM };
  g_assert_true (vlm_store_check_model (s, &m, TRUE, &error));
  g_assert_no_error (error);
  if (path_out)
    *path_out = g_steal_pointer (&path);
  return s;
}

static gint64
add_video (VlmStore *s, const gchar *uri, gint n_frames, gint64 every_ns, gboolean finish)
{
  g_autoptr (GError) error = NULL;
  VlmStoreVideo v = { .uri = (gchar *) uri, .size = 1000, .mtime_ns = 42, .every_ns = every_ns };
  gint64 id = -1;
  g_assert_true (vlm_store_begin_video (s, &v, FALSE, &id, &error));
  g_assert_no_error (error);
  gfloat e[DIM];
  for (gint i = 0; i < n_frames; i++) {
    unit_vector (e, DIM, (guint) (id * 1000 + i));
    g_autofree gchar *cap = g_strdup_printf ("%s frame %d", uri, i);
    g_assert_true (vlm_store_add_frame (s, id, i * every_ns, e, cap, &error));
    g_assert_no_error (error);
  }
  if (finish) {
    g_assert_true (vlm_store_finish_video (s, id, n_frames * every_ns, &error));
    g_assert_no_error (error);
  }
  return id;
}

static gint64
sql_int (const gchar *path, const gchar *sql)
{
  sqlite3 *db;
  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  sqlite3_stmt *st;
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  gint64 v = sqlite3_column_int64 (st, 0);
  sqlite3_finalize (st);
  sqlite3_close (db);
  return v;
}

static void
sql_exec (const gchar *path, const gchar *sql)
{
  sqlite3 *db;
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  char *msg = NULL;
  int rc = sqlite3_exec (db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK)
    g_error ("%s: %s", sql, msg);
  sqlite3_close (db);
}

static GBytes *
file_bytes (const gchar *path)
{
  gchar *data;
  gsize len;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  return g_bytes_new_take (data, len);
}

/* ------------------------------------------------------------------------ */

static void
test_create (void)
{
  g_autofree gchar *path = NULL;
  VlmStore *s = new_store (&path);
  g_assert_cmpint (vlm_store_get_migrated_from (s), ==, 0);
  vlm_store_close (s);
  g_assert_cmpint (sql_int (path, "PRAGMA user_version"), ==, VLM_STORE_SCHEMA_VERSION);
  g_assert_cmpint (sql_int (path, "PRAGMA application_id"), ==, VLM_STORE_APPLICATION_ID);
  g_assert_cmpint (sql_int (path, "PRAGMA page_size"), ==, 16384);
  g_assert_cmpint (sql_int (path, "SELECT COUNT(*) FROM pragma_table_info ('videos') "
                           "WHERE name IN ('every_ns', 'caption_model')"), ==, 2);

  g_autoptr (GError) error = NULL;
  g_autoptr (VlmStore) again = vlm_store_open (path, VLM_STORE_OPEN_DEFAULT, &error);
  g_assert_no_error (error);
  g_auto (VlmStoreModel) m = { 0 };
  g_assert_true (vlm_store_get_model (again, &m, &error));
  g_assert_cmpstr (m.path, ==, "/models/a");
  g_assert_cmpstr (m.fingerprint, ==, "sha256:aa");
  g_assert_cmpint (m.dimension, ==, DIM);
  gint64 nv = -1, nf = -1;
  g_assert_true (vlm_store_count (again, &nv, &nf, &error));
  g_assert_cmpint (nv, ==, 0);
  g_assert_cmpint (nf, ==, 0);
  g_autoptr (VlmStoreFrames) fr = vlm_store_load_frames (again, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fr->n_frames, ==, 0);
}

static void
test_missing_and_empty (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *missing = tmp_path ("missing.db");
  g_assert_null (vlm_store_open (missing, VLM_STORE_OPEN_DEFAULT, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "missing.db"));
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  g_autofree gchar *empty = tmp_path ("empty.db");
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_null (vlm_store_open (empty, VLM_STORE_OPEN_DEFAULT, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* an empty file becomes an index when asked to */
  VlmStore *s = vlm_store_open (empty, VLM_STORE_OPEN_CREATE, &error);
  g_assert_no_error (error);
  vlm_store_close (s);
  g_assert_cmpint (sql_int (empty, "PRAGMA user_version"), ==, VLM_STORE_SCHEMA_VERSION);

  g_assert_null (vlm_store_open ("", VLM_STORE_OPEN_CREATE, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (vlm_store_open (tmp_dir, VLM_STORE_OPEN_CREATE, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_INDEX);
}

/* Not SQLite, SQLite of another program: refused, not a byte changed. */
static void
test_not_an_index (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *text = tmp_path ("notes.txt");
  g_assert_true (g_file_set_contents (text, "my holiday notes, not a database\n", -1, NULL));
  g_autoptr (GBytes) before = file_bytes (text);
  g_assert_null (vlm_store_open (text, VLM_STORE_OPEN_CREATE, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_INDEX);
  g_assert_nonnull (strstr (error->message, "notes.txt"));
  g_assert_nonnull (strstr (error->message, "not an SQLite file"));
  g_autoptr (GBytes) after = file_bytes (text);
  g_assert_true (g_bytes_equal (before, after));
  g_clear_error (&error);

  g_autofree gchar *foreign = tmp_path ("foreign.db");
  sql_exec (foreign, "CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('x')");
  g_autoptr (GBytes) fb = file_bytes (foreign);
  g_assert_null (vlm_store_open (foreign, VLM_STORE_OPEN_CREATE, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_INDEX);
  g_assert_nonnull (strstr (error->message, "contacts"));
  g_autoptr (GBytes) fa = file_bytes (foreign);
  g_assert_true (g_bytes_equal (fb, fa));
  g_clear_error (&error);

  g_autofree gchar *other_app = tmp_path ("other-app.db");
  sql_exec (other_app, "PRAGMA application_id = 1234");
  g_assert_null (vlm_store_open (other_app, VLM_STORE_OPEN_CREATE, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_INDEX);
}

static void
test_too_new (void)
{
  g_autofree gchar *path = NULL;
  vlm_store_close (new_store (&path));
  sql_exec (path, "PRAGMA user_version = 99");
  g_autoptr (GBytes) before = file_bytes (path);
  g_autoptr (GError) error = NULL;
  g_assert_null (vlm_store_open (path, VLM_STORE_OPEN_CREATE, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_VERSION);
  g_assert_nonnull (strstr (error->message, "99"));
  g_assert_nonnull (strstr (error->message, "newer"));
  g_autoptr (GBytes) after = file_bytes (path);
  g_assert_true (g_bytes_equal (before, after));
}

/* A version-1 index with frames every 2 s is migrated to version 2 with
 * every_ns = 2 s; with migration forbidden it is refused. */
static void
test_migrate_v1 (void)
{
  g_autofree gchar *path = new_db_path ();
  g_autoptr (GError) error = NULL;
  g_assert_true (vlm_store_create_at_version (path, 1, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sql_int (path, "PRAGMA user_version"), ==, 1);
  g_assert_cmpint (sql_int (path, "SELECT COUNT(*) FROM pragma_table_info ('videos') "
                           "WHERE name = 'every_ns'"), ==, 0);
  sql_exec (path,
            "INSERT INTO meta VALUES ('model_path', '/m'), ('model_fingerprint', 'sha256:m'), "
            "  ('dimension', '2');"
            "INSERT INTO videos (id, uri, complete) VALUES (1, 'file:///a.webm', 1), "
            "  (2, 'file:///b.webm', 1);"
            "INSERT INTO frames VALUES (1, 0, x'0000803f00000000', 'one'), "
            "  (1, 2000000000, x'000000000000803f', NULL), "
            "  (1, 4000000000, x'0000803f00000000', NULL), "
            "  (2, 0, x'0000803f00000000', 'cap');");
  /* refused without migration */
  g_assert_null (vlm_store_open (path, VLM_STORE_OPEN_NO_MIGRATE, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_VERSION);
  g_clear_error (&error);
  g_assert_cmpint (sql_int (path, "PRAGMA user_version"), ==, 1);

  g_autoptr (VlmStore) s = vlm_store_open (path, VLM_STORE_OPEN_DEFAULT, &error);
  g_assert_no_error (error);
  g_assert_cmpint (vlm_store_get_migrated_from (s), ==, 1);
  g_auto (VlmStoreVideo) a = { 0 }, b = { 0 };
  gboolean found;
  g_assert_true (vlm_store_find_video (s, "file:///a.webm", &a, &found, &error));
  g_assert_true (found);
  g_assert_cmpint (a.every_ns, ==, 2000000000);
  g_assert_cmpstr (a.caption_model, ==, "unknown");
  g_assert_cmpint (a.n_frames, ==, 3);
  g_assert_cmpint (a.last_pts_ns, ==, 4000000000);
  g_assert_true (vlm_store_find_video (s, "file:///b.webm", &b, &found, &error));
  g_assert_cmpint (b.every_ns, ==, 1000000000);  /* one frame: the default */
  g_autoptr (VlmStoreFrames) fr = vlm_store_load_frames (s, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fr->n_frames, ==, 4);
  g_assert_cmpint (fr->dimension, ==, 2);
  g_assert_cmpfloat (fr->embeddings[2 * 1 + 1], ==, 1.0f);
  vlm_store_close (g_steal_pointer (&s));
  g_assert_cmpint (sql_int (path, "PRAGMA user_version"), ==, VLM_STORE_SCHEMA_VERSION);
}

static void
test_fingerprint (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *a = fake_model ("model-a", 1, 4096);
  g_autofree gchar *a_copy = fake_model ("model-a-copy", 1, 4096);
  g_autofree gchar *b = fake_model ("model-b", 2, 4096);
  g_autofree gchar *big = fake_model ("model-big", 3, 3 << 20);
  g_autofree gchar *fa = NULL, *fa2 = NULL, *fc = NULL, *fb = NULL, *fbig = NULL;
  g_assert_true (vlm_store_model_fingerprint (a, &fa, &error));
  g_assert_true (vlm_store_model_fingerprint (a, &fa2, &error));
  g_assert_true (vlm_store_model_fingerprint (a_copy, &fc, &error));
  g_assert_true (vlm_store_model_fingerprint (b, &fb, &error));
  g_assert_true (vlm_store_model_fingerprint (big, &fbig, &error));
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (fa, "sha256:"));
  g_assert_cmpuint (strlen (fa), ==, 7 + 64);
  g_assert_cmpstr (fa, ==, fa2);
  g_assert_cmpstr (fa, ==, fc);       /* a copy elsewhere is the same model */
  g_assert_cmpstr (fa, !=, fb);       /* other weights, same layout */
  g_assert_cmpstr (fbig, !=, fa);

  /* no model files: a clear error naming the folder and the file */
  g_autofree gchar *none = tmp_path ("no-model");
  g_mkdir_with_parents (none, 0755);
  g_autofree gchar *fnone = NULL;
  g_assert_false (vlm_store_model_fingerprint (none, &fnone, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_MODEL_FILES);
  g_assert_nonnull (strstr (error->message, "config.json"));
  g_clear_error (&error);
  g_autofree gchar *cfg = g_build_filename (none, "config.json", NULL);
  g_autofree gchar *st = g_build_filename (none, "model.safetensors", NULL);
  g_assert_true (g_file_set_contents (cfg, "{}", -1, NULL));
  g_assert_true (g_file_set_contents (st, "\xff\xff\xff\xff\xff\xff\xff\x7f{", 9, NULL));
  g_assert_false (vlm_store_model_fingerprint (none, &fnone, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_MODEL_FILES);
  g_assert_nonnull (strstr (error->message, "model.safetensors"));
}

static void
test_model_mismatch (void)
{
  g_autofree gchar *path = NULL;
  g_autoptr (VlmStore) s = new_store (&path);
  g_autoptr (GError) error = NULL;
  VlmStoreModel same = { .path = (gchar *) "/elsewhere/a-copy",
                         .fingerprint = (gchar *) "sha256:aa", .dimension = DIM };
  g_assert_true (vlm_store_check_model (s, &same, TRUE, &error));
  g_assert_no_error (error);
  VlmStoreModel other = { .path = (gchar *) "/models/b", .fingerprint = (gchar *) "sha256:bb",
                          .dimension = DIM };
  g_assert_false (vlm_store_check_model (s, &other, TRUE, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "/models/a"));
  g_assert_nonnull (strstr (error->message, "/models/b"));
  g_clear_error (&error);
  VlmStoreModel wider = { .path = (gchar *) "/models/a", .fingerprint = (gchar *) "sha256:aa",
                          .dimension = DIM * 2 };
  g_assert_false (vlm_store_check_model (s, &wider, FALSE, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_MODEL);
  g_clear_error (&error);
  /* the recorded model is unchanged */
  g_auto (VlmStoreModel) m = { 0 };
  g_assert_true (vlm_store_get_model (s, &m, &error));
  g_assert_cmpstr (m.fingerprint, ==, "sha256:aa");
  g_assert_cmpstr (m.path, ==, "/models/a");
}

static void
test_frames (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmStore) s = new_store (NULL);
  vlm_store_set_batch (s, 3, 0);
  gint64 a = add_video (s, "file:///a.webm", 5, 1000000000, TRUE);
  VlmStoreVideo bv = { .uri = (gchar *) "rtsp://cam/b", .size = -1, .mtime_ns = -1,
                       .every_ns = 500000000 };
  gint64 b;
  g_assert_true (vlm_store_begin_video (s, &bv, FALSE, &b, &error));
  /* frames arriving out of order are read back in time order */
  gfloat e[DIM];
  gint64 times[] = { 1500000000, 0, 500000000 };
  for (guint i = 0; i < G_N_ELEMENTS (times); i++) {
    unit_vector (e, DIM, 7000 + i);
    g_assert_true (vlm_store_add_frame (s, b, times[i], e, NULL, &error));
  }
  g_assert_true (vlm_store_finish_video (s, b, -1, &error));
  g_assert_no_error (error);

  g_auto (VlmStoreVideo) va = { 0 };
  gboolean found;
  g_assert_true (vlm_store_find_video (s, "file:///a.webm", &va, &found, &error));
  g_assert_true (found);
  g_assert_true (va.complete);
  g_assert_cmpint (va.n_frames, ==, 5);
  g_assert_cmpint (va.last_pts_ns, ==, 4000000000);
  g_assert_cmpint (va.duration_ns, ==, 5000000000);
  g_assert_cmpint (va.size, ==, 1000);
  g_assert_cmpint (va.mtime_ns, ==, 42);
  g_auto (VlmStoreVideo) none = { 0 };
  g_assert_true (vlm_store_find_video (s, "file:///nope.webm", &none, &found, &error));
  g_assert_false (found);

  g_autoptr (VlmStoreFrames) fr = vlm_store_load_frames (s, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fr->n_frames, ==, 8);
  g_assert_cmpuint (fr->videos->len, ==, 2);
  for (gsize r = 0; r < 5; r++) {
    g_assert_cmpuint (fr->video[r], ==, 0);
    g_assert_cmpint (fr->pts_ns[r], ==, (gint64) r * 1000000000);
    unit_vector (e, DIM, (guint) (a * 1000 + r));
    g_assert_cmpmem (fr->embeddings + r * DIM, sizeof e, e, sizeof e);
  }
  g_assert_cmpint (fr->pts_ns[5], ==, 0);
  g_assert_cmpint (fr->pts_ns[6], ==, 500000000);
  g_assert_cmpint (fr->pts_ns[7], ==, 1500000000);
  unit_vector (e, DIM, 7001);
  g_assert_cmpmem (fr->embeddings + 5 * DIM, sizeof e, e, sizeof e);
  g_assert_cmpuint ((guintptr) fr->embeddings % 64, ==, 0);
  VlmStoreVideo *vb = g_ptr_array_index (fr->videos, 1);
  g_assert_cmpstr (vb->uri, ==, "rtsp://cam/b");
  g_assert_null (vb->path);
  g_assert_cmpint (vb->duration_ns, ==, -1);

  g_autofree gchar *cap = NULL, *nocap = NULL;
  g_assert_true (vlm_store_get_caption (s, a, 2000000000, &cap, &error));
  g_assert_cmpstr (cap, ==, "file:///a.webm frame 2");
  g_assert_true (vlm_store_get_caption (s, b, 0, &nocap, &error));
  g_assert_null (nocap);

  /* re-indexing replaces the video's frames; resuming keeps them */
  gint64 a2 = add_video (s, "file:///a.webm", 2, 1000000000, TRUE);
  gint64 nf = 0;
  g_assert_true (vlm_store_count (s, NULL, &nf, &error));
  g_assert_cmpint (nf, ==, 2 + 3);
  VlmStoreVideo resume = { .uri = (gchar *) "file:///a.webm", .every_ns = 1000000000,
                           .size = 1000, .mtime_ns = 42 };
  gint64 a3;
  g_assert_true (vlm_store_begin_video (s, &resume, TRUE, &a3, &error));
  g_assert_cmpint (a3, ==, a2);
  g_auto (VlmStoreVideo) vr = { 0 };
  g_assert_true (vlm_store_find_video (s, "file:///a.webm", &vr, &found, &error));
  g_assert_false (vr.complete);
  g_assert_cmpint (vr.n_frames, ==, 2);
  VlmStoreVideo gone = { .uri = (gchar *) "file:///never.webm", .every_ns = 1 };
  g_assert_false (vlm_store_begin_video (s, &gone, TRUE, &a3, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  VlmStoreVideo bad = { .uri = (gchar *) "", .every_ns = 1 };
  g_assert_false (vlm_store_begin_video (s, &bad, FALSE, &a3, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_INVALID);
}

/* A failed video without frames leaves no trace; one with frames stays
 * partial. A failing insert leaves committed frames alone. */
static void
test_abandon_and_failure (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmStore) s = new_store (NULL);
  VlmStoreVideo v = { .uri = (gchar *) "file:///broken.webm", .every_ns = 1000000000 };
  gint64 id;
  g_assert_true (vlm_store_begin_video (s, &v, FALSE, &id, &error));
  gboolean deleted = FALSE;
  g_assert_true (vlm_store_abandon_video (s, id, &deleted, &error));
  g_assert_true (deleted);
  gint64 nv = -1;
  g_assert_true (vlm_store_count (s, &nv, NULL, &error));
  g_assert_cmpint (nv, ==, 0);

  vlm_store_set_batch (s, 2, 0);
  gint64 a = add_video (s, "file:///a.webm", 3, 1000000000, FALSE);
  gfloat e[DIM] = { 1 };
  /* injected failure: a frame of a video that does not exist */
  g_assert_false (vlm_store_add_frame (s, a + 100, 0, e, NULL, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_IO);
  g_clear_error (&error);
  g_assert_true (vlm_store_abandon_video (s, a, &deleted, &error));
  g_assert_no_error (error);
  g_assert_false (deleted);
  g_auto (VlmStoreVideo) va = { 0 };
  gboolean found;
  g_assert_true (vlm_store_find_video (s, "file:///a.webm", &va, &found, &error));
  g_assert_true (found);
  g_assert_false (va.complete);
  g_assert_cmpint (va.n_frames, ==, 3);
}

/* The child indexes one video completely and a second one partly (batches
 * of 4: 8 of 10 frames committed), then is killed. Nothing finished is
 * lost, the file is consistent, and the next run continues. */
static void
test_killed_run (void)
{
  g_autofree gchar *path = new_db_path ();
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0) {
    VlmStore *s = vlm_store_open (path, VLM_STORE_OPEN_CREATE, NULL);
    if (!s)
      _exit (3);
    VlmStoreModel m = { .path = (gchar *) "/m", .fingerprint = (gchar *) "sha256:m",
                        .dimension = DIM };
    if (!vlm_store_check_model (s, &m, TRUE, NULL))
      _exit (4);
    vlm_store_set_batch (s, 4, G_MAXINT64);
    add_video (s, "file:///done.webm", 10, 1000000000, TRUE);
    add_video (s, "file:///half.webm", 10, 1000000000, FALSE);
    raise (SIGKILL);
    _exit (5);
  }
  int status = 0;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);

  g_autoptr (GError) error = NULL;
  g_autoptr (VlmStore) s = vlm_store_open (path, VLM_STORE_OPEN_DEFAULT, &error);
  g_assert_no_error (error);
  g_auto (VlmStoreVideo) done = { 0 }, half = { 0 };
  gboolean found;
  g_assert_true (vlm_store_find_video (s, "file:///done.webm", &done, &found, &error));
  g_assert_true (found && done.complete);
  g_assert_cmpint (done.n_frames, ==, 10);
  g_assert_true (vlm_store_find_video (s, "file:///half.webm", &half, &found, &error));
  g_assert_true (found);
  g_assert_false (half.complete);
  g_assert_cmpint (half.n_frames, ==, 8);
  g_assert_cmpint (half.last_pts_ns, ==, 7000000000);
  g_autoptr (VlmStoreFrames) fr = vlm_store_load_frames (s, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fr->n_frames, ==, 18);
  vlm_store_close (g_steal_pointer (&s));
  sqlite3 *db;
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  sqlite3_stmt *st;
  sqlite3_prepare_v2 (db, "PRAGMA integrity_check", -1, &st, NULL);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  g_assert_cmpstr ((const gchar *) sqlite3_column_text (st, 0), ==, "ok");
  sqlite3_finalize (st);
  sqlite3_close (db);
}

/* Damage in the middle of the file: a clear error, never a crash. */
static void
test_corrupt (void)
{
  g_autofree gchar *path = NULL;
  VlmStore *s = new_store (&path);
  for (gint v = 0; v < 4; v++) {
    g_autofree gchar *uri = g_strdup_printf ("file:///v%d.webm", v);
    add_video (s, uri, 400, 1000000000, TRUE);
  }
  vlm_store_close (s);
  sql_exec (path, "PRAGMA wal_checkpoint(TRUNCATE)");
  gchar *data;
  gsize len;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpuint (len, >, 8 * 16384);
  /* keep page 1 (header and schema), scribble over the rest */
  GRand *r = g_rand_new_with_seed (5);
  for (gsize i = 16384; i < len; i++)
    data[i] = (gchar) g_rand_int (r);
  g_rand_free (r);
  g_assert_true (g_file_set_contents (path, data, len, NULL));
  g_free (data);

  g_autoptr (GError) error = NULL;
  VlmStore *d = vlm_store_open (path, VLM_STORE_OPEN_DEFAULT, &error);
  VlmStoreFrames *fr = NULL;
  if (d) {
    fr = vlm_store_load_frames (d, &error);
    vlm_store_close (d);
  }
  g_assert_null (fr);
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  /* a truncated file */
  g_autofree gchar *path2 = NULL;
  s = new_store (&path2);
  add_video (s, "file:///t.webm", 300, 1000000000, TRUE);
  vlm_store_close (s);
  sql_exec (path2, "PRAGMA wal_checkpoint(TRUNCATE)");
  g_assert_true (g_file_get_contents (path2, &data, &len, NULL));
  g_assert_true (g_file_set_contents (path2, data, len / 2, NULL));
  g_free (data);
  d = vlm_store_open (path2, VLM_STORE_OPEN_DEFAULT, &error);
  fr = NULL;
  if (d) {
    fr = vlm_store_load_frames (d, &error);
    vlm_store_close (d);
  }
  g_assert_null (fr);
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT);
}

/* A row whose embedding has the wrong size is reported, naming the video. */
static void
test_bad_row (void)
{
  g_autofree gchar *path = NULL;
  VlmStore *s = new_store (&path);
  add_video (s, "file:///ok.webm", 3, 1000000000, TRUE);
  vlm_store_close (s);
  sql_exec (path, "UPDATE frames SET embedding = x'00' WHERE pts_ns = 1000000000");
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmStore) d = vlm_store_open (path, VLM_STORE_OPEN_DEFAULT, &error);
  g_assert_no_error (error);
  g_assert_null (vlm_store_load_frames (d, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "file:///ok.webm"));
  g_clear_error (&error);
  vlm_store_close (g_steal_pointer (&d));
  sql_exec (path, "UPDATE meta SET value = 'wide' WHERE key = 'dimension'");
  g_assert_null (vlm_store_open (path, VLM_STORE_OPEN_DEFAULT, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT);
  g_clear_error (&error);
  sql_exec (path, "DROP TABLE meta");
  g_assert_null (vlm_store_open (path, VLM_STORE_OPEN_DEFAULT, &error));
  g_assert_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "schema"));
}

/* ------------------------------------------------------------------------ */
/* ranking */

static void
test_scores (void)
{
  const gint dims[] = { 1, 7, 8, 13, 512, 768 };
  const gsize rows[] = { 1, 3, 4, 5, 70001 };
  GRand *r = g_rand_new_with_seed (11);
  for (guint di = 0; di < G_N_ELEMENTS (dims); di++) {
    for (guint ri = 0; ri < G_N_ELEMENTS (rows); ri++) {
      gint dim = dims[di];
      gsize n = rows[ri];
      if (n * dim > 8000000)
        continue;
      g_autofree gfloat *e = g_new (gfloat, n * dim);
      g_autofree gfloat *q = g_new (gfloat, dim);
      g_autofree gfloat *s1 = g_new (gfloat, n), *s3 = g_new (gfloat, n);
      for (gsize i = 0; i < n * dim; i++)
        e[i] = (gfloat) g_rand_double_range (r, -1, 1);
      for (gint i = 0; i < dim; i++)
        q[i] = (gfloat) g_rand_double_range (r, -1, 1);
      vlm_search_scores (e, n, dim, q, s1, 1);
      vlm_search_scores (e, n, dim, q, s3, 3);
      for (gsize i = 0; i < n; i++) {
        gdouble ref = 0;
        for (gint j = 0; j < dim; j++)
          ref += (gdouble) e[i * dim + j] * q[j];
        g_assert_cmpfloat_with_epsilon (s1[i], ref, 1e-4 * sqrt (dim));
        g_assert_cmpfloat (s1[i], ==, s3[i]);
      }
    }
  }
  g_rand_free (r);
  vlm_search_scores (NULL, 0, 8, NULL, NULL, 0);  /* nothing to do */
}

static gint
cmp_desc (gconstpointer a, gconstpointer b, gpointer data)
{
  const gfloat *s = data;
  gsize x = *(const gsize *) a, y = *(const gsize *) b;
  gfloat sx = isnan (s[x]) ? -INFINITY : s[x], sy = isnan (s[y]) ? -INFINITY : s[y];
  if (sx != sy)
    return sx > sy ? -1 : 1;
  return x < y ? -1 : x > y;
}

static void
test_top (void)
{
  GRand *r = g_rand_new_with_seed (3);
  const gsize n = 1000;
  g_autofree gfloat *s = g_new (gfloat, n);
  for (gsize i = 0; i < n; i++)
    s[i] = (gfloat) g_rand_int_range (r, 0, 50) / 10;  /* many ties */
  s[17] = NAN;
  s[500] = NAN;
  g_autofree gsize *all = g_new (gsize, n);
  for (gsize i = 0; i < n; i++)
    all[i] = i;
  g_qsort_with_data (all, (gint) n, sizeof (gsize), cmp_desc, s);
  const gsize ks[] = { 0, 1, 10, 999, 1000, 5000 };
  for (guint ki = 0; ki < G_N_ELEMENTS (ks); ki++) {
    g_autoptr (GArray) top = vlm_search_top (s, n, ks[ki]);
    g_assert_cmpuint (top->len, ==, MIN (ks[ki], n));
    for (guint i = 0; i < top->len; i++)
      g_assert_cmpuint (g_array_index (top, gsize, i), ==, all[i]);
  }
  g_rand_free (r);
}

static void
test_segments (void)
{
  /* two videos: 0 = rows 0..9, 1 = rows 10..15 */
  const gfloat s[] = {
    0.10f, 0.12f, 0.80f, 0.85f, 0.78f, 0.11f, 0.10f, 0.60f, 0.62f, 0.90f,
    0.88f, 0.87f, 0.10f, 0.09f, 0.50f, 0.10f,
  };
  const guint32 g[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1 };
  gsize n = G_N_ELEMENTS (s);
  g_autoptr (GArray) segs = vlm_search_segments (s, g, n, 10);
  /* mean = 0.47. Seed 9 (0.90) needs ≥ 0.685 to grow: row 8 (0.62) is
   * not, and rows 10, 11 (high) are another video → [9, 9]; seed 10
   * (0.88) → [10, 11]; seed 3 (0.85, ≥ 0.66) → [2, 4]; seed 8 (0.62,
   * ≥ 0.545) → [7, 8]; seed 14 (0.50) → [14, 14]; … */
  g_assert_cmpuint (segs->len, >=, 5);
  VlmSearchSegment *x = (VlmSearchSegment *) segs->data;
  g_assert_cmpuint (x[0].best, ==, 9);
  g_assert_cmpuint (x[0].first, ==, 9);
  g_assert_cmpuint (x[0].last, ==, 9);
  g_assert_cmpuint (x[1].first, ==, 10);
  g_assert_cmpuint (x[1].last, ==, 11);
  g_assert_cmpuint (x[2].first, ==, 2);
  g_assert_cmpuint (x[2].last, ==, 4);
  g_assert_cmpuint (x[2].best, ==, 3);
  g_assert_cmpfloat (x[2].score, ==, 0.85f);
  g_assert_cmpuint (x[3].first, ==, 7);
  g_assert_cmpuint (x[3].last, ==, 8);
  g_assert_cmpuint (x[4].first, ==, 14);
  /* segments never overlap, cover at most every row, are sorted */
  g_autofree guint8 *seen = g_new0 (guint8, n);
  for (guint i = 0; i < segs->len; i++) {
    for (gsize r = x[i].first; r <= x[i].last; r++) {
      g_assert_false (seen[r]);
      seen[r] = 1;
      g_assert_cmpuint (g[r], ==, g[x[i].best]);
    }
    if (i)
      g_assert_cmpfloat (x[i].score, <=, x[i - 1].score);
  }
  g_autoptr (GArray) two = vlm_search_segments (s, g, n, 2);
  g_assert_cmpuint (two->len, ==, 2);
  g_autoptr (GArray) none = vlm_search_segments (s, g, 0, 5);
  g_assert_cmpuint (none->len, ==, 0);

  /* a long run of equal frames is one segment, and asking for more
   * segments than the candidates cover looks further down */
  const gsize big = 5000;
  g_autofree gfloat *flat = g_new (gfloat, big);
  g_autofree guint32 *one = g_new0 (guint32, big);
  for (gsize i = 0; i < big; i++)
    flat[i] = i >= 1000 && i < 3000 ? 0.9f : 0.1f + (gfloat) (i % 7) * 0.001f;
  g_autoptr (GArray) f = vlm_search_segments (flat, one, big, 3);
  g_assert_cmpuint (f->len, ==, 3);
  VlmSearchSegment *y = (VlmSearchSegment *) f->data;
  g_assert_cmpuint (y[0].first, ==, 1000);
  g_assert_cmpuint (y[0].last, ==, 2999);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autoptr (GError) error = NULL;
  tmp_dir = g_dir_make_tmp ("vlm-test-store-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/store/create", test_create);
  g_test_add_func ("/store/missing-and-empty", test_missing_and_empty);
  g_test_add_func ("/store/not-an-index", test_not_an_index);
  g_test_add_func ("/store/too-new", test_too_new);
  g_test_add_func ("/store/migrate-v1", test_migrate_v1);
  g_test_add_func ("/store/fingerprint", test_fingerprint);
  g_test_add_func ("/store/model-mismatch", test_model_mismatch);
  g_test_add_func ("/store/frames", test_frames);
  g_test_add_func ("/store/abandon-and-failure", test_abandon_and_failure);
  g_test_add_func ("/store/killed-run", test_killed_run);
  g_test_add_func ("/store/corrupt", test_corrupt);
  g_test_add_func ("/store/bad-row", test_bad_row);
  g_test_add_func ("/search/scores", test_scores);
  g_test_add_func ("/search/top", test_top);
  g_test_add_func ("/search/segments", test_segments);
  int ret = g_test_run ();

  g_autofree gchar *cmd = g_strdup_printf ("rm -rf '%s'", tmp_dir);
  if (system (cmd) != 0)
    g_printerr ("could not remove %s\n", tmp_dir);
  g_free (tmp_dir);
  return ret;
}
