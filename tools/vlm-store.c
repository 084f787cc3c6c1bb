/* vlm — the video index: frame embeddings (and captions) in an SQLite file.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:vlm-store
 * @title: VlmStore
 * @short_description: the SQLite index behind `vlm index` and `vlm search`
 *
 * One database file holds the frames of any number of videos, all embedded
 * with one CLIP model:
 *
 * - `meta (key TEXT PRIMARY KEY, value TEXT)`: `model_path`,
 *   `model_fingerprint`, `dimension` (set by the first `vlm index`)
 * - `videos (id, uri UNIQUE, path, size, mtime_ns, duration_ns, complete,
 *   indexed_at, every_ns, caption_model)`: one row per video; `complete` is 0
 *   while a video is being indexed (or after an interrupted run)
 * - `frames (video_id, pts_ns, embedding BLOB, caption)`, unique on
 *   (video_id, pts_ns): `embedding` is the L2-normalised vector as
 *   little-endian float32
 *
 * The file is identified by `PRAGMA application_id` (#VLM_STORE_APPLICATION_ID)
 * and versioned by `PRAGMA user_version` (#VLM_STORE_SCHEMA_VERSION): older
 * versions are migrated step by step, each step in one transaction; newer
 * ones are refused. Files that are not SQLite, or SQLite files of other
 * programs, are refused before SQLite writes anything to them.
 *
 * Writes use WAL journalling with `synchronous=NORMAL`: a committed
 * transaction survives the process being killed. Frames are committed in
 * batches (vlm_store_set_batch()), and a video is marked complete in the
 * same transaction as its last frames, so an interrupted run leaves every
 * finished video whole and the unfinished one partial but consistent.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vlm-store.h"

#define DEFAULT_BATCH_ROWS 64
#define DEFAULT_BATCH_US (2 * G_USEC_PER_SEC)
#define PAGE_SIZE 16384
#define BUSY_TIMEOUT_MS 10000
#define SQLITE_MAGIC "SQLite format 3"

struct _VlmStore {
  gchar *path;
  sqlite3 *db;
  gint migrated_from;
  sqlite3_stmt *insert_frame;
  gboolean in_txn;
  guint txn_rows;
  gint64 txn_start_us;
  guint batch_rows;
  gint64 batch_us;
  gint dimension;           /* from meta, 0 until a model is recorded */
};

G_DEFINE_QUARK (vlm-store-error-quark, vlm_store_error)

/* ------------------------------------------------------------------------ */
/* schema */

/* migrations[v] takes a database from version v to v + 1 */
static const gchar *const migrations[] = {
  /* 0 → 1: the first layout */
  "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
  "CREATE TABLE videos ("
  "  id INTEGER PRIMARY KEY,"
  "  uri TEXT NOT NULL UNIQUE,"
  "  path TEXT,"
  "  size INTEGER,"
  "  mtime_ns INTEGER,"
  "  duration_ns INTEGER,"
  "  complete INTEGER NOT NULL DEFAULT 0,"
  "  indexed_at TEXT);"
  "CREATE TABLE frames ("
  "  video_id INTEGER NOT NULL REFERENCES videos (id) ON DELETE CASCADE,"
  "  pts_ns INTEGER NOT NULL,"
  "  embedding BLOB NOT NULL,"
  "  caption TEXT);"
  "CREATE UNIQUE INDEX frames_by_time ON frames (video_id, pts_ns);",
  /* 1 → 2: the sampling interval of each video (what re-runs compare and
   * what search uses for the end of a segment), estimated for old rows
   * from the mean gap between frames, rounded to the millisecond; and the
   * caption model (none in version 1) */
  "ALTER TABLE videos ADD COLUMN every_ns INTEGER;"
  "ALTER TABLE videos ADD COLUMN caption_model TEXT;"
  "UPDATE videos SET every_ns = ("
  "  SELECT CASE WHEN COUNT(*) > 1"
  "    THEN ((MAX (pts_ns) - MIN (pts_ns)) / (COUNT(*) - 1) + 500000) / 1000000 * 1000000 END"
  "  FROM frames WHERE frames.video_id = videos.id);"
  "UPDATE videos SET every_ns = 1000000000 WHERE every_ns IS NULL OR every_ns <= 0;"
  "UPDATE videos SET caption_model = 'unknown' WHERE EXISTS ("
  "  SELECT 1 FROM frames WHERE frames.video_id = videos.id AND caption IS NOT NULL);",
};

G_STATIC_ASSERT (G_N_ELEMENTS (migrations) == VLM_STORE_SCHEMA_VERSION);

static const gchar *const migration_notes[] = {
  "created the tables",
  "added each video's sampling interval and caption model",
};

/* ------------------------------------------------------------------------ */
/* errors */

static gboolean
is_damage (int rc)
{
  int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

static void
set_db_error (VlmStore *s, int rc, GError **error, const gchar *what)
{
  if (is_damage (rc))
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT,
                 "%s: %s: %s (the file is damaged; restore it from a copy or index again "
                 "into a new file)", s->path, what, sqlite3_errmsg (s->db));
  else
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_IO, "%s: %s: %s", s->path, what,
                 sqlite3_errmsg (s->db));
}

static gboolean
exec (VlmStore *s, const gchar *sql, const gchar *what, GError **error)
{
  int rc = sqlite3_exec (s->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    set_db_error (s, rc, error, what);
    return FALSE;
  }
  return TRUE;
}

static sqlite3_stmt *
prepare (VlmStore *s, const gchar *sql, const gchar *what, GError **error)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2 (s->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK) {
    /* a missing table or column means a damaged (or hand-edited) schema */
    if (!is_damage (rc) && (rc & 0xff) == SQLITE_ERROR)
      g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT,
                   "%s: %s: %s (the index schema is damaged)", s->path, what,
                   sqlite3_errmsg (s->db));
    else
      set_db_error (s, rc, error, what);
    sqlite3_finalize (st);
    return NULL;
  }
  return st;
}

/* Runs a statement that yields one integer. */
static gboolean
query_int (VlmStore *s, const gchar *sql, gint64 *out, const gchar *what, GError **error)
{
  sqlite3_stmt *st = prepare (s, sql, what, error);
  if (!st)
    return FALSE;
  int rc = sqlite3_step (st);
  if (rc == SQLITE_ROW) {
    *out = sqlite3_column_int64 (st, 0);
    rc = SQLITE_DONE;
  }
  if (rc != SQLITE_DONE)
    set_db_error (s, rc, error, what);
  sqlite3_finalize (st);
  return rc == SQLITE_DONE;
}

static gboolean
rollback (VlmStore *s)
{
  if (!sqlite3_get_autocommit (s->db))
    sqlite3_exec (s->db, "ROLLBACK", NULL, NULL, NULL);
  s->in_txn = FALSE;
  s->txn_rows = 0;
  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* opening */

/* Reads the first bytes of an existing file: refuses anything that is not
 * SQLite before SQLite opens (and might write to) it. Sets *empty for a
 * missing or zero-length file. */
static gboolean
check_header (const gchar *path, gboolean *empty, GError **error)
{
  *empty = FALSE;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      *empty = TRUE;
      return TRUE;
    }
    int e = errno;
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_IO, "%s: cannot open: %s", path,
                 g_strerror (e));
    return FALSE;
  }
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_INDEX,
                 "%s: not a regular file", path);
    return FALSE;
  }
  if (st.st_size == 0) {
    close (fd);
    *empty = TRUE;
    return TRUE;
  }
  gchar head[100] = { 0 };
  ssize_t n = read (fd, head, sizeof head);
  int e = errno;
  close (fd);
  if (n < 0) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_IO, "%s: cannot read: %s", path,
                 g_strerror (e));
    return FALSE;
  }
  if (n < (ssize_t) sizeof head || memcmp (head, SQLITE_MAGIC, sizeof SQLITE_MAGIC) != 0) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_INDEX,
                 "%s: not an index database (not an SQLite file; vlm index databases are "
                 "SQLite 3 files)", path);
    return FALSE;
  }
  return TRUE;
}

/* Names the tables of a foreign SQLite file, for the refusal message. */
static gchar *
list_tables (VlmStore *s)
{
  GString *names = g_string_new (NULL);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2 (s->db, "SELECT name FROM sqlite_master WHERE type = 'table' "
                          "ORDER BY name LIMIT 6", -1, &st, NULL) == SQLITE_OK) {
    gint n = 0;
    while (sqlite3_step (st) == SQLITE_ROW) {
      if (n++ == 5) {
        g_string_append (names, ", …");
        break;
      }
      g_string_append_printf (names, "%s%s", names->len ? ", " : "",
                              (const gchar *) sqlite3_column_text (st, 0));
    }
  }
  sqlite3_finalize (st);
  return g_string_free (names, FALSE);
}

static gboolean
set_version (VlmStore *s, gint version, GError **error)
{
  g_autofree gchar *sql = g_strdup_printf ("PRAGMA user_version = %d", version);
  return exec (s, sql, "cannot set the schema version", error);
}

/* Takes the database from @from to @to, one transaction per step. */
static gboolean
migrate (VlmStore *s, gint from, gint to, GError **error)
{
  for (gint v = from; v < to; v++) {
    g_autofree gchar *what = g_strdup_printf ("schema migration %d → %d (%s)", v, v + 1,
                                              migration_notes[v]);
    if (!exec (s, "BEGIN IMMEDIATE", what, error))
      return FALSE;
    if (!exec (s, migrations[v], what, error) || !set_version (s, v + 1, error))
      return rollback (s);
    if (v == 0) {
      g_autofree gchar *sql = g_strdup_printf ("PRAGMA application_id = %d",
                                               VLM_STORE_APPLICATION_ID);
      if (!exec (s, sql, what, error))
        return rollback (s);
    }
    if (!exec (s, "COMMIT", what, error))
      return rollback (s);
  }
  return TRUE;
}

/* @immutable: open read-only as a file nobody changes (a read-only
 * location where SQLite cannot create the WAL index) */
static VlmStore *
store_new (const gchar *path, gboolean create, gboolean immutable, GError **error)
{
  VlmStore *s = g_new0 (VlmStore, 1);
  s->path = g_strdup (path);
  s->batch_rows = DEFAULT_BATCH_ROWS;
  s->batch_us = DEFAULT_BATCH_US;
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  g_autofree gchar *name = NULL;
  if (immutable) {
    g_autofree gchar *escaped = g_uri_escape_string (path, "/", TRUE);
    name = g_strconcat ("file:", escaped, "?immutable=1", NULL);
    flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
  }
  int rc = sqlite3_open_v2 (name ? name : path, &s->db, flags, NULL);
  if (rc != SQLITE_OK) {
    if (s->db)
      set_db_error (s, rc, error, "cannot open");
    else
      g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_IO, "%s: cannot open: %s", path,
                   sqlite3_errstr (rc));
    vlm_store_close (s);
    return NULL;
  }
  sqlite3_extended_result_codes (s->db, 1);
  sqlite3_busy_timeout (s->db, BUSY_TIMEOUT_MS);
  return s;
}

/* Page size and journal mode of a new file; both only take effect before
 * the first table is written. */
static gboolean
init_new (VlmStore *s, GError **error)
{
  g_autofree gchar *sql = g_strdup_printf ("PRAGMA page_size = %d", PAGE_SIZE);
  return exec (s, sql, "cannot set the page size", error) &&
         exec (s, "PRAGMA journal_mode = WAL", "cannot switch to WAL journalling", error);
}

static gboolean
configure (VlmStore *s, GError **error)
{
  /* a file SQLite could only open read-only (read-only medium) can still be
   * searched, as long as it is in WAL mode already or has no journal */
  gboolean read_only = sqlite3_db_readonly (s->db, "main") == 1;
  if ((!read_only &&
       !exec (s, "PRAGMA journal_mode = WAL", "cannot switch to WAL journalling", error)) ||
      !exec (s, "PRAGMA synchronous = NORMAL", "cannot set synchronous mode", error) ||
      !exec (s, "PRAGMA foreign_keys = ON", "cannot enable foreign keys", error))
    return FALSE;
  s->insert_frame = prepare (s, "INSERT OR REPLACE INTO frames (video_id, pts_ns, embedding, "
                             "caption) VALUES (?, ?, ?, ?)", "cannot prepare frame inserts",
                             error);
  if (!s->insert_frame)
    return FALSE;
  gint64 dim = 0;
  sqlite3_stmt *st = prepare (s, "SELECT value FROM meta WHERE key = 'dimension'",
                              "cannot read the model dimension", error);
  if (!st)
    return FALSE;
  int rc = sqlite3_step (st);
  if (rc == SQLITE_ROW) {
    const gchar *v = (const gchar *) sqlite3_column_text (st, 0);
    gchar *end = NULL;
    dim = v ? g_ascii_strtoll (v, &end, 10) : 0;
    if (!v || *end || dim <= 0 || dim > 65536) {
      g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT,
                   "%s: the recorded model dimension \"%s\" is not a valid width", s->path,
                   v ? v : "");
      sqlite3_finalize (st);
      return FALSE;
    }
    rc = SQLITE_DONE;
  }
  if (rc != SQLITE_DONE)
    set_db_error (s, rc, error, "cannot read the model dimension");
  sqlite3_finalize (st);
  s->dimension = (gint) dim;
  return rc == SQLITE_DONE;
}

static VlmStore *
open_at (const gchar *path, VlmStoreOpenFlags flags, gint target, GError **error)
{
  gboolean empty;
  if (!path || !*path) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_INVALID, "no database file given");
    return NULL;
  }
  if (!check_header (path, &empty, error))
    return NULL;
  gboolean create = (flags & VLM_STORE_OPEN_CREATE) != 0;
  if (empty && !create) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_FOUND,
                 g_file_test (path, G_FILE_TEST_EXISTS)
                 ? "%s: the file is empty, not an index (run `vlm index` first)"
                 : "%s: no such index (run `vlm index` first)", path);
    return NULL;
  }
  VlmStore *s = store_new (path, create, FALSE, error);
  if (!s)
    return NULL;
  gint64 app_id = 0, version = 0, tables = 0;
  int rc = sqlite3_exec (s->db, "PRAGMA application_id", NULL, NULL, NULL);
  gboolean cannot_write = (rc & 0xff) == SQLITE_READONLY || (rc & 0xff) == SQLITE_CANTOPEN;
  if (create && cannot_write) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_IO,
                 "%s: cannot write to the index (a read-only file or folder): %s", path,
                 sqlite3_errmsg (s->db));
    goto fail;
  }
  if (cannot_write) {
    /* a WAL index in a place we cannot write to (SQLite cannot create its
     * -shm file): read the file as it is; frames a writer still holds in
     * its -wal file are not seen */
    vlm_store_close (s);
    s = store_new (path, FALSE, TRUE, error);
    if (!s)
      return NULL;
  }
  if (!query_int (s, "PRAGMA application_id", &app_id, "cannot read the header", error) ||
      !query_int (s, "PRAGMA user_version", &version, "cannot read the schema version", error) ||
      !query_int (s, "SELECT COUNT(*) FROM sqlite_master", &tables, "cannot read the schema",
                  error))
    goto fail;
  if (app_id == 0 && version == 0 && tables > 0) {
    g_autofree gchar *names = list_tables (s);
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_INDEX,
                 "%s: an SQLite database of another program, not a vlm index (tables: %s); "
                 "left untouched", path, names);
    goto fail;
  }
  if (app_id != 0 && app_id != VLM_STORE_APPLICATION_ID) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_INDEX,
                 "%s: an SQLite database of another program (application id 0x%08x), not a "
                 "vlm index; left untouched", path, (guint) app_id);
    goto fail;
  }
  if (version > VLM_STORE_SCHEMA_VERSION) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_VERSION,
                 "%s: schema version %d is newer than this vlm understands (up to %d); use a "
                 "newer vlm", path, (gint) version, VLM_STORE_SCHEMA_VERSION);
    goto fail;
  }
  if (version < 0 || (app_id == VLM_STORE_APPLICATION_ID && version == 0)) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT,
                 "%s: an index with an invalid schema version %d", path, (gint) version);
    goto fail;
  }
  if (version == 0) {
    /* a new (or empty) file */
    if (!create) {
      g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_FOUND,
                   "%s: an empty database, not an index (run `vlm index` first)", path);
      goto fail;
    }
    if (!init_new (s, error) || !migrate (s, 0, target, error))
      goto fail;
  } else if (version < target) {
    if (flags & VLM_STORE_OPEN_NO_MIGRATE) {
      g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_VERSION,
                   "%s: schema version %d is older than this vlm's (%d) and migration was "
                   "not allowed", path, (gint) version, target);
      goto fail;
    }
    if (!migrate (s, (gint) version, target, error))
      goto fail;
    s->migrated_from = (gint) version;
  }
  return s;

fail:
  vlm_store_close (s);
  return NULL;
}

/**
 * vlm_store_open:
 * @path: the database file
 * @flags: whether to create it, whether to migrate
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Opens an index, creating it with %VLM_STORE_OPEN_CREATE when the file is
 * missing or empty, and migrating an older schema (see
 * vlm_store_get_migrated_from()). Files that are not SQLite or belong to
 * another program are refused without being modified.
 *
 * Returns: (transfer full) (nullable): the store, or %NULL with @error set.
 */
VlmStore *
vlm_store_open (const gchar *path, VlmStoreOpenFlags flags, GError **error)
{
  VlmStore *s = open_at (path, flags, VLM_STORE_SCHEMA_VERSION, error);
  if (s && !configure (s, error)) {
    vlm_store_close (s);
    return NULL;
  }
  return s;
}

/**
 * vlm_store_create_at_version:
 * @path: a file that does not exist yet (or is empty)
 * @version: the schema version to create, 1 … #VLM_STORE_SCHEMA_VERSION
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Creates an empty index with an older schema, exactly as that version of
 * vlm would have: for migration tests and tools.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_store_create_at_version (const gchar *path, gint version, GError **error)
{
  if (version < 1 || version > VLM_STORE_SCHEMA_VERSION) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_INVALID,
                 "%s: no schema version %d (1 … %d)", path, version, VLM_STORE_SCHEMA_VERSION);
    return FALSE;
  }
  if (g_file_test (path, G_FILE_TEST_EXISTS)) {
    struct stat st;
    if (stat (path, &st) != 0 || st.st_size != 0) {
      g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_INVALID,
                   "%s: exists already; give a new file", path);
      return FALSE;
    }
  }
  VlmStore *s = open_at (path, VLM_STORE_OPEN_CREATE, version, error);
  if (!s)
    return FALSE;
  vlm_store_close (s);
  return TRUE;
}

/**
 * vlm_store_close:
 * @store: (nullable): a store
 *
 * Commits pending frames (an explicit vlm_store_commit() reports errors;
 * here they are only printed) and closes the file.
 */
void
vlm_store_close (VlmStore *store)
{
  if (!store)
    return;
  if (store->in_txn) {
    g_autoptr (GError) error = NULL;
    if (!vlm_store_commit (store, &error))
      g_printerr ("%s\n", error->message);
  }
  sqlite3_finalize (store->insert_frame);
  if (store->db)
    sqlite3_close_v2 (store->db);
  g_free (store->path);
  g_free (store);
}

/**
 * vlm_store_get_path:
 * @store: a store
 *
 * Returns: the file name the store was opened with.
 */
const gchar *
vlm_store_get_path (VlmStore *store)
{
  return store->path;
}

/**
 * vlm_store_get_migrated_from:
 * @store: a store
 *
 * Returns: the schema version the file had before vlm_store_open() migrated
 *   it, or 0 when no migration happened.
 */
gint
vlm_store_get_migrated_from (VlmStore *store)
{
  return store->migrated_from;
}

/**
 * vlm_store_set_batch:
 * @store: a store
 * @max_rows: commit after this many frames (0: the default, 64)
 * @max_us: or when the oldest pending frame is this old (0: the default, 2 s)
 *
 * How often vlm_store_add_frame() commits: the frames an interrupted run
 * can lose at most.
 */
void
vlm_store_set_batch (VlmStore *store, guint max_rows, gint64 max_us)
{
  store->batch_rows = max_rows ? max_rows : DEFAULT_BATCH_ROWS;
  store->batch_us = max_us > 0 ? max_us : DEFAULT_BATCH_US;
}

/* ------------------------------------------------------------------------ */
/* model identity */

static gboolean
hash_file_region (GChecksum *sum, int fd, gint64 offset, gsize len, const gchar *path,
                  GError **error)
{
  g_autofree guchar *buf = g_malloc (MIN (len, (gsize) 1 << 20));
  while (len > 0) {
    gsize chunk = MIN (len, (gsize) 1 << 20);
    ssize_t n = pread (fd, buf, chunk, offset);
    if (n <= 0) {
      int e = errno;
      g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_MODEL_FILES, "%s: cannot read: %s",
                   path, n < 0 ? g_strerror (e) : "unexpected end of file");
      return FALSE;
    }
    g_checksum_update (sum, buf, n);
    offset += n;
    len -= (gsize) n;
  }
  return TRUE;
}

/**
 * vlm_store_model_fingerprint:
 * @dir: a CLIP model folder
 * @fingerprint: (out) (transfer full): "sha256:" + 64 hex digits
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Identifies a model by its content rather than its path: SHA-256 over
 * config.json, the size of model.safetensors, its whole header (tensor
 * names, types, shapes, offsets) and 16 samples of 64 KiB spread evenly
 * over the tensor data. A copy of a model has the same fingerprint; a
 * retrained or fine-tuned one a different one. Reads at most ~1 MiB plus
 * the header.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_store_model_fingerprint (const gchar *dir, gchar **fingerprint, GError **error)
{
  g_autofree gchar *config_path = g_build_filename (dir, "config.json", NULL);
  g_autofree gchar *st_path = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree gchar *config = NULL;
  gsize config_len = 0;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (config_path, &config, &config_len, &local)) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_MODEL_FILES,
                 "model %s: cannot read config.json: %s", dir, local->message);
    return FALSE;
  }
  int fd = open (st_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_MODEL_FILES,
                 "model %s: cannot open model.safetensors: %s", dir, g_strerror (e));
    return FALSE;
  }
  struct stat st;
  guint8 len_le[8];
  guint64 header_len = 0;
  gboolean ok = fstat (fd, &st) == 0 && st.st_size >= 8 && pread (fd, len_le, 8, 0) == 8;
  if (ok) {
    for (gint i = 7; i >= 0; i--)
      header_len = (header_len << 8) | len_le[i];
    ok = header_len <= (guint64) st.st_size - 8 && header_len <= (100u << 20);
  }
  if (!ok) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_MODEL_FILES,
                 "model %s: model.safetensors is not a safetensors file (bad header)", dir);
    close (fd);
    return FALSE;
  }
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree gchar *size_str = g_strdup_printf ("\n%" G_GINT64_FORMAT "\n", (gint64) st.st_size);
  g_checksum_update (sum, (const guchar *) "vlm-model-fingerprint-1\n", -1);
  g_checksum_update (sum, (const guchar *) config, config_len);
  g_checksum_update (sum, (const guchar *) size_str, -1);
  ok = hash_file_region (sum, fd, 0, 8 + header_len, st_path, error);
  gint64 data_start = 8 + (gint64) header_len, data_len = st.st_size - data_start;
  const gint64 sample = 64 * 1024, n_samples = 16;
  if (ok && data_len <= sample * n_samples) {
    ok = hash_file_region (sum, fd, data_start, data_len, st_path, error);
  } else {
    for (gint64 i = 0; ok && i < n_samples; i++) {
      gint64 off = data_start + (data_len - sample) * i / (n_samples - 1);
      ok = hash_file_region (sum, fd, off, sample, st_path, error);
    }
  }
  close (fd);
  if (ok)
    *fingerprint = g_strconcat ("sha256:", g_checksum_get_string (sum), NULL);
  g_checksum_free (sum);
  return ok;
}

static gboolean
meta_get (VlmStore *s, const gchar *key, gchar **value, GError **error)
{
  *value = NULL;
  sqlite3_stmt *st = prepare (s, "SELECT value FROM meta WHERE key = ?", "cannot read meta",
                              error);
  if (!st)
    return FALSE;
  sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_ROW) {
    *value = g_strdup ((const gchar *) sqlite3_column_text (st, 0));
    rc = SQLITE_DONE;
  }
  if (rc != SQLITE_DONE)
    set_db_error (s, rc, error, "cannot read meta");
  sqlite3_finalize (st);
  return rc == SQLITE_DONE;
}

static gboolean
meta_set (VlmStore *s, const gchar *key, const gchar *value, GError **error)
{
  sqlite3_stmt *st = prepare (s, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                              "cannot write meta", error);
  if (!st)
    return FALSE;
  sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 2, value, -1, SQLITE_STATIC);
  int rc = sqlite3_step (st);
  if (rc != SQLITE_DONE)
    set_db_error (s, rc, error, "cannot write meta");
  sqlite3_finalize (st);
  return rc == SQLITE_DONE;
}

/**
 * vlm_store_get_model:
 * @store: a store
 * @model: (out caller-allocates): the recorded model; all fields %NULL / 0
 *   when no model has been recorded yet
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Returns: %TRUE on success (also when no model is recorded).
 */
gboolean
vlm_store_get_model (VlmStore *store, VlmStoreModel *model, GError **error)
{
  memset (model, 0, sizeof *model);
  g_autofree gchar *path = NULL, *fp = NULL;
  if (!meta_get (store, "model_path", &path, error) ||
      !meta_get (store, "model_fingerprint", &fp, error))
    return FALSE;
  if (!fp)
    return TRUE;
  if (!store->dimension) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT,
                 "%s: a model is recorded but not its dimension", store->path);
    return FALSE;
  }
  model->path = g_steal_pointer (&path);
  model->fingerprint = g_steal_pointer (&fp);
  model->dimension = store->dimension;
  return TRUE;
}

/**
 * vlm_store_check_model:
 * @store: a store
 * @model: the model about to be used (path, fingerprint, dimension)
 * @record: record @model when the index has none yet (`vlm index`)
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Refuses a model other than the one the index was built with
 * (%VLM_STORE_ERROR_MODEL, naming both). An index without a model accepts
 * any: with @record it is recorded, without it the check passes.
 *
 * Returns: %TRUE when @model may be used with the index.
 */
gboolean
vlm_store_check_model (VlmStore *store, const VlmStoreModel *model, gboolean record,
                       GError **error)
{
  if (!model->fingerprint || model->dimension <= 0) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_INVALID,
                 "%s: no model fingerprint or dimension given", store->path);
    return FALSE;
  }
  g_auto (VlmStoreModel) have = { 0 };
  if (!vlm_store_get_model (store, &have, error))
    return FALSE;
  if (have.fingerprint) {
    if (g_strcmp0 (have.fingerprint, model->fingerprint) == 0 &&
        have.dimension == model->dimension)
      return TRUE;
    /* "sha256:" + 16 hex digits tell two models apart in a message */
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_MODEL,
                 "%s was built with model %s (%.23s…, %d-d) but this run uses model %s "
                 "(%.23s…, %d-d); use the same model (--model %s) or another database",
                 store->path, have.path ? have.path : "?", have.fingerprint, have.dimension,
                 model->path ? model->path : "?", model->fingerprint, model->dimension,
                 have.path ? have.path : "DIR");
    return FALSE;
  }
  if (!record)
    return TRUE;
  g_autofree gchar *dim = g_strdup_printf ("%d", model->dimension);
  if (!exec (store, "BEGIN IMMEDIATE", "cannot record the model", error))
    return FALSE;
  if (!meta_set (store, "model_path", model->path ? model->path : "", error) ||
      !meta_set (store, "model_fingerprint", model->fingerprint, error) ||
      !meta_set (store, "dimension", dim, error) ||
      !exec (store, "COMMIT", "cannot record the model", error))
    return rollback (store);
  store->dimension = model->dimension;
  return TRUE;
}

/**
 * vlm_store_model_clear:
 * @model: a model identity
 *
 * Frees the fields of @model.
 */
void
vlm_store_model_clear (VlmStoreModel *model)
{
  g_clear_pointer (&model->path, g_free);
  g_clear_pointer (&model->fingerprint, g_free);
  model->dimension = 0;
}

/* ------------------------------------------------------------------------ */
/* videos and frames */

static gint64
column_int_or (sqlite3_stmt *st, int col, gint64 fallback)
{
  return sqlite3_column_type (st, col) == SQLITE_NULL ? fallback
                                                      : sqlite3_column_int64 (st, col);
}

static gchar *
column_str (sqlite3_stmt *st, int col)
{
  return g_strdup ((const gchar *) sqlite3_column_text (st, col));
}

#define VIDEO_COLUMNS \
  "id, uri, path, size, mtime_ns, duration_ns, every_ns, caption_model, complete"

static void
read_video (sqlite3_stmt *st, VlmStoreVideo *v)
{
  v->id = sqlite3_column_int64 (st, 0);
  v->uri = column_str (st, 1);
  v->path = column_str (st, 2);
  v->size = column_int_or (st, 3, -1);
  v->mtime_ns = column_int_or (st, 4, -1);
  v->duration_ns = column_int_or (st, 5, -1);
  v->every_ns = column_int_or (st, 6, 0);
  v->caption_model = column_str (st, 7);
  v->complete = sqlite3_column_int (st, 8) != 0;
  v->n_frames = 0;
  v->last_pts_ns = -1;
}

/**
 * vlm_store_find_video:
 * @store: a store
 * @uri: the video's URI
 * @video: (out caller-allocates): the row, when found (clear it with
 *   vlm_store_video_clear())
 * @found: (out): whether @uri is in the index
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Looks a video up, with its frame count and last pts.
 *
 * Returns: %TRUE on success (also when not found).
 */
gboolean
vlm_store_find_video (VlmStore *store, const gchar *uri, VlmStoreVideo *video,
                      gboolean *found, GError **error)
{
  memset (video, 0, sizeof *video);
  *found = FALSE;
  sqlite3_stmt *st = prepare (store, "SELECT " VIDEO_COLUMNS ", "
                              "(SELECT COUNT(*) FROM frames WHERE video_id = videos.id), "
                              "(SELECT MAX (pts_ns) FROM frames WHERE video_id = videos.id) "
                              "FROM videos WHERE uri = ?", "cannot look a video up", error);
  if (!st)
    return FALSE;
  sqlite3_bind_text (st, 1, uri, -1, SQLITE_STATIC);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_ROW) {
    read_video (st, video);
    video->n_frames = sqlite3_column_int64 (st, 9);
    video->last_pts_ns = column_int_or (st, 10, -1);
    *found = TRUE;
    rc = SQLITE_DONE;
  }
  if (rc != SQLITE_DONE)
    set_db_error (store, rc, error, "cannot look a video up");
  sqlite3_finalize (st);
  return rc == SQLITE_DONE;
}

static gboolean
bind_opt_int (sqlite3_stmt *st, int col, gint64 v)
{
  return (v < 0 ? sqlite3_bind_null (st, col) : sqlite3_bind_int64 (st, col, v)) == SQLITE_OK;
}

/**
 * vlm_store_begin_video:
 * @store: a store
 * @video: the video: @uri, @path, @size, @mtime_ns, @every_ns and
 *   @caption_model are used
 * @resume: keep the frames already stored for @uri (an interrupted run of
 *   the same file, model and interval); otherwise any earlier row of @uri
 *   and its frames are replaced
 * @id: (out): the video's row id, for vlm_store_add_frame()
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Starts (or resumes) indexing a video: commits pending frames, then in one
 * transaction replaces or updates the video's row, marked incomplete.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_store_begin_video (VlmStore *store, const VlmStoreVideo *video, gboolean resume,
                       gint64 *id, GError **error)
{
  if (!video->uri || !*video->uri || video->every_ns <= 0) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_INVALID,
                 "%s: a video needs a URI and a positive interval", store->path);
    return FALSE;
  }
  if (!vlm_store_commit (store, error) ||
      !exec (store, "BEGIN IMMEDIATE", "cannot start a video", error))
    return FALSE;
  sqlite3_stmt *st;
  if (!resume) {
    st = prepare (store, "DELETE FROM frames WHERE video_id IN "
                  "(SELECT id FROM videos WHERE uri = ?1)", "cannot replace a video", error);
    if (!st)
      return rollback (store);
    sqlite3_bind_text (st, 1, video->uri, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st);
    sqlite3_finalize (st);
    if (rc != SQLITE_DONE) {
      set_db_error (store, rc, error, "cannot replace a video");
      return rollback (store);
    }
  }
  st = prepare (store, resume
                ? "UPDATE videos SET path = ?2, size = ?3, mtime_ns = ?4, every_ns = ?5, "
                  "caption_model = ?6, complete = 0, duration_ns = NULL, "
                  "indexed_at = datetime ('now') WHERE uri = ?1 RETURNING id"
                : "INSERT OR REPLACE INTO videos (uri, path, size, mtime_ns, every_ns, "
                  "caption_model, complete, indexed_at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, datetime ('now')) RETURNING id",
                "cannot record a video", error);
  if (!st)
    return rollback (store);
  sqlite3_bind_text (st, 1, video->uri, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 2, video->path, -1, SQLITE_STATIC);
  bind_opt_int (st, 3, video->size);
  bind_opt_int (st, 4, video->mtime_ns);
  sqlite3_bind_int64 (st, 5, video->every_ns);
  sqlite3_bind_text (st, 6, video->caption_model, -1, SQLITE_STATIC);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_ROW) {
    *id = sqlite3_column_int64 (st, 0);
    rc = sqlite3_step (st);
  } else if (rc == SQLITE_DONE) {
    /* resuming a video that is no longer there */
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_FOUND,
                 "%s: cannot resume %s: not in the index", store->path, video->uri);
    sqlite3_finalize (st);
    return rollback (store);
  }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE) {
    set_db_error (store, rc, error, "cannot record a video");
    return rollback (store);
  }
  if (!exec (store, "COMMIT", "cannot record a video", error))
    return rollback (store);
  return TRUE;
}

static void
to_le (const gfloat *in, gfloat *out, gint n)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  memcpy (out, in, sizeof (gfloat) * n);
#else
  for (gint i = 0; i < n; i++) {
    guint32 u;
    memcpy (&u, in + i, 4);
    u = GUINT32_SWAP_LE_BE (u);
    memcpy (out + i, &u, 4);
  }
#endif
}

/**
 * vlm_store_add_frame:
 * @store: a store with a recorded model (vlm_store_check_model())
 * @video_id: from vlm_store_begin_video()
 * @pts_ns: the frame's time in the stream
 * @embedding: the model's dimension floats
 * @caption: (nullable): the frame's caption
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Adds (or replaces) the frame of @video_id at @pts_ns. Frames are
 * committed in batches, see vlm_store_set_batch().
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_store_add_frame (VlmStore *store, gint64 video_id, gint64 pts_ns, const gfloat *embedding,
                     const gchar *caption, GError **error)
{
  if (store->dimension <= 0) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_INVALID,
                 "%s: no model recorded; frames cannot be stored yet", store->path);
    return FALSE;
  }
  if (!store->in_txn) {
    if (!exec (store, "BEGIN IMMEDIATE", "cannot start a batch of frames", error))
      return FALSE;
    store->in_txn = TRUE;
    store->txn_rows = 0;
    store->txn_start_us = g_get_monotonic_time ();
  }
  gint dim = store->dimension;
  g_autofree gfloat *le = g_new (gfloat, dim);
  to_le (embedding, le, dim);
  sqlite3_stmt *st = store->insert_frame;
  sqlite3_reset (st);
  sqlite3_bind_int64 (st, 1, video_id);
  sqlite3_bind_int64 (st, 2, pts_ns);
  sqlite3_bind_blob (st, 3, le, (int) (sizeof (gfloat) * dim), SQLITE_STATIC);
  sqlite3_bind_text (st, 4, caption, -1, SQLITE_STATIC);
  int rc = sqlite3_step (st);
  sqlite3_reset (st);
  sqlite3_clear_bindings (st);
  if (rc != SQLITE_DONE) {
    set_db_error (store, rc, error, "cannot store a frame");
    return FALSE;
  }
  store->txn_rows++;
  if (store->txn_rows >= store->batch_rows ||
      g_get_monotonic_time () - store->txn_start_us >= store->batch_us)
    return vlm_store_commit (store, error);
  return TRUE;
}

/**
 * vlm_store_commit:
 * @store: a store
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Commits the frames added since the last commit (nothing to do when there
 * are none). On failure the pending frames are rolled back.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_store_commit (VlmStore *store, GError **error)
{
  if (!store->in_txn)
    return TRUE;
  if (!exec (store, "COMMIT", "cannot commit frames", error))
    return rollback (store);
  store->in_txn = FALSE;
  store->txn_rows = 0;
  return TRUE;
}

/**
 * vlm_store_finish_video:
 * @store: a store
 * @video_id: from vlm_store_begin_video()
 * @duration_ns: the stream's duration, -1 when unknown
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Marks the video complete, in the same transaction as its pending frames.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_store_finish_video (VlmStore *store, gint64 video_id, gint64 duration_ns, GError **error)
{
  if (!store->in_txn) {
    if (!exec (store, "BEGIN IMMEDIATE", "cannot finish a video", error))
      return FALSE;
    store->in_txn = TRUE;
  }
  sqlite3_stmt *st = prepare (store, "UPDATE videos SET complete = 1, duration_ns = ? "
                              "WHERE id = ?", "cannot finish a video", error);
  if (!st)
    return rollback (store);
  bind_opt_int (st, 1, duration_ns);
  sqlite3_bind_int64 (st, 2, video_id);
  int rc = sqlite3_step (st);
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE) {
    set_db_error (store, rc, error, "cannot finish a video");
    return rollback (store);
  }
  return vlm_store_commit (store, error);
}

/**
 * vlm_store_abandon_video:
 * @store: a store
 * @video_id: from vlm_store_begin_video()
 * @deleted: (out) (optional): %TRUE when the video had no frames and its
 *   row was removed
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Ends a video that could not be indexed to the end: commits its pending
 * frames and leaves it incomplete (a later run resumes it), or removes it
 * when it has no frames at all.
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_store_abandon_video (VlmStore *store, gint64 video_id, gboolean *deleted, GError **error)
{
  if (deleted)
    *deleted = FALSE;
  if (!vlm_store_commit (store, error))
    return FALSE;
  sqlite3_stmt *st = prepare (store, "DELETE FROM videos WHERE id = ?1 AND NOT EXISTS "
                              "(SELECT 1 FROM frames WHERE video_id = ?1)",
                              "cannot clean up a video", error);
  if (!st)
    return FALSE;
  sqlite3_bind_int64 (st, 1, video_id);
  int rc = sqlite3_step (st);
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE) {
    set_db_error (store, rc, error, "cannot clean up a video");
    return FALSE;
  }
  if (deleted)
    *deleted = sqlite3_changes (store->db) > 0;
  return TRUE;
}

/**
 * vlm_store_video_clear:
 * @video: a video row
 *
 * Frees the strings of @video.
 */
void
vlm_store_video_clear (VlmStoreVideo *video)
{
  g_clear_pointer (&video->uri, g_free);
  g_clear_pointer (&video->path, g_free);
  g_clear_pointer (&video->caption_model, g_free);
}

static void
video_free (gpointer p)
{
  vlm_store_video_clear (p);
  g_free (p);
}

/* ------------------------------------------------------------------------ */
/* reading */

/**
 * vlm_store_count:
 * @store: a store
 * @n_videos: (out) (optional): videos, complete or not
 * @n_frames: (out) (optional): stored frames
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Returns: %TRUE on success.
 */
gboolean
vlm_store_count (VlmStore *store, gint64 *n_videos, gint64 *n_frames, GError **error)
{
  gint64 v = 0, f = 0;
  if (!query_int (store, "SELECT COUNT(*) FROM videos", &v, "cannot count videos", error) ||
      !query_int (store, "SELECT COUNT(*) FROM frames", &f, "cannot count frames", error))
    return FALSE;
  if (n_videos)
    *n_videos = v;
  if (n_frames)
    *n_frames = f;
  return TRUE;
}

static gboolean
load_rows (VlmStore *s, VlmStoreFrames *fr, GHashTable *index_of, gsize n, GError **error)
{
  sqlite3_stmt *st = prepare (s, "SELECT video_id, pts_ns, embedding FROM frames "
                              "ORDER BY video_id, pts_ns", "cannot read frames", error);
  if (!st)
    return FALSE;
  gsize row = 0, bytes = sizeof (gfloat) * (gsize) fr->dimension;
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    gint64 vid = sqlite3_column_int64 (st, 0);
    gpointer idx;
    if (row >= n) {
      g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT,
                   "%s: more frames than counted", s->path);
      break;
    }
    if (!g_hash_table_lookup_extended (index_of, &vid, NULL, &idx)) {
      g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT,
                   "%s: a frame belongs to video %" G_GINT64_FORMAT ", which does not exist",
                   s->path, vid);
      break;
    }
    const void *blob = sqlite3_column_blob (st, 2);
    gsize len = (gsize) sqlite3_column_bytes (st, 2);
    if (len != bytes || !blob) {
      VlmStoreVideo *v = g_ptr_array_index (fr->videos, GPOINTER_TO_UINT (idx));
      g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT,
                   "%s: the frame of %s at %" G_GINT64_FORMAT " ns has an embedding of %"
                   G_GSIZE_FORMAT " bytes; the index's %d-d model needs %" G_GSIZE_FORMAT,
                   s->path, v->uri, (gint64) sqlite3_column_int64 (st, 1), len, fr->dimension,
                   bytes);
      break;
    }
    gfloat *dst = fr->embeddings + row * fr->dimension;
    to_le (blob, dst, fr->dimension);  /* the same swap reads little-endian */
    fr->pts_ns[row] = sqlite3_column_int64 (st, 1);
    fr->video[row] = GPOINTER_TO_UINT (idx);
    row++;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    set_db_error (s, rc, error, "cannot read frames");
  sqlite3_finalize (st);
  if (rc == SQLITE_DONE && row != n) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT,
                 "%s: read %" G_GSIZE_FORMAT " frames of %" G_GSIZE_FORMAT " counted (the "
                 "frame index is damaged)", s->path, row, n);
    return FALSE;
  }
  return rc == SQLITE_DONE;
}

static VlmStoreFrames *load_frames (VlmStore *store, GError **error);

/**
 * vlm_store_load_frames:
 * @store: a store
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Reads every frame's embedding into memory (one consistent snapshot, even
 * while another process is indexing), for an exhaustive search.
 *
 * Returns: (transfer full) (nullable): the frames (possibly none), or %NULL
 *   with @error set.
 */
VlmStoreFrames *
vlm_store_load_frames (VlmStore *store, GError **error)
{
  if (!vlm_store_commit (store, error))
    return NULL;
  /* memory-mapped reads skip a copy through SQLite's page cache (a quarter
   * of the time for a million rows); only while loading, so that writers
   * never work on a mapping */
  sqlite3_exec (store->db, "PRAGMA mmap_size = 1099511627776", NULL, NULL, NULL);
  VlmStoreFrames *fr = load_frames (store, error);
  sqlite3_exec (store->db, "PRAGMA mmap_size = 0", NULL, NULL, NULL);
  return fr;
}

static VlmStoreFrames *
load_frames (VlmStore *store, GError **error)
{
  if (!exec (store, "BEGIN", "cannot start reading", error))
    return NULL;
  g_autoptr (VlmStoreFrames) fr = g_new0 (VlmStoreFrames, 1);
  fr->videos = g_ptr_array_new_with_free_func (video_free);
  fr->dimension = store->dimension;
  g_autoptr (GHashTable) index_of = g_hash_table_new_full (g_int64_hash, g_int64_equal,
                                                           g_free, NULL);
  gint64 n = 0;
  sqlite3_stmt *st = prepare (store, "SELECT " VIDEO_COLUMNS " FROM videos ORDER BY id",
                              "cannot read videos", error);
  if (!st)
    goto fail;
  int rc;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    VlmStoreVideo *v = g_new0 (VlmStoreVideo, 1);
    read_video (st, v);
    g_hash_table_insert (index_of, g_memdup2 (&v->id, sizeof v->id),
                         GUINT_TO_POINTER (fr->videos->len));
    g_ptr_array_add (fr->videos, v);
  }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE) {
    set_db_error (store, rc, error, "cannot read videos");
    goto fail;
  }
  if (!query_int (store, "SELECT COUNT(*) FROM frames", &n, "cannot count frames", error))
    goto fail;
  if (n > 0 && fr->dimension <= 0) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_CORRUPT,
                 "%s: frames are stored but no model dimension", store->path);
    goto fail;
  }
  fr->n_frames = (gsize) n;
  gsize emb_bytes = (gsize) n * (gsize) MAX (fr->dimension, 1) * sizeof (gfloat);
  void *mem = NULL;
  if (posix_memalign (&mem, 64, MAX (emb_bytes, 64)) != 0) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_IO,
                 "%s: not enough memory for %" G_GINT64_FORMAT " embeddings (%.1f GiB)",
                 store->path, n, emb_bytes / (double) (1 << 30));
    goto fail;
  }
  fr->embeddings = mem;
  fr->pts_ns = g_try_new (gint64, MAX (n, 1));
  fr->video = g_try_new (guint32, MAX (n, 1));
  if (!fr->pts_ns || !fr->video) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_IO,
                 "%s: not enough memory for %" G_GINT64_FORMAT " frames", store->path, n);
    goto fail;
  }
  if (!load_rows (store, fr, index_of, (gsize) n, error))
    goto fail;
  exec (store, "COMMIT", "cannot finish reading", NULL);
  return g_steal_pointer (&fr);

fail:
  sqlite3_exec (store->db, "ROLLBACK", NULL, NULL, NULL);
  return NULL;
}

/**
 * vlm_store_frames_free:
 * @frames: (nullable): frames from vlm_store_load_frames()
 *
 * Frees @frames.
 */
void
vlm_store_frames_free (VlmStoreFrames *frames)
{
  if (!frames)
    return;
  free (frames->embeddings);
  g_free (frames->pts_ns);
  g_free (frames->video);
  if (frames->videos)
    g_ptr_array_unref (frames->videos);
  g_free (frames);
}

/**
 * vlm_store_get_caption:
 * @store: a store
 * @video_id: a video's row id
 * @pts_ns: a frame's pts
 * @caption: (out) (transfer full) (nullable): the caption, %NULL when the
 *   frame has none
 * @error: return location for a #VLM_STORE_ERROR
 *
 * Returns: %TRUE on success (also without a caption).
 */
gboolean
vlm_store_get_caption (VlmStore *store, gint64 video_id, gint64 pts_ns, gchar **caption,
                       GError **error)
{
  *caption = NULL;
  sqlite3_stmt *st = prepare (store, "SELECT caption FROM frames WHERE video_id = ? AND "
                              "pts_ns = ?", "cannot read a caption", error);
  if (!st)
    return FALSE;
  sqlite3_bind_int64 (st, 1, video_id);
  sqlite3_bind_int64 (st, 2, pts_ns);
  int rc = sqlite3_step (st);
  if (rc == SQLITE_ROW) {
    *caption = column_str (st, 0);
    rc = SQLITE_DONE;
  }
  if (rc != SQLITE_DONE)
    set_db_error (store, rc, error, "cannot read a caption");
  sqlite3_finalize (st);
  return rc == SQLITE_DONE;
}
