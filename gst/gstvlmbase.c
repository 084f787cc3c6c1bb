/* gst-vlm — the base class of the vlm video elements.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:gstvlmbase
 * @title: GstVlmBase
 * @short_description: base class of the vlm video elements
 *
 * An abstract in-place video filter: video passes through untouched (its
 * memory is only mapped for reading; only the buffer's metadata is made
 * writable, so no pixels are copied), and every `interval`-th frame is
 * handed to the subclass's #GstVlmBaseClass.process with the model loaded.
 *
 * Raw video in RGB, RGBx, BGRx, RGBA, BGRA, NV12, I420 and YV12 is accepted
 * directly: colour conversion, resizing and cropping happen in the engine's
 * preprocessing, so no videoconvert/videoscale is needed in front. YUV is
 * read as BT.601 limited range (the engine's convention).
 *
 * The model is loaded (or shared with other elements using the same folder
 * and device, see #GstVlmModel) at the READY→PAUSED transition and given back
 * at PAUSED→READY; a missing or broken model fails that state change with an
 * error naming the folder and the reason. Without a `model`, the project's
 * demo model of the element's family is used (vlm_demo_model_find(): the
 * installed copy, the source tree, or `$VLM_DEMO_MODELS`).
 */
#include <string.h>

#include "gstvlmbase.h"
#include "vlm-demo-models.h"
#include "vlm-demo-models-paths.h"
#include "vlm-meta.h"

GST_DEBUG_CATEGORY_STATIC (gst_vlm_base_debug);
#define GST_CAT_DEFAULT gst_vlm_base_debug

#define DEFAULT_DEVICE "auto"
#define DEFAULT_INTERVAL 1
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_LATE_FRAMES GST_VLM_LATE_FRAMES_AUTO
/* The note the first vlm element watching for late frames leaves on a frame
 * for the others (see frame_is_late()); not a result, so not "Vlm…". */
#define ARRIVAL_META "GstVlmArrivalMeta"
/* lateness allowed when a frame has no duration and the caps no rate */
#define DEFAULT_TOLERANCE (20 * GST_MSECOND)

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_INTERVAL,
  PROP_POST_MESSAGES,
  PROP_STATS,
  PROP_LATE_FRAMES,
};

typedef struct {
  /* properties, object lock */
  gchar *model_path;
  gchar *device;
  gint interval;
  gboolean post_messages;
  GstVlmLateFrames late_frames;

  /* streaming state */
  GstVlmModel *model;
  guint test_delay_ms;          /* VLM_TEST_DELAY_MS, read at start */
  GstClockTime qos_earliest;    /* object lock: from downstream QoS events */
  GstClockTime pipeline_latency; /* object lock: from the latency event */
  GstClockTime own_latency;     /* object lock: added to latency queries */
  GThread *holding;             /* atomic: the thread whose errors are held */
  GList *held;                  /* error messages held while processing */
  gboolean fell_back;           /* now on the CPU after a Vulkan failure */
  gboolean process_this;
  gboolean colorimetry_warned;
  GByteArray *scratch;

  /* statistics, object lock */
  guint64 frames_seen;
  guint64 frames_processed;
  guint64 frames_skipped;
  guint64 image_encodes;
  guint64 text_encodes;
  gint64 process_us;
  gint64 encode_us;
} GstVlmBasePrivate;

/**
 * GstVlmLateFrames:
 * @GST_VLM_LATE_FRAMES_AUTO: skip late frames in live pipelines, process
 *   every frame otherwise
 * @GST_VLM_LATE_FRAMES_PROCESS: process every selected frame, however late
 * @GST_VLM_LATE_FRAMES_SKIP: pass late frames on without results
 *
 * What a vlm element does with a frame that arrives too late to be
 * analysed in time (see the `late-frames` property).
 */
GType
gst_vlm_late_frames_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    { GST_VLM_LATE_FRAMES_AUTO, "Skip late frames in live pipelines, process all otherwise",
      "auto" },
    { GST_VLM_LATE_FRAMES_PROCESS, "Process every frame, however late (the stream falls behind "
      "a live source faster than the model)", "process" },
    { GST_VLM_LATE_FRAMES_SKIP, "Pass late frames on without results (the stream keeps up)",
      "skip" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstVlmLateFrames", values));
  return type;
}

G_DEFINE_ABSTRACT_TYPE_WITH_CODE (GstVlmBase, gst_vlm_base, GST_TYPE_VIDEO_FILTER,
                                  G_ADD_PRIVATE (GstVlmBase)
                                  GST_DEBUG_CATEGORY_INIT (gst_vlm_base_debug, "vlmbase", 0,
                                                           "gst-vlm element base class"));

#define PRIV(b) ((GstVlmBasePrivate *) gst_vlm_base_get_instance_private (GST_VLM_BASE (b)))

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (GST_VLM_BASE_FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (GST_VLM_BASE_FORMATS)));

/* ------------------------------------------------------------------------ */
/* properties */

static gboolean
is_running (GstVlmBase *base)
{
  GST_OBJECT_LOCK (base);
  gboolean running = GST_STATE (base) > GST_STATE_READY ||
                     GST_STATE_PENDING (base) > GST_STATE_READY;
  GST_OBJECT_UNLOCK (base);
  return running;
}

static GstStructure *
make_stats (GstVlmBase *base)
{
  GstVlmBasePrivate *p = PRIV (base);
  GST_OBJECT_LOCK (base);
  GstStructure *s = gst_structure_new ("vlm-stats",
      "frames-seen", G_TYPE_UINT64, p->frames_seen,
      "frames-processed", G_TYPE_UINT64, p->frames_processed,
      "frames-skipped", G_TYPE_UINT64, p->frames_skipped,
      "image-encodes", G_TYPE_UINT64, p->image_encodes,
      "text-encodes", G_TYPE_UINT64, p->text_encodes,
      "mean-process-ms", G_TYPE_DOUBLE,
      p->frames_processed ? p->process_us / 1000.0 / (gdouble) p->frames_processed : 0.0,
      "mean-encode-ms", G_TYPE_DOUBLE,
      p->image_encodes ? p->encode_us / 1000.0 / (gdouble) p->image_encodes : 0.0,
      "model-loads", G_TYPE_UINT, gst_vlm_model_pool_get_loads (),
      "model-users", G_TYPE_UINT, p->model ? gst_vlm_model_get_users (p->model) : 0u,
      "device-name", G_TYPE_STRING, p->model ? gst_vlm_model_get_device_name (p->model) : "",
      "device-fallback", G_TYPE_BOOLEAN, p->fell_back ||
          (p->model && gst_vlm_model_get_fallback_reason (p->model)),
      "latency-ms", G_TYPE_DOUBLE, GST_CLOCK_TIME_IS_VALID (p->own_latency) ?
          p->own_latency / (gdouble) GST_MSECOND : 0.0,
      NULL);
  GST_OBJECT_UNLOCK (base);
  return s;
}

static void
gst_vlm_base_set_property (GObject *object, guint prop_id, const GValue *value,
                           GParamSpec *pspec)
{
  GstVlmBase *base = GST_VLM_BASE (object);
  GstVlmBasePrivate *p = PRIV (base);

  switch (prop_id) {
    case PROP_MODEL:
      if (is_running (base)) {
        g_warning ("%s: the model can only be changed in the NULL or READY state; "
                   "keeping \"%s\"", GST_OBJECT_NAME (base), p->model_path ? p->model_path : "");
        break;
      }
      GST_OBJECT_LOCK (base);
      g_free (p->model_path);
      p->model_path = g_value_dup_string (value);
      GST_OBJECT_UNLOCK (base);
      break;
    case PROP_DEVICE: {
      const gchar *spec = g_value_get_string (value);
      if (!gst_vlm_device_spec_is_valid (spec)) {
        g_warning ("%s: invalid device \"%s\" (expected auto, cpu, vulkan or vulkan:N); "
                   "keeping \"%s\"", GST_OBJECT_NAME (base), spec ? spec : "(null)", p->device);
        break;
      }
      if (is_running (base)) {
        g_warning ("%s: the device can only be changed in the NULL or READY state; "
                   "keeping \"%s\"", GST_OBJECT_NAME (base), p->device);
        break;
      }
      GST_OBJECT_LOCK (base);
      g_free (p->device);
      p->device = g_strdup (spec);
      GST_OBJECT_UNLOCK (base);
      break;
    }
    case PROP_INTERVAL:
      GST_OBJECT_LOCK (base);
      p->interval = g_value_get_int (value);
      GST_OBJECT_UNLOCK (base);
      break;
    case PROP_POST_MESSAGES:
      GST_OBJECT_LOCK (base);
      p->post_messages = g_value_get_boolean (value);
      GST_OBJECT_UNLOCK (base);
      break;
    case PROP_LATE_FRAMES:
      GST_OBJECT_LOCK (base);
      p->late_frames = g_value_get_enum (value);
      GST_OBJECT_UNLOCK (base);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_vlm_base_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstVlmBase *base = GST_VLM_BASE (object);
  GstVlmBasePrivate *p = PRIV (base);

  switch (prop_id) {
    case PROP_MODEL:
      GST_OBJECT_LOCK (base);
      g_value_set_string (value, p->model_path);
      GST_OBJECT_UNLOCK (base);
      break;
    case PROP_DEVICE:
      GST_OBJECT_LOCK (base);
      g_value_set_string (value, p->device);
      GST_OBJECT_UNLOCK (base);
      break;
    case PROP_INTERVAL:
      GST_OBJECT_LOCK (base);
      g_value_set_int (value, p->interval);
      GST_OBJECT_UNLOCK (base);
      break;
    case PROP_POST_MESSAGES:
      GST_OBJECT_LOCK (base);
      g_value_set_boolean (value, p->post_messages);
      GST_OBJECT_UNLOCK (base);
      break;
    case PROP_LATE_FRAMES:
      GST_OBJECT_LOCK (base);
      g_value_set_enum (value, p->late_frames);
      GST_OBJECT_UNLOCK (base);
      break;
    case PROP_STATS:
      g_value_take_boxed (value, make_stats (base));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

/* ------------------------------------------------------------------------ */
/* caps */

/* Posts a readable error for caps outside the template (a source with
 * fixed caps, appsrc, a harness). The pad rejects them right after this
 * probe, so the flow still ends in not-negotiated. */
static GstPadProbeReturn
caps_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstVlmBase *base = user_data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  GstCaps *caps;
  gst_event_parse_caps (event, &caps);
  g_autoptr (GstCaps) templ = gst_static_pad_template_get_caps (&sink_template);
  if (!gst_caps_is_subset (caps, templ)) {
    g_autofree gchar *got = gst_caps_to_string (caps);
    GST_ELEMENT_ERROR (base, CORE, NEGOTIATION,
        ("%s accepts raw video (video/x-raw, system memory) in the formats RGB, RGBx, BGRx, "
         "RGBA, BGRA, NV12, I420 and YV12; put videoconvert in front for other formats",
         GST_OBJECT_NAME (base)),
        ("unsupported caps %s", got));
  }
  return GST_PAD_PROBE_OK;
}

/* Caps pre-checked by a ghost pad never reach the probe above: at least
 * say in the debug log why they are refused. */
static gboolean
gst_vlm_base_accept_caps (GstBaseTransform *trans, GstPadDirection direction, GstCaps *caps)
{
  gboolean ok = GST_BASE_TRANSFORM_CLASS (gst_vlm_base_parent_class)->accept_caps (trans,
                                                                                   direction,
                                                                                   caps);
  if (!ok && gst_caps_is_fixed (caps))
    GST_WARNING_OBJECT (trans, "refusing %" GST_PTR_FORMAT ": raw video in RGB, RGBx, BGRx, "
                        "RGBA, BGRA, NV12, I420 or YV12 only", caps);
  return ok;
}

static gboolean
gst_vlm_base_set_info (GstVideoFilter *filter, GstCaps *incaps, GstVideoInfo *in_info,
                       GstCaps *outcaps, GstVideoInfo *out_info)
{
  GstVlmBase *base = GST_VLM_BASE (filter);
  GstVlmBasePrivate *p = PRIV (base);
  if (GST_VIDEO_INFO_IS_YUV (in_info) && !p->colorimetry_warned &&
      (in_info->colorimetry.matrix != GST_VIDEO_COLOR_MATRIX_BT601 ||
       in_info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255)) {
    g_autofree gchar *c = gst_video_colorimetry_to_string (&in_info->colorimetry);
    GST_WARNING_OBJECT (base, "colorimetry %s: YUV is read as BT.601 limited range, so colours "
                        "differ slightly from a correct conversion", c ? c : "unknown");
    p->colorimetry_warned = TRUE;
  }
  GST_DEBUG_OBJECT (base, "caps %" GST_PTR_FORMAT, incaps);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* model */

/* With device "auto", a model on a Vulkan device may give way to the CPU
 * backend when the device fails. */
static gboolean
can_fall_back (GstVlmBase *base)
{
  GstVlmBasePrivate *p = PRIV (base);
  GST_OBJECT_LOCK (base);
  gboolean is_auto = g_ascii_strcasecmp (p->device, "auto") == 0;
  GST_OBJECT_UNLOCK (base);
  return is_auto && p->model && gst_vlm_model_get_backend (p->model) == VLM_BACKEND_VULKAN;
}

/* Replaces the element's model, on a Vulkan device that failed for
 * @reason, by the same model on the CPU backend (shared with the other
 * elements that fell back), posts a warning naming the device and the
 * reason, and takes the failed instance out of the pool so that elements
 * started later load afresh. Subclass state stays: it depends on the
 * model's folder, which does not change. */
static gboolean
fall_back_to_cpu (GstVlmBase *base, const gchar *reason)
{
  GstVlmBasePrivate *p = PRIV (base);
  GstVlmBaseClass *klass = GST_VLM_BASE_GET_CLASS (base);
  GstVlmModel *old = p->model;
  g_autoptr (GError) error = NULL;
  GstVlmModel *cpu = gst_vlm_model_pool_acquire_kind (gst_vlm_model_get_id (old), "cpu",
                                                      klass->model_kind, &error);
  if (!cpu) {
    GST_WARNING_OBJECT (base, "cannot fall back to the CPU backend: %s", error->message);
    return FALSE;
  }
  GST_ELEMENT_WARNING (base, RESOURCE, FAILED,
      ("%s: device auto: %s failed (%s); continuing on the CPU backend (%s)",
       GST_OBJECT_NAME (base), gst_vlm_model_get_device_name (old), reason,
       gst_vlm_model_get_device_name (cpu)), (NULL));
  GST_OBJECT_LOCK (base);
  p->model = cpu;
  p->fell_back = TRUE;
  GST_OBJECT_UNLOCK (base);
  gst_vlm_model_pool_retire (old);
  gst_vlm_model_pool_release (old);
  return TRUE;
}

static gboolean
gst_vlm_base_start (GstBaseTransform *trans)
{
  GstVlmBase *base = GST_VLM_BASE (trans);
  GstVlmBasePrivate *p = PRIV (base);
  GstVlmBaseClass *klass = GST_VLM_BASE_GET_CLASS (base);

  GST_OBJECT_LOCK (base);
  g_autofree gchar *folder = g_strdup (p->model_path);
  g_autofree gchar *device = g_strdup (p->device);
  p->frames_seen = p->frames_processed = p->frames_skipped = 0;
  p->image_encodes = p->text_encodes = 0;
  p->process_us = p->encode_us = 0;
  p->qos_earliest = GST_CLOCK_TIME_NONE;
  p->pipeline_latency = GST_CLOCK_TIME_NONE;
  p->own_latency = 0;
  GST_OBJECT_UNLOCK (base);
  p->colorimetry_warned = FALSE;
  p->fell_back = FALSE;
  const gchar *delay = g_getenv ("VLM_TEST_DELAY_MS");
  p->test_delay_ms = delay ? (guint) MIN (g_ascii_strtoull (delay, NULL, 10), 60000) : 0;

  g_autoptr (GError) error = NULL;
  const gchar *demo_note = "";
  if (!folder || !*folder) {
    VlmDemoModel demo = klass->model_kind == GST_VLM_MODEL_KIND_GIT ? VLM_DEMO_MODEL_GIT
                                                                     : VLM_DEMO_MODEL_CLIP;
    g_free (folder);
    folder = vlm_demo_model_find (demo, &error);
    if (!folder) {
      GST_ELEMENT_ERROR (base, RESOURCE, NOT_FOUND,
          ("%s: no model folder set (property \"model\") and %s; pass model=DIR (a %s folder "
           "in the Hugging Face layout) or set " VLM_DEMO_MODELS_ENV "=DIR (holding clip/ and "
           "git/)", GST_OBJECT_NAME (base), error->message, vlm_demo_model_family (demo)),
          (NULL));
      return FALSE;
    }
    GST_INFO_OBJECT (base, "no model set: the demo %s model in %s",
                     vlm_demo_model_family (demo), folder);
    demo_note = demo == VLM_DEMO_MODEL_GIT
        ? " (the demo GIT model, used because \"model\" is unset; pass model=DIR for another)"
        : " (the demo CLIP model, used because \"model\" is unset; pass model=DIR for another)";
  }
  GstVlmModel *model = gst_vlm_model_pool_acquire_kind (folder, device, klass->model_kind,
                                                        &error);
  if (!model) {
    GST_ELEMENT_ERROR (base, RESOURCE, OPEN_READ,
        ("%s: cannot load the model in folder \"%s\"%s on device \"%s\": %s",
         GST_OBJECT_NAME (base), folder, demo_note, device, error->message), (NULL));
    return FALSE;
  }
  GST_OBJECT_LOCK (base);
  p->model = model;
  GST_OBJECT_UNLOCK (base);
  GST_INFO_OBJECT (base, "model %s on %s (%s), shared by %u", gst_vlm_model_get_id (model),
                   device, gst_vlm_model_get_device_name (model),
                   gst_vlm_model_get_users (model));
  if (gst_vlm_model_get_fallback_reason (model))
    GST_ELEMENT_WARNING (base, RESOURCE, FAILED,
        ("%s: device auto: %s; running on the CPU backend (%s)", GST_OBJECT_NAME (base),
         gst_vlm_model_get_fallback_reason (model), gst_vlm_model_get_device_name (model)),
        (NULL));

  gboolean loaded = !klass->model_loaded || klass->model_loaded (base, &error);
  if (!loaded && can_fall_back (base)) {
    /* e.g. vlmmatch's prompts hit a device failure */
    g_autofree gchar *reason = g_strdup (error->message);
    g_clear_error (&error);
    loaded = fall_back_to_cpu (base, reason) &&
             (!klass->model_loaded || klass->model_loaded (base, &error));
    model = p->model;
  }
  if (!loaded) {
    GST_ELEMENT_ERROR (base, LIBRARY, INIT,
        ("%s: model \"%s\" on %s: %s", GST_OBJECT_NAME (base), folder,
         gst_vlm_model_get_device_name (model), error ? error->message : "set-up failed"),
        (NULL));
    GST_OBJECT_LOCK (base);
    p->model = NULL;
    GST_OBJECT_UNLOCK (base);
    gst_vlm_model_pool_release (model);
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_vlm_base_stop (GstBaseTransform *trans)
{
  GstVlmBase *base = GST_VLM_BASE (trans);
  GstVlmBasePrivate *p = PRIV (base);
  GstVlmBaseClass *klass = GST_VLM_BASE_GET_CLASS (base);

  if (p->model) {
    if (klass->model_unloading)
      klass->model_unloading (base);
    g_autoptr (GstStructure) stats = make_stats (base);
    GST_INFO_OBJECT (base, "%" GST_PTR_FORMAT, stats);
    GST_OBJECT_LOCK (base);
    GstVlmModel *model = p->model;
    p->model = NULL;
    GST_OBJECT_UNLOCK (base);
    gst_vlm_model_pool_release (model);
  }
  if (p->scratch) {
    g_byte_array_unref (p->scratch);
    p->scratch = NULL;
  }
  g_list_free_full (g_steal_pointer (&p->held), (GDestroyNotify) gst_message_unref);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* streaming */

/* Chooses whether this buffer is processed, and only then makes its
 * metadata writable (a shallow copy sharing the memory, never the pixels). */
static GstFlowReturn
gst_vlm_base_prepare_output_buffer (GstBaseTransform *trans, GstBuffer *input,
                                    GstBuffer **outbuf)
{
  GstVlmBase *base = GST_VLM_BASE (trans);
  GstVlmBasePrivate *p = PRIV (base);

  GST_OBJECT_LOCK (base);
  gint interval = MAX (p->interval, 1);
  p->process_this = p->frames_seen % (guint64) interval == 0 &&
                    !GST_BUFFER_FLAG_IS_SET (input, GST_BUFFER_FLAG_GAP);
  p->frames_seen++;
  GST_OBJECT_UNLOCK (base);

  if (p->process_this && !gst_buffer_is_writable (input))
    *outbuf = gst_buffer_copy (input);
  else
    *outbuf = input;
  return GST_FLOW_OK;
}

/* The lateness a frame may have before it counts as late: one frame. */
static GstClockTime
frame_tolerance (GstVlmBase *base, GstBuffer *buffer)
{
  GstVideoInfo *info = &GST_VIDEO_FILTER (base)->in_info;
  if (GST_BUFFER_DURATION_IS_VALID (buffer) && GST_BUFFER_DURATION (buffer) > 0)
    return GST_BUFFER_DURATION (buffer);
  if (GST_VIDEO_INFO_FPS_N (info) > 0 && GST_VIDEO_INFO_FPS_D (info) > 0)
    return gst_util_uint64_scale_int (GST_SECOND, GST_VIDEO_INFO_FPS_D (info),
                                      GST_VIDEO_INFO_FPS_N (info));
  return DEFAULT_TOLERANCE;
}

/* The late-frames policy. Frames are watched with "skip", and with "auto"
 * when upstream is live (@watching). A watched frame is late when it reached
 * the first vlm element of its stream more than one frame after its running
 * time plus the pipeline's latency (the source's, plus what vlm elements add
 * for their processing, see update_own_latency()): the stream fell behind
 * the source; or when downstream's QoS events say frames up to its running
 * time are already too late. The first watching element notes its decision
 * in a GstVlmArrivalMeta and the vlm elements after it follow it, so that a
 * frame is analysed by all of them or by none (in one streaming thread, the
 * time the first one spends on a frame would otherwise make it late for the
 * next). @lateness: by how much. */
static gboolean
frame_is_late (GstVlmBase *base, GstBuffer *buffer, gboolean *watching,
               GstClockTimeDiff *lateness)
{
  GstVlmBasePrivate *p = PRIV (base);
  GstBaseTransform *trans = GST_BASE_TRANSFORM (base);
  *watching = FALSE;
  *lateness = 0;
  GST_OBJECT_LOCK (base);
  GstVlmLateFrames policy = p->late_frames;
  GstClockTime earliest = p->qos_earliest;
  GstClockTime latency = p->pipeline_latency;
  GST_OBJECT_UNLOCK (base);
  if (policy == GST_VLM_LATE_FRAMES_PROCESS)
    return FALSE;

  GstCustomMeta *arrival = gst_buffer_get_custom_meta (buffer, ARRIVAL_META);
  if (arrival) {
    GstStructure *s = gst_custom_meta_get_structure (arrival);
    gboolean skip = FALSE;
    gint64 late = 0;
    gst_structure_get (s, "skip", G_TYPE_BOOLEAN, &skip, "lateness", G_TYPE_INT64, &late, NULL);
    *watching = TRUE;
    *lateness = late;
    return skip;
  }

  GstClockTime pts = GST_BUFFER_PTS (buffer);
  if (!GST_CLOCK_TIME_IS_VALID (pts) || trans->segment.format != GST_FORMAT_TIME)
    return FALSE;
  GstClockTime rt = gst_segment_to_running_time (&trans->segment, GST_FORMAT_TIME, pts);
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (base));
  if (!GST_CLOCK_TIME_IS_VALID (rt) || !clock) {
    g_clear_object (&clock);
    return FALSE;
  }
  gboolean live = FALSE;
  GstClockTime upstream = 0;
  GstQuery *query = gst_query_new_latency ();
  if (gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (trans), query))
    gst_query_parse_latency (query, &live, &upstream, NULL);
  gst_query_unref (query);
  if (policy == GST_VLM_LATE_FRAMES_AUTO && !live) {
    gst_object_unref (clock);
    return FALSE;
  }
  *watching = TRUE;

  GstClockTime now = gst_clock_get_time (clock);
  gst_object_unref (clock);
  if (!GST_CLOCK_TIME_IS_VALID (latency))
    latency = upstream;
  GstClockTime deadline = gst_element_get_base_time (GST_ELEMENT (base)) + rt + latency +
                          frame_tolerance (base, buffer);
  *lateness = GST_CLOCK_DIFF (deadline, now);
  gboolean late = *lateness > 0;
  if (!late && GST_CLOCK_TIME_IS_VALID (earliest) && rt <= earliest) {
    *lateness = GST_CLOCK_DIFF (rt, earliest);
    late = TRUE;
  }
  GstCustomMeta *meta = gst_buffer_add_custom_meta (buffer, ARRIVAL_META);
  gst_structure_set (gst_custom_meta_get_structure (meta), "skip", G_TYPE_BOOLEAN, late,
                     "lateness", G_TYPE_INT64, (gint64) *lateness, NULL);
  return late;
}

/* A QoS message for a frame passed on without analysis, as elements that
 * drop buffers for QoS post them (stats: processed and skipped frames). */
static void
post_skip_qos (GstVlmBase *base, GstBuffer *buffer, GstClockTimeDiff lateness,
               guint64 processed, guint64 skipped)
{
  GstSegment *segment = &GST_BASE_TRANSFORM (base)->segment;
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  GstMessage *msg = gst_message_new_qos (GST_OBJECT (base), TRUE,
      gst_segment_to_running_time (segment, GST_FORMAT_TIME, pts),
      gst_segment_to_stream_time (segment, GST_FORMAT_TIME, pts), pts,
      GST_BUFFER_DURATION (buffer));
  gst_message_set_qos_values (msg, lateness, 1.0,
      (gint) (1000000 * processed / MAX (processed + skipped, 1)));
  gst_message_set_qos_stats (msg, GST_FORMAT_BUFFERS, processed, skipped);
  gst_element_post_message (GST_ELEMENT (base), msg);
}

/* Watched frames: the element announces the time its processing takes (the
 * longest seen, plus a quarter) as latency, so that elements after it and
 * the sinks allow for it; a latency message asks the application to
 * redistribute the pipeline's latency (gst-launch-1.0 does). */
static void
update_own_latency (GstVlmBase *base, gint64 process_us)
{
  GstVlmBasePrivate *p = PRIV (base);
  GstClockTime t = (GstClockTime) process_us * GST_USECOND;
  GST_OBJECT_LOCK (base);
  gboolean grow = t > p->own_latency;
  if (grow)
    p->own_latency = t + t / 4;
  GstClockTime latency = p->own_latency;
  GST_OBJECT_UNLOCK (base);
  if (!grow)
    return;
  GST_INFO_OBJECT (base, "processing takes up to %" GST_TIME_FORMAT ": announcing a latency of %"
                   GST_TIME_FORMAT, GST_TIME_ARGS (t), GST_TIME_ARGS (latency));
  gst_element_post_message (GST_ELEMENT (base), gst_message_new_latency (GST_OBJECT (base)));
}

/* Runs the subclass on a frame. On a Vulkan device, errors it posts are
 * held: with device=auto a failure moves the element to the CPU backend
 * (fall_back_to_cpu()) and the frame is processed again there; otherwise
 * the errors are posted, the first one naming the device. */
static GstFlowReturn
process_frame (GstVlmBase *base, GstBuffer *buffer, GstVideoFrame *frame)
{
  GstVlmBasePrivate *p = PRIV (base);
  GstVlmBaseClass *klass = GST_VLM_BASE_GET_CLASS (base);
  if (!p->model || gst_vlm_model_get_backend (p->model) != VLM_BACKEND_VULKAN)
    return klass->process (base, buffer, frame);

  g_atomic_pointer_set (&p->holding, g_thread_self ());
  GstFlowReturn ret = klass->process (base, buffer, frame);
  g_atomic_pointer_set (&p->holding, NULL);
  GList *held = g_steal_pointer (&p->held);
  if (!held)
    return ret;

  g_autoptr (GError) error = NULL;
  g_autofree gchar *debug = NULL;
  gst_message_parse_error (held->data, &error, &debug);
  /* the debug text after GStreamer's "file(line): function (): path:" line */
  const gchar *reason = debug && strchr (debug, '\n') ? strchr (debug, '\n') + 1 : debug;
  if (!reason || !*reason)
    reason = error->message;
  if (ret == GST_FLOW_ERROR && can_fall_back (base) && fall_back_to_cpu (base, reason)) {
    g_list_free_full (held, (GDestroyNotify) gst_message_unref);
    return klass->process (base, buffer, frame);
  }
  GstMessage *first = held->data;
  g_autoptr (GError) named = g_error_new (error->domain, error->code, "%s: %s on %s: %s",
                                          GST_OBJECT_NAME (base), error->message,
                                          gst_vlm_model_get_device_name (p->model), reason);
  held->data = gst_message_new_error (GST_MESSAGE_SRC (first), named, debug);
  gst_message_unref (first);
  for (GList *l = held; l; l = l->next)
    gst_element_post_message (GST_ELEMENT (base), l->data);
  g_list_free (held);
  return ret;
}

static gboolean
gst_vlm_base_post_message (GstElement *element, GstMessage *message)
{
  GstVlmBasePrivate *p = PRIV (element);
  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR &&
      g_atomic_pointer_get (&p->holding) == (gpointer) g_thread_self ()) {
    GST_DEBUG_OBJECT (element, "holding %" GST_PTR_FORMAT, message);
    p->held = g_list_append (p->held, message);
    return TRUE;
  }
  return GST_ELEMENT_CLASS (gst_vlm_base_parent_class)->post_message (element, message);
}

static gboolean
gst_vlm_base_src_event (GstBaseTransform *trans, GstEvent *event)
{
  GstVlmBase *base = GST_VLM_BASE (trans);
  GstVlmBasePrivate *p = PRIV (base);
  if (GST_EVENT_TYPE (event) == GST_EVENT_QOS) {
    GstQOSType type;
    gdouble proportion;
    GstClockTimeDiff diff;
    GstClockTime timestamp;
    gst_event_parse_qos (event, &type, &proportion, &diff, &timestamp);
    GST_OBJECT_LOCK (base);
    /* as GstBaseTransform computes it: a late frame is followed by more */
    if (diff > 0)
      p->qos_earliest = timestamp + 2 * diff;
    else
      p->qos_earliest = timestamp + diff;
    GST_OBJECT_UNLOCK (base);
  } else if (GST_EVENT_TYPE (event) == GST_EVENT_LATENCY) {
    GstClockTime latency;
    gst_event_parse_latency (event, &latency);
    GST_OBJECT_LOCK (base);
    p->pipeline_latency = latency;
    GST_OBJECT_UNLOCK (base);
  }
  return GST_BASE_TRANSFORM_CLASS (gst_vlm_base_parent_class)->src_event (trans, event);
}

static gboolean
gst_vlm_base_query (GstBaseTransform *trans, GstPadDirection direction, GstQuery *query)
{
  GstVlmBasePrivate *p = PRIV (trans);
  gboolean ok = GST_BASE_TRANSFORM_CLASS (gst_vlm_base_parent_class)->query (trans, direction,
                                                                            query);
  if (ok && direction == GST_PAD_SRC && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency (query, &live, &min, &max);
    GST_OBJECT_LOCK (trans);
    GstClockTime own = p->own_latency;
    GST_OBJECT_UNLOCK (trans);
    if (own) {
      min += own;
      if (GST_CLOCK_TIME_IS_VALID (max))
        max += own;
      gst_query_set_latency (query, live, min, max);
    }
  }
  return ok;
}

static GstFlowReturn
gst_vlm_base_transform_ip (GstBaseTransform *trans, GstBuffer *buffer)
{
  GstVlmBase *base = GST_VLM_BASE (trans);
  GstVideoFilter *filter = GST_VIDEO_FILTER (trans);
  GstVlmBasePrivate *p = PRIV (base);
  GstVlmBaseClass *klass = GST_VLM_BASE_GET_CLASS (base);

  if (!p->process_this || !klass->process)
    return GST_FLOW_OK;
  if (!filter->negotiated) {
    GST_ELEMENT_ERROR (base, CORE, NOT_IMPLEMENTED, (NULL), ("buffer before caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  gboolean watching;
  GstClockTimeDiff lateness = 0;
  if (frame_is_late (base, buffer, &watching, &lateness)) {
    GST_OBJECT_LOCK (base);
    guint64 processed = p->frames_processed, skipped = ++p->frames_skipped;
    GST_OBJECT_UNLOCK (base);
    GST_DEBUG_OBJECT (base, "frame at %" GST_TIME_FORMAT " is %" GST_STIME_FORMAT " late: "
                      "passed on without analysis", GST_TIME_ARGS (GST_BUFFER_PTS (buffer)),
                      GST_STIME_ARGS (lateness));
    post_skip_qos (base, buffer, lateness, processed, skipped);
    return GST_FLOW_OK;
  }
  /* NO_REF: a reference held by the frame would make the buffer's
   * metadata read-only for the subclass */
  GstVideoFrame frame;
  if (!gst_video_frame_map (&frame, &filter->in_info, buffer,
                            GST_MAP_READ | GST_VIDEO_FRAME_MAP_FLAG_NO_REF)) {
    GST_ELEMENT_ERROR (base, STREAM, FORMAT, (NULL),
        ("buffer of %" G_GSIZE_FORMAT " bytes does not hold a %dx%d %s frame",
         gst_buffer_get_size (buffer), GST_VIDEO_INFO_WIDTH (&filter->in_info),
         GST_VIDEO_INFO_HEIGHT (&filter->in_info),
         GST_VIDEO_INFO_NAME (&filter->in_info)));
    return GST_FLOW_ERROR;
  }
  gint64 t0 = g_get_monotonic_time ();
  if (p->test_delay_ms)
    g_usleep ((gulong) p->test_delay_ms * 1000);
  GstFlowReturn ret = process_frame (base, buffer, &frame);
  gint64 dt = g_get_monotonic_time () - t0;
  gst_video_frame_unmap (&frame);

  GST_OBJECT_LOCK (base);
  p->frames_processed++;
  p->process_us += dt;
  GST_OBJECT_UNLOCK (base);
  GST_LOG_OBJECT (base, "frame %" G_GUINT64_FORMAT " processed in %.2f ms", p->frames_seen - 1,
                  dt / 1000.0);
  if (watching && ret == GST_FLOW_OK)
    update_own_latency (base, dt);
  return ret;
}

/* ------------------------------------------------------------------------ */
/* helpers for subclasses */

/**
 * gst_vlm_base_get_clip:
 * @base: an element
 *
 * Returns: (transfer none) (nullable): the CLIP model, between READY→PAUSED
 *   and PAUSED→READY.
 */
VlmClipModel *
gst_vlm_base_get_clip (GstVlmBase *base)
{
  GstVlmBasePrivate *p = PRIV (base);
  return p->model ? gst_vlm_model_get_clip (p->model) : NULL;
}

/**
 * gst_vlm_base_get_git:
 * @base: an element whose class asks for %GST_VLM_MODEL_KIND_GIT
 *
 * Returns: (transfer none) (nullable): the GIT model, between READY→PAUSED
 *   and PAUSED→READY.
 */
VlmGitModel *
gst_vlm_base_get_git (GstVlmBase *base)
{
  GstVlmBasePrivate *p = PRIV (base);
  return p->model ? gst_vlm_model_get_git (p->model) : NULL;
}

/**
 * gst_vlm_base_get_model_id:
 * @base: an element
 *
 * Returns: (nullable): the id embedding metas carry (the canonical model
 *   folder), while the model is loaded.
 */
const gchar *
gst_vlm_base_get_model_id (GstVlmBase *base)
{
  GstVlmBasePrivate *p = PRIV (base);
  return p->model ? gst_vlm_model_get_id (p->model) : NULL;
}

static gboolean
pixel_format (GstVideoFormat format, VlmPixelFormat *out)
{
  switch (format) {
    case GST_VIDEO_FORMAT_RGB: *out = VLM_PIXEL_RGB; return TRUE;
    case GST_VIDEO_FORMAT_RGBx: *out = VLM_PIXEL_RGBX; return TRUE;
    case GST_VIDEO_FORMAT_RGBA: *out = VLM_PIXEL_RGBA; return TRUE;
    case GST_VIDEO_FORMAT_BGRx: *out = VLM_PIXEL_BGRX; return TRUE;
    case GST_VIDEO_FORMAT_BGRA: *out = VLM_PIXEL_BGRA; return TRUE;
    case GST_VIDEO_FORMAT_NV12: *out = VLM_PIXEL_NV12; return TRUE;
    case GST_VIDEO_FORMAT_I420:
    case GST_VIDEO_FORMAT_YV12: *out = VLM_PIXEL_I420; return TRUE;
    default: return FALSE;
  }
}

/* Fills @vf from a mapped frame: one base pointer with a byte offset per
 * plane, in the engine's plane order (Y, U, V for I420/YV12; Y, UV for
 * NV12). When the planes are not inside one mapping (several memories),
 * they are packed into @scratch first. */
static gboolean
frame_to_clip (GstVideoFrame *frame, GByteArray **scratch, VlmFrame *vf, GError **error)
{
  GstVideoFormat format = GST_VIDEO_FRAME_FORMAT (frame);
  memset (vf, 0, sizeof *vf);
  if (!pixel_format (format, &vf->params.format)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED, "video format %s is not supported",
                 gst_video_format_to_string (format));
    return FALSE;
  }
  vf->params.width = GST_VIDEO_FRAME_WIDTH (frame);
  vf->params.height = GST_VIDEO_FRAME_HEIGHT (frame);

  /* (component used to find the plane, rows) per engine plane */
  gint n = GST_VIDEO_FRAME_N_PLANES (frame) == 2 ? 2 : GST_VIDEO_FRAME_N_COMPONENTS (frame);
  if (!GST_VIDEO_FORMAT_INFO_IS_YUV (frame->info.finfo))
    n = 1;
  const guint8 *data[3] = { NULL, NULL, NULL };
  gsize bytes[3] = { 0, 0, 0 };
  for (gint i = 0; i < n; i++) {
    /* Packed RGB: the plane's start (component 0 of BGRx is not at byte
     * 0). YUV: component i's first sample; for NV12's U that is the
     * interleaved plane's start, as the engine wants. */
    gint stride = n == 1 ? GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0)
                         : GST_VIDEO_FRAME_COMP_STRIDE (frame, i);
    gint rows = GST_VIDEO_FRAME_COMP_HEIGHT (frame, i);
    gsize row_bytes = (gsize) GST_VIDEO_FRAME_COMP_WIDTH (frame, i) *
                      (gsize) GST_VIDEO_FRAME_COMP_PSTRIDE (frame, i);
    data[i] = n == 1 ? GST_VIDEO_FRAME_PLANE_DATA (frame, 0) : GST_VIDEO_FRAME_COMP_DATA (frame, i);
    if (stride <= 0 || rows <= 0 || !data[i] || (gsize) stride < row_bytes) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                   "plane %d: stride %d for %" G_GSIZE_FORMAT " bytes per row, %d rows "
                   "(negative strides are not supported)", i, stride, row_bytes, rows);
      return FALSE;
    }
    vf->params.stride[i] = stride;
    /* the last row may stop at its last pixel */
    bytes[i] = (gsize) stride * (gsize) (rows - 1) + row_bytes;
  }

  const guint8 *start = frame->map[0].data;
  const guint8 *end = start ? start + frame->map[0].size : NULL;
  gboolean inside = start != NULL;
  for (gint i = 0; inside && i < n; i++)
    inside = data[i] >= start && data[i] + bytes[i] <= end;
  if (inside) {
    vf->data = start;
    vf->size = frame->map[0].size;
    for (gint i = 0; i < n; i++)
      vf->params.plane_offset[i] = (gsize) (data[i] - start);
    return TRUE;
  }

  gsize total = 0;
  for (gint i = 0; i < n; i++)
    total += bytes[i];
  if (!*scratch)
    *scratch = g_byte_array_new ();
  g_byte_array_set_size (*scratch, (guint) total);
  gsize offset = 0;
  for (gint i = 0; i < n; i++) {
    memcpy ((*scratch)->data + offset, data[i], bytes[i]);
    vf->params.plane_offset[i] = offset;
    offset += bytes[i];
  }
  vf->data = (*scratch)->data;
  vf->size = total;
  return TRUE;
}

/**
 * gst_vlm_base_encode_frame:
 * @base: an element with its model loaded
 * @frame: a mapped frame in one of the supported formats
 * @embedding: (out caller-allocates) (array): projection_dim floats,
 *   L2-normalised
 * @error: return location for a #GError
 *
 * Runs the image tower on a frame (preprocessing included) and counts it in
 * the `stats` property's `image-encodes`.
 *
 * Returns: %TRUE on success.
 */
gboolean
gst_vlm_base_encode_frame (GstVlmBase *base, GstVideoFrame *frame, gfloat *embedding,
                           GError **error)
{
  GstVlmBasePrivate *p = PRIV (base);
  VlmClipModel *clip = gst_vlm_base_get_clip (base);
  if (!clip) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "no model loaded");
    return FALSE;
  }
  VlmFrame vf;
  if (!frame_to_clip (frame, &p->scratch, &vf, error))
    return FALSE;
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = vlm_clip_encode_frames (clip, &vf, 1, embedding, error);
  gint64 dt = g_get_monotonic_time () - t0;
  GST_OBJECT_LOCK (base);
  p->image_encodes++;
  p->encode_us += dt;
  GST_OBJECT_UNLOCK (base);
  return ok;
}

/**
 * gst_vlm_base_encode_git_frame:
 * @base: an element with a GIT model loaded
 * @frame: a mapped frame in one of the supported formats
 * @error: return location for a #GError
 *
 * Runs GIT's image encoder and visual projection on a frame (preprocessing
 * included) and counts it in the `stats` property's `image-encodes`. The
 * result serves any number of captions and questions.
 *
 * Returns: (transfer full) (nullable): the encoded image, to free with
 *   vlm_git_image_free(); %NULL with @error set on failure.
 */
VlmGitImage *
gst_vlm_base_encode_git_frame (GstVlmBase *base, GstVideoFrame *frame, GError **error)
{
  GstVlmBasePrivate *p = PRIV (base);
  VlmGitModel *git = gst_vlm_base_get_git (base);
  if (!git) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "no GIT model loaded");
    return NULL;
  }
  VlmFrame vf;
  if (!frame_to_clip (frame, &p->scratch, &vf, error))
    return NULL;
  gint64 t0 = g_get_monotonic_time ();
  VlmGitImage *image = vlm_git_encode_frame (git, &vf, error);
  gint64 dt = g_get_monotonic_time () - t0;
  GST_OBJECT_LOCK (base);
  p->image_encodes++;
  p->encode_us += dt;
  GST_OBJECT_UNLOCK (base);
  return image;
}

/**
 * gst_vlm_base_encode_texts:
 * @base: an element with its model loaded
 * @texts: (array length=n): prompts
 * @n: number of prompts
 * @embeddings: (out caller-allocates) (array): n × projection_dim floats,
 *   L2-normalised
 * @error: return location for a #GError
 *
 * Runs the text tower and counts the prompts in the `stats` property's
 * `text-encodes`.
 *
 * Returns: %TRUE on success.
 */
gboolean
gst_vlm_base_encode_texts (GstVlmBase *base, const gchar *const *texts, gint n,
                           gfloat *embeddings, GError **error)
{
  GstVlmBasePrivate *p = PRIV (base);
  VlmClipModel *clip = gst_vlm_base_get_clip (base);
  if (!clip) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT, "no model loaded");
    return FALSE;
  }
  gboolean ok = vlm_clip_encode_texts (clip, texts, n, embeddings, error);
  GST_OBJECT_LOCK (base);
  p->text_encodes += (guint64) n;
  GST_OBJECT_UNLOCK (base);
  return ok;
}

/**
 * gst_vlm_base_new_result_at:
 * @base: an element
 * @name: structure name ("vlm-embedding", "vlm-match", …)
 * @pts: presentation time of the frame the result belongs to, or
 *   GST_CLOCK_TIME_NONE
 * @duration: its duration, or GST_CLOCK_TIME_NONE
 *
 * Starts a result message: a structure with `pts`, `duration`,
 * `running-time` and `stream-time` (unsigned 64-bit nanoseconds, or
 * GST_CLOCK_TIME_NONE when unknown), the last two from the current segment.
 *
 * Returns: (transfer full): the structure, to fill and give to
 *   gst_vlm_base_post_result().
 */
GstStructure *
gst_vlm_base_new_result_at (GstVlmBase *base, const gchar *name, GstClockTime pts,
                            GstClockTime duration)
{
  GstSegment *segment = &GST_BASE_TRANSFORM (base)->segment;
  GstClockTime running = GST_CLOCK_TIME_NONE, stream = GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID (pts) && segment->format == GST_FORMAT_TIME) {
    running = gst_segment_to_running_time (segment, GST_FORMAT_TIME, pts);
    stream = gst_segment_to_stream_time (segment, GST_FORMAT_TIME, pts);
  }
  return gst_structure_new (name,
      "pts", G_TYPE_UINT64, (guint64) pts,
      "duration", G_TYPE_UINT64, (guint64) duration,
      "running-time", G_TYPE_UINT64, (guint64) running,
      "stream-time", G_TYPE_UINT64, (guint64) stream, NULL);
}

/**
 * gst_vlm_base_new_result:
 * @base: an element
 * @name: structure name ("vlm-embedding", "vlm-match", …)
 * @buffer: the buffer the result belongs to
 *
 * gst_vlm_base_new_result_at() with the buffer's pts and duration.
 *
 * Returns: (transfer full): the structure.
 */
GstStructure *
gst_vlm_base_new_result (GstVlmBase *base, const gchar *name, GstBuffer *buffer)
{
  return gst_vlm_base_new_result_at (base, name, GST_BUFFER_PTS (buffer),
                                     GST_BUFFER_DURATION (buffer));
}

/**
 * gst_vlm_base_post_result:
 * @base: an element
 * @result: (transfer full): a structure from gst_vlm_base_new_result()
 *
 * Posts @result as an element message on the bus, unless the
 * `post-messages` property is %FALSE.
 */
void
gst_vlm_base_post_result (GstVlmBase *base, GstStructure *result)
{
  GstVlmBasePrivate *p = PRIV (base);
  GST_OBJECT_LOCK (base);
  gboolean post = p->post_messages;
  GST_OBJECT_UNLOCK (base);
  if (!post) {
    gst_structure_free (result);
    return;
  }
  gst_element_post_message (GST_ELEMENT (base),
                            gst_message_new_element (GST_OBJECT (base), result));
}

/* ------------------------------------------------------------------------ */
/* GObject */

static void
gst_vlm_base_finalize (GObject *object)
{
  GstVlmBasePrivate *p = PRIV (object);
  g_free (p->model_path);
  g_free (p->device);
  if (p->model)
    gst_vlm_model_pool_release (p->model);
  if (p->scratch)
    g_byte_array_unref (p->scratch);
  G_OBJECT_CLASS (gst_vlm_base_parent_class)->finalize (object);
}

static void
gst_vlm_base_init (GstVlmBase *base)
{
  GstVlmBasePrivate *p = PRIV (base);
  p->device = g_strdup (DEFAULT_DEVICE);
  p->interval = DEFAULT_INTERVAL;
  p->post_messages = DEFAULT_POST_MESSAGES;
  p->late_frames = DEFAULT_LATE_FRAMES;
  p->qos_earliest = GST_CLOCK_TIME_NONE;
  p->pipeline_latency = GST_CLOCK_TIME_NONE;
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (base), TRUE);
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (base), FALSE);
  /* QoS in GstBaseTransform drops late buffers; an analyser must pass every
   * frame on (use `interval` to lighten the load) */
  gst_base_transform_set_qos_enabled (GST_BASE_TRANSFORM (base), FALSE);
  gst_pad_add_probe (GST_BASE_TRANSFORM_SINK_PAD (base), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     caps_probe, base, NULL);
}

static void
gst_vlm_base_class_init (GstVlmBaseClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);

  gobject_class->set_property = gst_vlm_base_set_property;
  gobject_class->get_property = gst_vlm_base_get_property;
  gobject_class->finalize = gst_vlm_base_finalize;

  /**
   * GstVlmBase:model:
   *
   * The model folder in the Hugging Face layout: CLIP for vlmembed and
   * vlmmatch (config.json, model.safetensors, vocab.json, merges.txt,
   * preprocessor_config.json), GIT for vlmcaption and vlmvqa (config.json,
   * model.safetensors, vocab.txt, preprocessor_config.json).
   * Elements naming the same folder (after resolving symbolic links) and
   * the same device share one loaded instance. Unset (the default): the
   * project's demo model, CLIP or GIT as above, from
   * DATADIR/gst-vlm/models/demo/ (or the source tree it was built from, or
   * `$VLM_DEMO_MODELS`; see vlm_demo_model_find()).
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model folder",
          "Folder of the model (Hugging Face layout: config.json, model.safetensors, "
          "tokenizer files); loaded at READY→PAUSED, shared with every element using the "
          "same folder and device. Unset: the demo model (CLIP for vlmembed/vlmmatch, GIT for "
          "vlmcaption/vlmvqa) from " VLM_DEMO_MODELS_DATADIR "/{clip,git}, else the source "
          "tree's models/demo; $VLM_DEMO_MODELS=DIR replaces both; missing: an error",
          NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  /**
   * GstVlmBase:device:
   *
   * Compute device: "auto" (a GPU when Vulkan offers one, else the CPU
   * backend), "cpu", "vulkan" (the best GPU) or "vulkan:N" (Vulkan
   * physical device N, including CPU implementations such as lavapipe). An
   * invalid string is rejected with a warning and the old value kept.
   */
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Compute device: auto, cpu, vulkan or vulkan:N (N = Vulkan device index, as listed "
          "by `vlm devices`)",
          DEFAULT_DEVICE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  /**
   * GstVlmBase:interval:
   *
   * Process one frame in every @interval (the first, then every
   * @interval-th); the others pass through without results.
   */
  g_object_class_install_property (gobject_class, PROP_INTERVAL,
      g_param_spec_int ("interval", "Interval",
          "Process every Nth frame (1 = every frame); the others pass through unannotated",
          1, G_MAXINT, DEFAULT_INTERVAL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmBase:post-messages:
   *
   * Whether every result is also posted as an element message on the bus.
   */
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post an element message on the bus for every result (gst-launch-1.0 -m prints them)",
          DEFAULT_POST_MESSAGES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmBase:stats:
   *
   * Counters since the last READY→PAUSED, as a "vlm-stats" structure:
   * frames-seen, frames-processed, frames-skipped (selected frames passed on
   * without analysis because they were late, see #GstVlmBase:late-frames),
   * image-encodes and text-encodes (guint64), mean-process-ms (per processed
   * frame) and mean-encode-ms (per image encode) (gdouble), model-loads
   * (guint, model loads in the whole process so far), model-users (guint,
   * elements sharing this model instance), device-name (string),
   * device-fallback (gboolean: with device "auto", running on the CPU
   * backend because Vulkan failed) and latency-ms (gdouble: the latency the
   * element announces for its processing, 0 unless it watches for late
   * frames).
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Frames seen/processed/skipped as late, encoder runs, mean processing time, model "
          "loads in the process, users of this model instance, the device and whether it is a "
          "fallback, the latency announced",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstVlmBase:late-frames:
   *
   * What to do with a selected frame that arrives too late to be analysed
   * in time: later than one frame after its running time plus the latency
   * announced upstream, or before the time downstream's QoS events say is
   * already late. That happens when a live source delivers frames faster
   * than the model analyses them.
   *
   * "skip" passes such frames on at once, without results (a QoS message
   * counts them, and the `stats` property's frames-skipped), so the stream
   * keeps pace with the source: frames keep flowing, the results stay on
   * the frames that were analysed, and latency stays bounded. The element
   * announces the time its processing takes as latency (a latency message
   * on the bus), so that sinks and vlm elements after it allow for it.
   * "process" analyses every selected frame, however late (the stream falls
   * behind a live source). "auto" (the default) skips in live pipelines and
   * processes every frame otherwise (files are analysed completely).
   */
  g_object_class_install_property (gobject_class, PROP_LATE_FRAMES,
      g_param_spec_enum ("late-frames", "Late frames",
          "Frames arriving too late to be analysed in time (a live source faster than the "
          "model): skip = pass them on without results so the stream keeps up with the "
          "source, process = analyse every one (the stream falls behind), auto = skip in live "
          "pipelines, process otherwise",
          GST_TYPE_VLM_LATE_FRAMES, DEFAULT_LATE_FRAMES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_vlm_base_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_vlm_base_stop);
  trans_class->accept_caps = GST_DEBUG_FUNCPTR (gst_vlm_base_accept_caps);
  trans_class->prepare_output_buffer = GST_DEBUG_FUNCPTR (gst_vlm_base_prepare_output_buffer);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_vlm_base_transform_ip);
  trans_class->src_event = GST_DEBUG_FUNCPTR (gst_vlm_base_src_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_vlm_base_query);
  element_class->post_message = GST_DEBUG_FUNCPTR (gst_vlm_base_post_message);
  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = TRUE;
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_vlm_base_set_info);

  gst_type_mark_as_plugin_api (GST_TYPE_VLM_BASE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_VLM_LATE_FRAMES, 0);
  static const gchar *no_tags[] = { NULL };
  gst_meta_register_custom (ARRIVAL_META, no_tags, NULL, NULL, NULL);
  gst_vlm_meta_register ();
}
