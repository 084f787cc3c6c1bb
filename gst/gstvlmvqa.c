/* gst-vlm — vlmvqa: answers a question about every processed frame (GIT).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-vlmvqa
 * @title: vlmvqa
 * @short_description: answers a question about video frames with a GIT model
 *
 * Encodes every processed frame (see #GstVlmBase:interval) once with the
 * image encoder of a GIT visual-question-answering model (Hugging Face
 * `GitForCausalLM` folder such as microsoft/git-base-vqav2 or
 * git-base-textvqa) and generates the answer to #GstVlmVqa:question: the
 * question's WordPiece tokens follow [CLS] and the model continues with the
 * answer (greedy, or beam search with #GstVlmVqa:num-beams). The video
 * passes through untouched.
 *
 * Results per processed frame: a `VlmAnswerMeta` (`question`, `answer`,
 * `score`, `truncated`, `question-truncated`, `model-id`; see vlm-meta.h)
 * and a "vlm-answer" element message with `pts`, `duration`,
 * `running-time`, `stream-time` (guint64 ns), `model-id`, `question`,
 * `answer` (strings), `score` (double: mean log-probability of the answer's
 * tokens, end token included, ≤ 0), `truncated` (boolean: the answer hit
 * #GstVlmVqa:max-tokens), `question-truncated` (boolean) and `tokens`
 * (guint: answer tokens, end token excluded).
 *
 * The question changes at run time through the #GstVlmVqa:question
 * property (applied from the next buffer) or, frame-accurately, with a
 * serialized custom downstream event named "vlm-set-question"
 * (#GST_VLM_SET_QUESTION_EVENT) which applies from the buffer right after
 * it and is passed on downstream:
 * |[<!-- language="C" -->
 * gst_pad_send_event (sinkpad, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
 *     gst_structure_new ("vlm-set-question", "question", G_TYPE_STRING,
 *                        "what color is the car?", NULL)));
 * ]|
 * An optional `element` field (string) aims the event at the vlmvqa of that
 * name only.
 *
 * An empty question gives no answers and one warning message (until the
 * question changes). A question longer than the model's text positions
 * leave room for (after #GstVlmVqa:max-tokens) is cut to its beginning:
 * the answers say `question-truncated` and one warning message is posted
 * per question.
 *
 * ## Example pipelines
 * |[
 * gst-launch-1.0 -m videotestsrc num-buffers=10 ! vlmvqa model=/path/to/git-base-vqav2 \
 *     question="what is in the picture?" ! fakesink
 * ]| Posts one vlm-answer message per frame.
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! vlmcaption model=/path/to/git-base-coco interval=30 ! \
 *     vlmvqa model=/path/to/git-base-vqav2 question="how many people are there?" interval=30 ! \
 *     vlmjsonsink location=answers.jsonl
 * ]| Captions and questions every 30th camera frame, written as JSON lines.
 */
#include <string.h>

#include "gstvlmvqa.h"
#include "vlm-meta.h"

GST_DEBUG_CATEGORY_STATIC (gst_vlm_vqa_debug);
#define GST_CAT_DEFAULT gst_vlm_vqa_debug

#define DEFAULT_QUESTION ""
#define DEFAULT_NUM_BEAMS 1
#define DEFAULT_MAX_TOKENS 20
#define DEFAULT_LENGTH_PENALTY 1.0

enum {
  PROP_0,
  PROP_QUESTION,
  PROP_NUM_BEAMS,
  PROP_MAX_TOKENS,
  PROP_LENGTH_PENALTY,
};

struct _GstVlmVqa {
  GstVlmBase parent;

  /* properties, object lock */
  gchar *question;
  guint generation;             /* bumped by every change of the question */
  gint num_beams;
  gint max_tokens;
  gdouble length_penalty;

  /* streaming thread */
  guint active_generation;
  gboolean empty_warned;
  gboolean truncation_warned;
};

G_DEFINE_TYPE (GstVlmVqa, gst_vlm_vqa, GST_TYPE_VLM_BASE);
GST_ELEMENT_REGISTER_DEFINE (vlmvqa, "vlmvqa", GST_RANK_NONE, GST_TYPE_VLM_VQA);

/* Object lock held. Takes @question. */
static void
set_question_locked (GstVlmVqa *self, gchar *question)
{
  if (g_strcmp0 (question, self->question) != 0)
    self->generation++;
  g_free (self->question);
  self->question = question;
}

/* ------------------------------------------------------------------------ */
/* processing */

static gboolean
gst_vlm_vqa_model_loaded (GstVlmBase *base, GError **error)
{
  GstVlmVqa *self = GST_VLM_VQA (base);
  g_autofree gchar *vocab = g_build_filename (gst_vlm_base_get_model_id (base), "vocab.txt",
                                              NULL);
  if (!g_file_test (vocab, G_FILE_TEST_IS_REGULAR)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FILE, "no vocab.txt in the model folder: the "
                 "WordPiece vocabulary is needed to read questions and write answers");
    return FALSE;
  }
  self->active_generation = 0;
  return TRUE;
}

static void
empty_question (GstVlmVqa *self, const gchar *detail)
{
  if (self->empty_warned)
    return;
  GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, ("no question to answer (property "
      "\"question\" is empty); frames pass without answers"), ("%s", detail));
  self->empty_warned = TRUE;
}

static GstFlowReturn
gst_vlm_vqa_process (GstVlmBase *base, GstBuffer *buffer, GstVideoFrame *frame)
{
  GstVlmVqa *self = GST_VLM_VQA (base);
  GST_OBJECT_LOCK (self);
  g_autofree gchar *question = g_strstrip (g_strdup (self->question ? self->question : ""));
  guint generation = self->generation;
  VlmGitParams params = { .num_beams = self->num_beams, .max_tokens = self->max_tokens,
                          .length_penalty = (gfloat) self->length_penalty };
  GST_OBJECT_UNLOCK (self);
  if (generation != self->active_generation) {
    self->active_generation = generation;
    self->empty_warned = self->truncation_warned = FALSE;
    GST_INFO_OBJECT (self, "question: \"%s\"", question);
  }
  if (!*question) {
    empty_question (self, "empty question");
    return GST_FLOW_OK;
  }

  g_autoptr (GError) error = NULL;
  g_autoptr (VlmGitImage) image = gst_vlm_base_encode_git_frame (base, frame, &error);
  if (!image) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("image encoder failed"), ("%s", error->message));
    return GST_FLOW_ERROR;
  }
  VlmGitOutput out = { 0 };
  gboolean question_truncated = FALSE;
  g_autofree gchar *answer = vlm_git_answer (gst_vlm_base_get_git (base), image, question,
                                             &params, &out, &question_truncated, &error);
  if (!answer) {
    if (g_error_matches (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT)) {
      /* a question of no tokens (control characters only), or max-tokens
       * leaving no room for one: settings, not a broken stream */
      if (!self->empty_warned) {
        GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, ("cannot ask \"%s\": %s; frames pass "
            "without answers", question, error->message), (NULL));
        self->empty_warned = TRUE;
      }
      return GST_FLOW_OK;
    }
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("answering failed"), ("%s", error->message));
    return GST_FLOW_ERROR;
  }
  gdouble score = out.n_scored > 0 ? out.sum_logprob / out.n_scored : 0.0;
  guint tokens = out.ids ? out.ids->len : 0;
  gboolean truncated = out.truncated;
  vlm_git_output_clear (&out);
  if (!g_utf8_validate (answer, -1, NULL)) {
    gchar *valid = g_utf8_make_valid (answer, -1);
    g_free (answer);
    answer = valid;
  }
  if (question_truncated && !self->truncation_warned) {
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, ("the question is longer than the model "
        "can take with max-tokens=%d: only its beginning is used", params.max_tokens),
        ("question \"%s\"", question));
    self->truncation_warned = TRUE;
  }

  const gchar *model_id = gst_vlm_base_get_model_id (base);
  gst_buffer_add_vlm_answer_meta (buffer, model_id, GST_OBJECT_NAME (self), question, answer,
                                  score, truncated, question_truncated);
  GstStructure *s = gst_vlm_base_new_result (base, "vlm-answer", buffer);
  gst_structure_set (s, "model-id", G_TYPE_STRING, model_id,
                     "question", G_TYPE_STRING, question,
                     "answer", G_TYPE_STRING, answer,
                     "score", G_TYPE_DOUBLE, score,
                     "truncated", G_TYPE_BOOLEAN, truncated,
                     "question-truncated", G_TYPE_BOOLEAN, question_truncated,
                     "tokens", G_TYPE_UINT, tokens, NULL);
  gst_vlm_base_post_result (base, s);
  GST_DEBUG_OBJECT (self, "%" GST_TIME_FORMAT ": \"%s\" → \"%s\" (%.3f)",
                    GST_TIME_ARGS (GST_BUFFER_PTS (buffer)), question, answer, score);
  return GST_FLOW_OK;
}

/* ------------------------------------------------------------------------ */
/* events */

static void
apply_question_event (GstVlmVqa *self, const GstStructure *s)
{
  const gchar *target = gst_structure_get_string (s, "element");
  if (target && g_strcmp0 (target, GST_OBJECT_NAME (self)) != 0)
    return;
  const gchar *question = gst_structure_get_string (s, "question");
  if (!question || !g_utf8_validate (question, -1, NULL)) {
    GST_ELEMENT_WARNING (self, STREAM, FORMAT, ("ignoring a \"%s\" event: \"question\" must be "
        "a UTF-8 string", GST_VLM_SET_QUESTION_EVENT), ("%" GST_PTR_FORMAT, s));
    return;
  }
  GST_OBJECT_LOCK (self);
  set_question_locked (self, g_strdup (question));
  GST_OBJECT_UNLOCK (self);
  GST_INFO_OBJECT (self, "question set by event: \"%s\"", question);
  g_object_notify (G_OBJECT (self), "question");
}

static gboolean
gst_vlm_vqa_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstVlmVqa *self = GST_VLM_VQA (trans);
  if (GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_DOWNSTREAM &&
      gst_event_has_name (event, GST_VLM_SET_QUESTION_EVENT))
    apply_question_event (self, gst_event_get_structure (event));
  return GST_BASE_TRANSFORM_CLASS (gst_vlm_vqa_parent_class)->sink_event (trans, event);
}

/* ------------------------------------------------------------------------ */
/* GObject */

static void
gst_vlm_vqa_set_property (GObject *object, guint prop_id, const GValue *value,
                          GParamSpec *pspec)
{
  GstVlmVqa *self = GST_VLM_VQA (object);
  switch (prop_id) {
    case PROP_QUESTION: {
      const gchar *q = g_value_get_string (value);
      if (q && !g_utf8_validate (q, -1, NULL)) {
        g_warning ("%s: the question is not valid UTF-8; keeping the current one",
                   GST_OBJECT_NAME (self));
        break;
      }
      GST_OBJECT_LOCK (self);
      set_question_locked (self, g_strdup (q ? q : ""));
      GST_OBJECT_UNLOCK (self);
      break;
    }
    case PROP_NUM_BEAMS:
      GST_OBJECT_LOCK (self);
      self->num_beams = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MAX_TOKENS:
      GST_OBJECT_LOCK (self);
      self->max_tokens = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_LENGTH_PENALTY:
      GST_OBJECT_LOCK (self);
      self->length_penalty = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_vlm_vqa_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstVlmVqa *self = GST_VLM_VQA (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_QUESTION:
      g_value_set_string (value, self->question);
      break;
    case PROP_NUM_BEAMS:
      g_value_set_int (value, self->num_beams);
      break;
    case PROP_MAX_TOKENS:
      g_value_set_int (value, self->max_tokens);
      break;
    case PROP_LENGTH_PENALTY:
      g_value_set_double (value, self->length_penalty);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_vlm_vqa_finalize (GObject *object)
{
  g_free (GST_VLM_VQA (object)->question);
  G_OBJECT_CLASS (gst_vlm_vqa_parent_class)->finalize (object);
}

static void
gst_vlm_vqa_init (GstVlmVqa *self)
{
  self->question = g_strdup (DEFAULT_QUESTION);
  self->generation = 1;
  self->num_beams = DEFAULT_NUM_BEAMS;
  self->max_tokens = DEFAULT_MAX_TOKENS;
  self->length_penalty = DEFAULT_LENGTH_PENALTY;
}

static void
gst_vlm_vqa_class_init (GstVlmVqaClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVlmBaseClass *base_class = GST_VLM_BASE_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_vlm_vqa_debug, "vlmvqa", 0, "gst-vlm visual question answering");

  gobject_class->set_property = gst_vlm_vqa_set_property;
  gobject_class->get_property = gst_vlm_vqa_get_property;
  gobject_class->finalize = gst_vlm_vqa_finalize;

  /**
   * GstVlmVqa:question:
   *
   * The question asked about every processed frame (UTF-8; surrounding
   * whitespace ignored). Changes apply from the next buffer; empty means no
   * answers (and one warning).
   */
  g_object_class_install_property (gobject_class, PROP_QUESTION,
      g_param_spec_string ("question", "Question",
          "Question asked about every processed frame (applied from the next buffer when "
          "changed while playing; empty = no answers)",
          DEFAULT_QUESTION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmVqa:num-beams:
   *
   * 1 for greedy decoding; more for beam search with that many beams.
   */
  g_object_class_install_property (gobject_class, PROP_NUM_BEAMS,
      g_param_spec_int ("num-beams", "Beams",
          "Beam search width (1 = greedy decoding)",
          1, 16, DEFAULT_NUM_BEAMS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmVqa:max-tokens:
   *
   * Most tokens generated per answer (the end token counts). The question
   * gets the model's text positions that max-tokens leaves.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_TOKENS,
      g_param_spec_int ("max-tokens", "Maximum tokens",
          "Most tokens generated per answer (answers that hit it are flagged truncated)",
          1, 512, DEFAULT_MAX_TOKENS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstVlmVqa:length-penalty:
   *
   * Beam search ranks finished answers by sum(log p) / length^penalty;
   * greedy decoding ignores it.
   */
  g_object_class_install_property (gobject_class, PROP_LENGTH_PENALTY,
      g_param_spec_double ("length-penalty", "Length penalty",
          "Beam search: answers are ranked by sum(log p) / length^length-penalty",
          -8.0, 8.0, DEFAULT_LENGTH_PENALTY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_vlm_vqa_sink_event);
  base_class->model_kind = GST_VLM_MODEL_KIND_GIT;
  base_class->model_loaded = GST_DEBUG_FUNCPTR (gst_vlm_vqa_model_loaded);
  base_class->process = GST_DEBUG_FUNCPTR (gst_vlm_vqa_process);

  gst_element_class_set_static_metadata (element_class,
      "VLM question answering", "Filter/Analyzer/Video",
      "Answers a question about every processed frame with a GIT VQA model "
      "(git-base-vqav2): attaches a VlmAnswerMeta (question, answer, score) and posts a "
      "\"vlm-answer\" element message. The question changes through the property or a "
      "serialized \"vlm-set-question\" custom event (frame-accurate). Example: "
      "gst-launch-1.0 -m videotestsrc num-buffers=10 ! vlmvqa model=/path/to/git-base-vqav2 "
      "question=\"what is shown?\" ! fakesink",
      "gst-vlm developers");
}
