/* vlm — the video index: frame embeddings (and captions) in an SQLite file.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * VLM_STORE_SCHEMA_VERSION:
 *
 * The schema version this code writes (`PRAGMA user_version`). Older
 * versions are migrated on open; newer ones are refused.
 *
 * - 1: tables `meta`, `videos`, `frames` (the first layout)
 * - 2: `videos.every_ns` (the sampling interval) and `videos.caption_model`
 */
#define VLM_STORE_SCHEMA_VERSION 2

/**
 * VLM_STORE_APPLICATION_ID:
 *
 * `PRAGMA application_id` of an index ("VLMI"), so that other SQLite files
 * are recognised and left alone.
 */
#define VLM_STORE_APPLICATION_ID 0x564c4d49

/**
 * VLM_STORE_ERROR:
 *
 * Error domain of the store. Messages name the database file and the
 * reason.
 */
#define VLM_STORE_ERROR (vlm_store_error_quark ())
GQuark vlm_store_error_quark (void);

/**
 * VlmStoreError:
 * @VLM_STORE_ERROR_NOT_FOUND: the database (or a video) does not exist
 * @VLM_STORE_ERROR_NOT_INDEX: the file is not SQLite, or SQLite but not an index
 * @VLM_STORE_ERROR_CORRUPT: SQLite reports damage, or rows are inconsistent
 * @VLM_STORE_ERROR_VERSION: the schema is newer than this code understands
 * @VLM_STORE_ERROR_MODEL: the database was built with another model
 * @VLM_STORE_ERROR_MODEL_FILES: the model folder cannot be fingerprinted
 * @VLM_STORE_ERROR_IO: any other SQLite failure (disk full, locked, read-only)
 * @VLM_STORE_ERROR_INVALID: a bad argument
 *
 * Error codes in the %VLM_STORE_ERROR domain.
 */
typedef enum {
  VLM_STORE_ERROR_NOT_FOUND,
  VLM_STORE_ERROR_NOT_INDEX,
  VLM_STORE_ERROR_CORRUPT,
  VLM_STORE_ERROR_VERSION,
  VLM_STORE_ERROR_MODEL,
  VLM_STORE_ERROR_MODEL_FILES,
  VLM_STORE_ERROR_IO,
  VLM_STORE_ERROR_INVALID,
} VlmStoreError;

/**
 * VlmStoreOpenFlags:
 * @VLM_STORE_OPEN_DEFAULT: the file must exist and be an index
 * @VLM_STORE_OPEN_CREATE: create the file (or fill an empty one) when needed
 * @VLM_STORE_OPEN_NO_MIGRATE: refuse an older schema instead of migrating it
 *
 * How vlm_store_open() treats the file.
 */
typedef enum {
  VLM_STORE_OPEN_DEFAULT = 0,
  VLM_STORE_OPEN_CREATE = 1 << 0,
  VLM_STORE_OPEN_NO_MIGRATE = 1 << 1,
} VlmStoreOpenFlags;

/**
 * VlmStoreModel:
 * @path: the model folder (canonical path when recorded by `vlm index`)
 * @fingerprint: "sha256:" + 64 hex digits, see vlm_store_model_fingerprint()
 * @dimension: embedding width (floats per frame)
 *
 * The identity of the CLIP model whose embeddings an index holds.
 */
typedef struct {
  gchar *path;
  gchar *fingerprint;
  gint dimension;
} VlmStoreModel;

/**
 * VlmStoreVideo:
 * @id: row id
 * @uri: the video's URI (the key)
 * @path: local file path, or %NULL for other URIs
 * @size: file size in bytes, -1 when unknown
 * @mtime_ns: modification time in ns since the epoch, -1 when unknown
 * @duration_ns: stream duration, -1 when unknown (or not finished)
 * @every_ns: sampling interval the frames were taken with
 * @caption_model: fingerprint of the caption model, %NULL without captions
 * @complete: %TRUE when the whole video was indexed
 * @n_frames: frames stored (filled by vlm_store_find_video())
 * @last_pts_ns: pts of the last stored frame, -1 without frames (idem)
 *
 * One indexed (or partly indexed) video.
 */
typedef struct {
  gint64 id;
  gchar *uri;
  gchar *path;
  gint64 size;
  gint64 mtime_ns;
  gint64 duration_ns;
  gint64 every_ns;
  gchar *caption_model;
  gboolean complete;
  gint64 n_frames;
  gint64 last_pts_ns;
} VlmStoreVideo;

/**
 * VlmStoreFrames:
 * @n_frames: number of frames
 * @dimension: floats per embedding
 * @embeddings: @n_frames × @dimension floats, row-major, 64-byte aligned
 * @pts_ns: pts of each frame
 * @video: index into @videos of each frame's video
 * @videos: (element-type VlmStoreVideo): the videos, in id order
 *
 * Every stored frame, in memory, grouped by video and ordered by pts within
 * a video (so rows r and r + 1 of the same video are neighbouring samples).
 */
typedef struct {
  gsize n_frames;
  gint dimension;
  gfloat *embeddings;
  gint64 *pts_ns;
  guint32 *video;
  GPtrArray *videos;
} VlmStoreFrames;

/**
 * VlmStore:
 *
 * An open index database. Not thread-safe: use it from one thread.
 */
typedef struct _VlmStore VlmStore;

VlmStore       *vlm_store_open              (const gchar *path, VlmStoreOpenFlags flags,
                                             GError **error);
void            vlm_store_close             (VlmStore *store);
const gchar    *vlm_store_get_path          (VlmStore *store);
gint            vlm_store_get_migrated_from (VlmStore *store);
gboolean        vlm_store_create_at_version (const gchar *path, gint version, GError **error);

gboolean        vlm_store_model_fingerprint (const gchar *dir, gchar **fingerprint,
                                             GError **error);
gboolean        vlm_store_get_model         (VlmStore *store, VlmStoreModel *model,
                                             GError **error);
gboolean        vlm_store_check_model       (VlmStore *store, const VlmStoreModel *model,
                                             gboolean record, GError **error);
void            vlm_store_model_clear       (VlmStoreModel *model);

gboolean        vlm_store_find_video        (VlmStore *store, const gchar *uri,
                                             VlmStoreVideo *video, gboolean *found,
                                             GError **error);
gboolean        vlm_store_begin_video       (VlmStore *store, const VlmStoreVideo *video,
                                             gboolean resume, gint64 *id, GError **error);
gboolean        vlm_store_add_frame         (VlmStore *store, gint64 video_id, gint64 pts_ns,
                                             const gfloat *embedding, const gchar *caption,
                                             GError **error);
gboolean        vlm_store_commit            (VlmStore *store, GError **error);
gboolean        vlm_store_finish_video      (VlmStore *store, gint64 video_id,
                                             gint64 duration_ns, GError **error);
gboolean        vlm_store_abandon_video     (VlmStore *store, gint64 video_id,
                                             gboolean *deleted, GError **error);
void            vlm_store_set_batch         (VlmStore *store, guint max_rows, gint64 max_us);
void            vlm_store_video_clear       (VlmStoreVideo *video);

gboolean        vlm_store_count             (VlmStore *store, gint64 *n_videos,
                                             gint64 *n_frames, GError **error);
VlmStoreFrames *vlm_store_load_frames       (VlmStore *store, GError **error);
void            vlm_store_frames_free       (VlmStoreFrames *frames);
gboolean        vlm_store_get_caption       (VlmStore *store, gint64 video_id, gint64 pts_ns,
                                             gchar **caption, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VlmStore, vlm_store_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VlmStoreFrames, vlm_store_frames_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (VlmStoreModel, vlm_store_model_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (VlmStoreVideo, vlm_store_video_clear)

G_END_DECLS
