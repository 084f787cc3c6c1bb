/* vlm search — text query against the video index.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vlm-cmd.h"
#include "vlm-search.h"
#include "vlm-store.h"
#include "models/vlm-clip.h"

typedef struct {
  gchar *db;
  gchar *model;
  gchar *device;
  gint top;
  gboolean json;
} SearchOptions;

typedef struct {
  const VlmStoreVideo *video;
  gint64 start_ns;
  gint64 end_ns;
  gint64 best_ns;
  gdouble score;
  gint frames;
  gchar *caption;
} Hit;

static gchar *
format_time (gint64 ns)
{
  if (ns < 0)
    return g_strdup ("?");
  gdouble s = ns / 1e9;
  gint h = (gint) (s / 3600);
  gint m = (gint) (fmod (s, 3600) / 60);
  gdouble sec = fmod (s, 60);
  return h ? g_strdup_printf ("%d:%02d:%04.1f", h, m, sec)
           : g_strdup_printf ("%d:%04.1f", m, sec);
}

/* The segment covers its frames up to the next sample: the next stored
 * frame, or the end of the video. */
static gint64
segment_end (const VlmStoreFrames *fr, const VlmSearchSegment *seg)
{
  gsize last = seg->last;
  if (last + 1 < fr->n_frames && fr->video[last + 1] == fr->video[last])
    return fr->pts_ns[last + 1];
  const VlmStoreVideo *v = g_ptr_array_index (fr->videos, fr->video[last]);
  gint64 step = v->every_ns > 0 ? v->every_ns : 1000000000;
  gint64 end = fr->pts_ns[last] + step;
  if (v->duration_ns > fr->pts_ns[last] && v->duration_ns < end)
    end = v->duration_ns;
  return end;
}

static void
print_table (const gchar *query, GArray *hits, gsize n_frames, guint n_videos, gdouble ms)
{
  gboolean captions = FALSE;
  for (guint i = 0; i < hits->len; i++)
    captions |= g_array_index (hits, Hit, i).caption != NULL;
  if (hits->len == 0) {
    printf ("no frames in the index match \"%s\" (the index is empty)\n", query);
    return;
  }
  printf (" %2s  %7s  %10s  %10s  %s%s\n", "#", "score", "start", "end", "video",
          captions ? "  —  caption of the best frame" : "");
  for (guint i = 0; i < hits->len; i++) {
    Hit *h = &g_array_index (hits, Hit, i);
    g_autofree gchar *a = format_time (h->start_ns), *b = format_time (h->end_ns);
    const gchar *name = h->video->path ? h->video->path : h->video->uri;
    printf (" %2u  %7.4f  %10s  %10s  %s%s", i + 1, h->score, a, b, name,
            h->video->complete ? "" : " (partly indexed)");
    if (h->caption)
      printf ("  —  %s", *h->caption ? h->caption : "(empty caption)");
    printf ("\n");
  }
  printf ("(%" G_GSIZE_FORMAT " frames of %u video%s searched in %.1f ms)\n", n_frames,
          n_videos, n_videos == 1 ? "" : "s", ms);
}

static void
print_json (const gchar *query, const VlmStoreModel *model, GArray *hits, gsize n_frames,
            guint n_videos, gdouble load_ms, gdouble encode_ms, gdouble search_ms)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "query");
  json_builder_add_string_value (b, query);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, model->path);
  json_builder_set_member_name (b, "model_fingerprint");
  json_builder_add_string_value (b, model->fingerprint);
  json_builder_set_member_name (b, "frames_searched");
  json_builder_add_int_value (b, (gint64) n_frames);
  json_builder_set_member_name (b, "videos");
  json_builder_add_int_value (b, n_videos);
  json_builder_set_member_name (b, "segments");
  json_builder_begin_array (b);
  for (guint i = 0; i < hits->len; i++) {
    Hit *h = &g_array_index (hits, Hit, i);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "uri");
    json_builder_add_string_value (b, h->video->uri);
    json_builder_set_member_name (b, "path");
    if (h->video->path)
      json_builder_add_string_value (b, h->video->path);
    else
      json_builder_add_null_value (b);
    json_builder_set_member_name (b, "start");
    json_builder_add_double_value (b, h->start_ns / 1e9);
    json_builder_set_member_name (b, "end");
    json_builder_add_double_value (b, h->end_ns / 1e9);
    json_builder_set_member_name (b, "best_time");
    json_builder_add_double_value (b, h->best_ns / 1e9);
    json_builder_set_member_name (b, "score");
    json_builder_add_double_value (b, h->score);
    json_builder_set_member_name (b, "frames");
    json_builder_add_int_value (b, h->frames);
    json_builder_set_member_name (b, "caption");
    if (h->caption)
      json_builder_add_string_value (b, h->caption);
    else
      json_builder_add_null_value (b);
    json_builder_set_member_name (b, "complete");
    json_builder_add_boolean_value (b, h->video->complete);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "timing_ms");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "load");
  json_builder_add_double_value (b, load_ms);
  json_builder_set_member_name (b, "encode");
  json_builder_add_double_value (b, encode_ms);
  json_builder_set_member_name (b, "search");
  json_builder_add_double_value (b, search_ms);
  json_builder_end_object (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  g_autofree gchar *text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}

/* The model to encode the query with: --model or the recorded one, and
 * only when its fingerprint is the index's. */
static gboolean
resolve_model (VlmStore *store, const gchar *given, VlmStoreModel *use, GError **error)
{
  g_auto (VlmStoreModel) have = { 0 };
  if (!vlm_store_get_model (store, &have, error))
    return FALSE;
  if (!have.fingerprint) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_NOT_FOUND,
                 "%s holds no frames yet (index videos with `vlm index` first)",
                 vlm_store_get_path (store));
    return FALSE;
  }
  const gchar *dir = given ? given : have.path;
  char *canon = realpath (dir, NULL);
  if (!canon) {
    int e = errno;
    if (given)
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "model %s: %s", dir,
                   g_strerror (e));
    else
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e),
                   "%s was built with model %s, which cannot be found (%s); give --model DIR "
                   "with the same model", vlm_store_get_path (store), dir, g_strerror (e));
    return FALSE;
  }
  use->path = g_strdup (canon);
  free (canon);
  VlmClipConfig config;
  g_autoptr (GError) cfg_error = NULL;
  if (!vlm_clip_config_load (use->path, &config, &cfg_error)) {
    g_set_error (error, VLM_STORE_ERROR, VLM_STORE_ERROR_MODEL_FILES, "model %s: %s",
                 use->path, cfg_error->message);
    return FALSE;
  }
  use->dimension = config.projection_dim;
  return vlm_store_model_fingerprint (use->path, &use->fingerprint, error) &&
         vlm_store_check_model (store, use, FALSE, error);
}

static int
fail (GError *error, int status)
{
  fprintf (stderr, "vlm search: %s\n", error->message);
  return status;
}

static gdouble
ms_since (gint64 t0)
{
  return (g_get_monotonic_time () - t0) / 1000.0;
}

static int
run_search (SearchOptions *o, const gchar *query)
{
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (VlmStore) store = vlm_store_open (o->db, VLM_STORE_OPEN_DEFAULT, &error);
  if (!store)
    return fail (error, 1);
  if (vlm_store_get_migrated_from (store))
    fprintf (stderr, "vlm search: migrated %s from schema version %d to %d\n", o->db,
             vlm_store_get_migrated_from (store), VLM_STORE_SCHEMA_VERSION);
  g_auto (VlmStoreModel) model = { 0 };
  if (!resolve_model (store, o->model, &model, &error))
    return fail (error, 1);
  g_autoptr (VlmStoreFrames) fr = vlm_store_load_frames (store, &error);
  if (!fr)
    return fail (error, 1);
  gdouble load_ms = ms_since (t0);

  t0 = g_get_monotonic_time ();
  g_autoptr (VlmDevice) dev = vlm_device_open (o->device, &error);
  if (!dev)
    return fail (error, 1);
  g_autoptr (VlmClipModel) clip = vlm_clip_model_load (model.path, dev, VLM_DTYPE_F32, &error);
  if (!clip)
    return fail (error, 1);
  g_autofree gfloat *q = g_new (gfloat, model.dimension);
  const gchar *texts[] = { query };
  if (!vlm_clip_encode_texts (clip, texts, 1, q, &error))
    return fail (error, 1);
  gdouble encode_ms = ms_since (t0);

  t0 = g_get_monotonic_time ();
  g_autofree gfloat *scores = g_try_new (gfloat, MAX (fr->n_frames, 1));
  if (!scores) {
    fprintf (stderr, "vlm search: not enough memory for %" G_GSIZE_FORMAT " scores\n",
             fr->n_frames);
    return 1;
  }
  vlm_search_scores (fr->embeddings, fr->n_frames, fr->dimension, q, scores, 0);
  g_autoptr (GArray) segs = vlm_search_segments (scores, fr->video, fr->n_frames,
                                                 (guint) o->top);
  gdouble search_ms = ms_since (t0);

  g_autoptr (GArray) hits = g_array_new (FALSE, TRUE, sizeof (Hit));
  for (guint i = 0; i < segs->len; i++) {
    VlmSearchSegment *s = &g_array_index (segs, VlmSearchSegment, i);
    Hit h = {
      .video = g_ptr_array_index (fr->videos, fr->video[s->best]),
      .start_ns = fr->pts_ns[s->first],
      .end_ns = segment_end (fr, s),
      .best_ns = fr->pts_ns[s->best],
      .score = s->score,
      .frames = (gint) (s->last - s->first + 1),
    };
    if (!vlm_store_get_caption (store, h.video->id, h.best_ns, &h.caption, &error)) {
      for (guint j = 0; j < hits->len; j++)
        g_free (g_array_index (hits, Hit, j).caption);
      return fail (error, 1);
    }
    g_array_append_val (hits, h);
  }
  if (o->json)
    print_json (query, &model, hits, fr->n_frames, fr->videos->len, load_ms, encode_ms,
                search_ms);
  else
    print_table (query, hits, fr->n_frames, fr->videos->len, search_ms);
  for (guint j = 0; j < hits->len; j++)
    g_free (g_array_index (hits, Hit, j).caption);
  return 0;
}

/**
 * vlm_cmd_search:
 * @argc: argument count
 * @argv: arguments from the command name on
 *
 * `vlm search --db FILE "TEXT" [--top K] [--json] [--model DIR]`: ranks every
 * indexed frame by cosine to the text and prints the best segments.
 *
 * Returns: the exit status.
 */
int
vlm_cmd_search (int argc, char **argv)
{
  SearchOptions o = { .top = 5 };
  GOptionEntry entries[] = {
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &o.db, "the index made by `vlm index`", "FILE" },
    { "top", 'k', 0, G_OPTION_ARG_INT, &o.top, "segments to print (default 5)", "K" },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &o.json, "print JSON", NULL },
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &o.model,
      "CLIP model folder (default: the one recorded in the index; must be the same model)",
      "DIR" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &o.device,
      "auto (default), cpu, vulkan or vulkan:N, to encode the text", "DEV" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("\"TEXT\" — find where TEXT is seen in the "
                                              "indexed videos");
  g_option_context_set_summary (ctx,
      "Encodes TEXT with the index's CLIP model, scores every stored frame (cosine, exact) "
      "and merges neighbouring good frames of a video into segments: start, end, best "
      "score and the caption of the best frame, best segment first.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  int status = 2;
  g_autofree gchar *query = NULL;
  if (!vlm_cmd_parse (ctx, &argc, &argv))
    goto done;
  if (!o.db) {
    fprintf (stderr, "vlm search: --db FILE is required\n");
    goto done;
  }
  if (argc < 2) {
    fprintf (stderr, "vlm search: give the TEXT to search for\n");
    goto done;
  }
  if (o.top < 1 || o.top > 10000) {
    fprintf (stderr, "vlm search: --top must be in 1 … 10000, not %d\n", o.top);
    goto done;
  }
  /* several words without quotes make one query */
  query = g_strjoinv (" ", argv + 1);
  if (!g_utf8_validate (query, -1, NULL)) {
    fprintf (stderr, "vlm search: the query is not valid UTF-8\n");
    goto done;
  }
  g_strstrip (query);
  if (!*query) {
    fprintf (stderr, "vlm search: the query is empty\n");
    goto done;
  }
  status = run_search (&o, query);

done:
  g_free (o.db);
  g_free (o.model);
  g_free (o.device);
  return status;
}
