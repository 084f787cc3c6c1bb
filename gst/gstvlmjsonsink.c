/* gst-vlm — vlmjsonsink: vlm results as JSON lines.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-vlmjsonsink
 * @title: vlmjsonsink
 * @short_description: writes the vlm metadata of each buffer as JSON lines
 *
 * Writes one JSON object per line for every buffer that carries vlm
 * metadata (a frame processed by vlmembed, vlmmatch, vlmcaption, vlmvqa);
 * buffers without
 * results (skipped by `interval`) write nothing. Each object holds the
 * buffer's times and one entry per vlm meta, with the meta's fields under
 * their own names:
 * |[
 * {"pts":0,"duration":33333333,"running-time":0,"stream-time":0,"results":[
 *   {"meta":"VlmEmbeddingMeta","model-id":"/models/clip","element":"vlmembed0",
 *    "dimension":512},
 *   {"meta":"VlmMatchMeta","model-id":"/models/clip","element":"vlmmatch0",
 *    "mode":"classify","labels":["red","green","blue"],"template":"{}",
 *    "scores":[0.2,0.5,0.3],"best-index":1,"best-label":"green","best-score":0.5},
 *   {"meta":"VlmCaptionMeta","model-id":"/models/git-coco","element":"vlmcaption0",
 *    "text":"a red ball on a table","mean-logprob":-0.61,"truncated":false},
 *   {"meta":"VlmAnswerMeta","model-id":"/models/git-vqa","element":"vlmvqa0",
 *    "question":"what color is the ball?","answer":"red","score":-0.12,"truncated":false,
 *    "question-truncated":false}]}
 * ]|
 * (one line in the file). Times are nanoseconds, null when unknown. The
 * embedding's `vector` is written only with #GstVlmJsonSink:vectors.
 * Accepts any caps; put it where a sink would go, or behind a tee.
 *
 * ## Example pipeline
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=30 ! vlmembed model=/path/to/clip ! \
 *     vlmmatch model=/path/to/clip labels="red,green,blue" ! vlmjsonsink location=out.jsonl
 * ]|
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>

#include "gstvlmjsonsink.h"
#include "vlm-meta.h"

GST_DEBUG_CATEGORY_STATIC (gst_vlm_json_sink_debug);
#define GST_CAT_DEFAULT gst_vlm_json_sink_debug

#define DEFAULT_LOCATION "-"
#define DEFAULT_VECTORS FALSE

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_VECTORS,
};

struct _GstVlmJsonSink {
  GstBaseSink parent;
  gchar *location;   /* object lock */
  gboolean vectors;  /* object lock */
  FILE *file;
  gboolean is_stdout;
  guint64 lines;
};

G_DEFINE_TYPE (GstVlmJsonSink, gst_vlm_json_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE (vlmjsonsink, "vlmjsonsink", GST_RANK_NONE,
                             GST_TYPE_VLM_JSON_SINK);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

/* ------------------------------------------------------------------------ */
/* JSON writing */

static void
json_string (GString *out, const gchar *s)
{
  g_string_append_c (out, '"');
  for (const guchar *c = (const guchar *) (s ? s : ""); *c; c++) {
    switch (*c) {
      case '"': g_string_append (out, "\\\""); break;
      case '\\': g_string_append (out, "\\\\"); break;
      case '\n': g_string_append (out, "\\n"); break;
      case '\r': g_string_append (out, "\\r"); break;
      case '\t': g_string_append (out, "\\t"); break;
      default:
        if (*c < 0x20)
          g_string_append_printf (out, "\\u%04x", *c);
        else
          g_string_append_c (out, (gchar) *c);
    }
  }
  g_string_append_c (out, '"');
}

static void
json_number (GString *out, gdouble v, gboolean single)
{
  if (!isfinite (v)) {
    g_string_append (out, "null");
    return;
  }
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_string_append (out, g_ascii_formatd (buf, sizeof buf, single ? "%.7g" : "%.10g", v));
}

static void
json_time (GString *out, guint64 t)
{
  if (t == GST_CLOCK_TIME_NONE)
    g_string_append (out, "null");
  else
    g_string_append_printf (out, "%" G_GUINT64_FORMAT, t);
}

static void json_value (GString *out, const GValue *v);

static void
json_value (GString *out, const GValue *v)
{
  GType t = G_VALUE_TYPE (v);
  if (t == G_TYPE_STRING) {
    json_string (out, g_value_get_string (v));
  } else if (t == G_TYPE_BOOLEAN) {
    g_string_append (out, g_value_get_boolean (v) ? "true" : "false");
  } else if (t == G_TYPE_INT) {
    g_string_append_printf (out, "%d", g_value_get_int (v));
  } else if (t == G_TYPE_UINT) {
    g_string_append_printf (out, "%u", g_value_get_uint (v));
  } else if (t == G_TYPE_INT64) {
    g_string_append_printf (out, "%" G_GINT64_FORMAT, g_value_get_int64 (v));
  } else if (t == G_TYPE_UINT64) {
    json_time (out, g_value_get_uint64 (v));
  } else if (t == G_TYPE_FLOAT) {
    json_number (out, g_value_get_float (v), TRUE);
  } else if (t == G_TYPE_DOUBLE) {
    json_number (out, g_value_get_double (v), FALSE);
  } else if (t == G_TYPE_BYTES) {
    /* vlm metas store float32 arrays in GBytes */
    GBytes *b = g_value_get_boxed (v);
    gsize size = 0;
    const gfloat *f = b ? g_bytes_get_data (b, &size) : NULL;
    g_string_append_c (out, '[');
    for (gsize i = 0; f && i < size / sizeof (gfloat); i++) {
      if (i)
        g_string_append_c (out, ',');
      json_number (out, f[i], TRUE);
    }
    g_string_append_c (out, ']');
  } else if (GST_VALUE_HOLDS_ARRAY (v) || GST_VALUE_HOLDS_LIST (v)) {
    gboolean array = GST_VALUE_HOLDS_ARRAY (v);
    guint n = array ? gst_value_array_get_size (v) : gst_value_list_get_size (v);
    g_string_append_c (out, '[');
    for (guint i = 0; i < n; i++) {
      if (i)
        g_string_append_c (out, ',');
      json_value (out, array ? gst_value_array_get_value (v, i) : gst_value_list_get_value (v, i));
    }
    g_string_append_c (out, ']');
  } else {
    g_autofree gchar *s = gst_value_serialize (v);
    json_string (out, s);
  }
}

typedef struct {
  GString *out;
  gboolean vectors;
} FieldCtx;

static gboolean
json_field (GQuark field, const GValue *value, gpointer user_data)
{
  FieldCtx *ctx = user_data;
  const gchar *name = g_quark_to_string (field);
  if (!ctx->vectors && G_VALUE_HOLDS (value, G_TYPE_BYTES) && !strcmp (name, "vector"))
    return TRUE;
  g_string_append_c (ctx->out, ',');
  json_string (ctx->out, name);
  g_string_append_c (ctx->out, ':');
  json_value (ctx->out, value);
  return TRUE;
}

/**
 * gst_vlm_json_sink_buffer_to_json:
 * @buffer: a buffer
 * @segment: (nullable): the time segment, for running and stream time
 * @vectors: whether to write embedding vectors
 *
 * Returns: (transfer full) (nullable): one JSON object (no newline) with the
 *   buffer's times and its vlm metas, or %NULL when it has none.
 */
gchar *
gst_vlm_json_sink_buffer_to_json (GstBuffer *buffer, GstSegment *segment, gboolean vectors)
{
  GString *out = g_string_new ("{");
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  GstClockTime running = GST_CLOCK_TIME_NONE, stream = GST_CLOCK_TIME_NONE;
  if (segment && segment->format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (pts)) {
    running = gst_segment_to_running_time (segment, GST_FORMAT_TIME, pts);
    stream = gst_segment_to_stream_time (segment, GST_FORMAT_TIME, pts);
  }
  g_string_append (out, "\"pts\":");
  json_time (out, pts);
  g_string_append (out, ",\"duration\":");
  json_time (out, GST_BUFFER_DURATION (buffer));
  g_string_append (out, ",\"running-time\":");
  json_time (out, running);
  g_string_append (out, ",\"stream-time\":");
  json_time (out, stream);
  g_string_append (out, ",\"results\":[");

  guint n = 0;
  gpointer state = NULL;
  GstMeta *meta;
  FieldCtx ctx = { out, vectors };
  while ((meta = gst_buffer_iterate_meta (buffer, &state))) {
    if (!gst_vlm_meta_is_vlm (meta))
      continue;
    GstStructure *s = gst_custom_meta_get_structure ((GstCustomMeta *) meta);
    if (n++)
      g_string_append_c (out, ',');
    g_string_append (out, "{\"meta\":");
    json_string (out, gst_structure_get_name (s));
    gst_structure_foreach (s, json_field, &ctx);
    g_string_append_c (out, '}');
  }
  g_string_append (out, "]}");
  if (n == 0) {
    g_string_free (out, TRUE);
    return NULL;
  }
  return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------------ */
/* GstBaseSink */

static gboolean
gst_vlm_json_sink_start (GstBaseSink *sink)
{
  GstVlmJsonSink *self = GST_VLM_JSON_SINK (sink);
  GST_OBJECT_LOCK (self);
  g_autofree gchar *location = g_strdup (self->location);
  GST_OBJECT_UNLOCK (self);
  self->lines = 0;
  if (!location || !*location) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("no location set"), (NULL));
    return FALSE;
  }
  if (!strcmp (location, "-")) {
    self->file = stdout;
    self->is_stdout = TRUE;
    return TRUE;
  }
  self->file = fopen (location, "w");
  if (!self->file) {
    int e = errno;
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("could not open \"%s\" for writing: %s", location, g_strerror (e)), (NULL));
    return FALSE;
  }
  self->is_stdout = FALSE;
  return TRUE;
}

static gboolean
gst_vlm_json_sink_stop (GstBaseSink *sink)
{
  GstVlmJsonSink *self = GST_VLM_JSON_SINK (sink);
  if (self->file) {
    if (self->is_stdout)
      fflush (self->file);
    else
      fclose (self->file);
    self->file = NULL;
  }
  GST_INFO_OBJECT (self, "wrote %" G_GUINT64_FORMAT " lines", self->lines);
  return TRUE;
}

static GstFlowReturn
gst_vlm_json_sink_render (GstBaseSink *sink, GstBuffer *buffer)
{
  GstVlmJsonSink *self = GST_VLM_JSON_SINK (sink);
  GST_OBJECT_LOCK (self);
  gboolean vectors = self->vectors;
  GST_OBJECT_UNLOCK (self);
  g_autofree gchar *line = gst_vlm_json_sink_buffer_to_json (buffer, &sink->segment, vectors);
  if (!line)
    return GST_FLOW_OK;
  if (fputs (line, self->file) < 0 || fputc ('\n', self->file) < 0 || fflush (self->file) != 0) {
    int e = errno;
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("could not write JSON lines: %s",
                       g_strerror (e)), (NULL));
    return GST_FLOW_ERROR;
  }
  self->lines++;
  return GST_FLOW_OK;
}

/* ------------------------------------------------------------------------ */
/* GObject */

static void
gst_vlm_json_sink_set_property (GObject *object, guint prop_id, const GValue *value,
                                GParamSpec *pspec)
{
  GstVlmJsonSink *self = GST_VLM_JSON_SINK (object);
  switch (prop_id) {
    case PROP_LOCATION: {
      const gchar *location = g_value_get_string (value);
      GST_OBJECT_LOCK (self);
      gboolean running = GST_STATE (self) > GST_STATE_READY;
      GST_OBJECT_UNLOCK (self);
      if (running) {
        g_warning ("%s: the location can only be changed in the NULL or READY state",
                   GST_OBJECT_NAME (self));
        break;
      }
      if (!location || !*location) {
        g_warning ("%s: empty location rejected (use \"-\" for stdout)",
                   GST_OBJECT_NAME (self));
        break;
      }
      GST_OBJECT_LOCK (self);
      g_free (self->location);
      self->location = g_strdup (location);
      GST_OBJECT_UNLOCK (self);
      break;
    }
    case PROP_VECTORS:
      GST_OBJECT_LOCK (self);
      self->vectors = g_value_get_boolean (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_vlm_json_sink_get_property (GObject *object, guint prop_id, GValue *value,
                                GParamSpec *pspec)
{
  GstVlmJsonSink *self = GST_VLM_JSON_SINK (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_VECTORS:
      g_value_set_boolean (value, self->vectors);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_vlm_json_sink_finalize (GObject *object)
{
  GstVlmJsonSink *self = GST_VLM_JSON_SINK (object);
  g_free (self->location);
  G_OBJECT_CLASS (gst_vlm_json_sink_parent_class)->finalize (object);
}

static void
gst_vlm_json_sink_init (GstVlmJsonSink *self)
{
  self->location = g_strdup (DEFAULT_LOCATION);
  self->vectors = DEFAULT_VECTORS;
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
}

static void
gst_vlm_json_sink_class_init (GstVlmJsonSinkClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *sink_class = GST_BASE_SINK_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_vlm_json_sink_debug, "vlmjsonsink", 0,
                           "gst-vlm JSON lines writer");

  gobject_class->set_property = gst_vlm_json_sink_set_property;
  gobject_class->get_property = gst_vlm_json_sink_get_property;
  gobject_class->finalize = gst_vlm_json_sink_finalize;

  /**
   * GstVlmJsonSink:location:
   *
   * File to write (created or truncated at READY→PAUSED); "-" is stdout.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "File to write the JSON lines to (\"-\" = standard output)",
          DEFAULT_LOCATION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  /**
   * GstVlmJsonSink:vectors:
   *
   * Whether embedding vectors are written (as arrays of floats); without
   * them an embedding entry holds its model id and dimension only.
   */
  g_object_class_install_property (gobject_class, PROP_VECTORS,
      g_param_spec_boolean ("vectors", "Vectors",
          "Write embedding vectors (arrays of floats) too",
          DEFAULT_VECTORS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class,
      "VLM JSON lines writer", "Sink/Analyzer",
      "Writes one JSON object per line for every buffer carrying vlm metadata (pts, "
      "duration, running-time, stream-time, and every embedding/match/caption/answer "
      "result with "
      "its producing element) to a file or stdout (location=-). Example: gst-launch-1.0 "
      "videotestsrc num-buffers=30 ! vlmembed model=/path/to/clip ! vlmmatch "
      "model=/path/to/clip labels=\"red,green,blue\" ! vlmjsonsink location=out.jsonl",
      "gst-vlm developers");

  sink_class->start = GST_DEBUG_FUNCPTR (gst_vlm_json_sink_start);
  sink_class->stop = GST_DEBUG_FUNCPTR (gst_vlm_json_sink_stop);
  sink_class->render = GST_DEBUG_FUNCPTR (gst_vlm_json_sink_render);

  gst_vlm_meta_register ();
}
