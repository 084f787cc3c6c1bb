/* vlm bench — end-to-end model speed: images/s, texts/s, tokens/s, RSS.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A benchmark, not a test: it prints figures and asserts nothing.
 *
 * For a CLIP folder it times the image tower (preprocessed pixels, and with
 * `--what frames` raw NV12 frames through the engine's preprocessing) and
 * the text tower; for a GIT folder the image encoder and greedy caption
 * decoding with the KV cache. Every measurement runs `--warmup` calls that
 * are not timed, then `--runs` timed calls; the median call gives the rate
 * (min and max are printed too, since the machine may be shared).
 *
 * Decoding rate: a generation of one token (image prefix + [CLS] + one
 * step) and one of `--tokens` tokens are both timed; tokens/s is the extra
 * tokens over the extra time, so it counts decoder steps only.
 *
 * Memory: peak RSS (VmHWM) after loading and after each measurement; the
 * peak is reset between phases through /proc/self/clear_refs when the
 * kernel allows it, so each phase's figure is its own.
 */
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "vlm-cmd.h"
#include "vlm-image.h"
#include "models/vlm-clip.h"
#include "models/vlm-git.h"

typedef struct {
  gchar *model;
  gchar *device;
  gchar *weights;
  gchar *what;
  gchar *frame_size;
  gint batch;
  gint runs;
  gint warmup;
  gint text_len;
  gint tokens;
  gboolean json;
  gboolean compare;
  gchar **images;          /* extra image files for --compare */
} BenchOptions;

/* One timed quantity. */
typedef struct {
  const gchar *name;       /* "image", "frames", "text", "decode" */
  const gchar *unit;       /* "images/s" … */
  gdouble rate;            /* items per second at the median call */
  gdouble rate_min, rate_max;
  gdouble ms_median;       /* per call */
  gdouble cpu_ms_median;   /* process CPU time per call, all threads */
  gint items_per_call;
  gint64 peak_rss_kb;      /* during this measurement (see reset_peak_rss()) */
  gchar *note;
} Result;

typedef struct {
  BenchOptions opt;
  VlmDevice *dev;
  VlmDType weights;
  gboolean clear_refs;     /* VmHWM can be reset */
  gdouble load_ms;
  gdouble start_ms;        /* before the model load */
  gdouble first_ms;        /* load + first inference */
  gint64 load_peak_kb;
  gint64 weights_bytes;    /* model.safetensors */
  GArray *results;         /* Result */
  /* --compare: cosine of the embeddings against an f32 model's */
  gint n_compared_images, n_compared_texts;
  gdouble image_cos_min, image_cos_mean, text_cos_min, text_cos_mean;
} Bench;

static int
compare_double (const void *a, const void *b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;
  return x < y ? -1 : x > y;
}

static gdouble
now_ms (void)
{
  return g_get_monotonic_time () / 1000.0;
}

/* CPU time of the whole process (every thread), in ms. */
static gdouble
cpu_ms (void)
{
  struct timespec ts;
  if (clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
    return 0;
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* A field of /proc/self/status in kB (VmHWM, VmRSS), or the getrusage
 * maximum when the file is not there. */
static gint64
status_kb (const gchar *field)
{
  g_autofree gchar *text = NULL;
  if (g_file_get_contents ("/proc/self/status", &text, NULL, NULL)) {
    gsize len = strlen (field);
    for (gchar *line = text; line && *line; line = strchr (line, '\n') ? strchr (line, '\n') + 1
         : NULL)
      if (strncmp (line, field, len) == 0 && line[len] == ':')
        return g_ascii_strtoll (line + len + 1, NULL, 10);
  }
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Starts a new peak-RSS window (writing 5 to clear_refs resets VmHWM to
 * the current RSS); returns FALSE when the kernel refuses. */
static gboolean
reset_peak_rss (void)
{
  FILE *f = fopen ("/proc/self/clear_refs", "w");
  if (!f)
    return FALSE;
  gboolean ok = fputs ("5", f) >= 0;
  return fclose (f) == 0 && ok;
}

static gchar *
cpu_model (void)
{
  g_autofree gchar *text = NULL;
  if (g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL)) {
    gchar *p = strstr (text, "model name");
    if (p && (p = strchr (p, ':'))) {
      gchar *end = strchr (p, '\n');
      return g_strstrip (g_strndup (p + 1, end ? (gsize) (end - p - 1) : strlen (p + 1)));
    }
  }
  return g_strdup ("unknown");
}

/* The vector features of the processor that matter to the CPU backend, as
 * /proc/cpuinfo names them. */
static gchar *
cpu_features (void)
{
  static const gchar *const wanted[] = {
    "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
    "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", NULL
  };
  g_autofree gchar *text = NULL;
  GString *out = g_string_new (NULL);
  if (g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL)) {
    gchar *p = strstr (text, "\nflags");
    gchar *end = p ? strchr (p + 1, '\n') : NULL;
    if (p && end) {
      g_autofree gchar *line = g_strndup (p, end - p);
      g_auto (GStrv) flags = g_strsplit_set (line, " \t:", -1);
      for (gint i = 0; wanted[i]; i++)
        if (g_strv_contains ((const gchar *const *) flags, wanted[i]))
          g_string_append_printf (out, "%s%s", out->len ? " " : "", wanted[i]);
    }
  }
  return g_string_free (out, FALSE);
}

static gchar *
load_average (void)
{
  g_autofree gchar *text = NULL;
  if (!g_file_get_contents ("/proc/loadavg", &text, NULL, NULL))
    return g_strdup ("unknown");
  g_auto (GStrv) f = g_strsplit (text, " ", 4);
  return g_strv_length (f) >= 3 ? g_strdup_printf ("%s %s %s", f[0], f[1], f[2])
      : g_strdup ("unknown");
}

/* Deterministic pseudo-images in CLIP's normalised range: smooth gradients
 * plus noise, different for every image. */
static void
fill_pixels (gfloat *px, gint n, gint64 S, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  for (gint i = 0; i < n; i++)
    for (gint c = 0; c < 3; c++)
      for (gint64 y = 0; y < S; y++)
        for (gint64 x = 0; x < S; x++) {
          gdouble g = sin (0.05 * (x + 2 * y) + i + c) * 1.2;
          px[((i * 3 + c) * S + y) * S + x] = (gfloat) (g + g_rand_double_range (rand, -0.5, 0.5));
        }
  g_rand_free (rand);
}

typedef gboolean (*CallFunc) (gpointer data, GError **error);

/* Warm-up calls, then timed ones; fills @r from the median call. */
static gboolean
measure (Bench *b, Result *r, CallFunc call, gpointer data, GError **error)
{
  gint warmup = b->opt.warmup;
  if (b->first_ms == 0) {
    /* Time to first result: load + the first call of the first
     * measurement (it counts as a warm-up call); the peak RSS of the
     * measurements starts after it. */
    if (!call (data, error))
      return FALSE;
    b->first_ms = now_ms () - b->start_ms;
    if (b->clear_refs)
      reset_peak_rss ();
    warmup = MAX (warmup - 1, 0);
  }
  for (gint i = 0; i < warmup; i++)
    if (!call (data, error))
      return FALSE;
  g_autofree gdouble *ms = g_new (gdouble, b->opt.runs);
  g_autofree gdouble *cpu = g_new (gdouble, b->opt.runs);
  for (gint i = 0; i < b->opt.runs; i++) {
    gdouble t0 = now_ms (), c0 = cpu_ms ();
    if (!call (data, error))
      return FALSE;
    ms[i] = now_ms () - t0;
    cpu[i] = cpu_ms () - c0;
  }
  qsort (cpu, b->opt.runs, sizeof (gdouble), compare_double);
  r->cpu_ms_median = cpu[b->opt.runs / 2];
  qsort (ms, b->opt.runs, sizeof (gdouble), compare_double);
  r->ms_median = ms[b->opt.runs / 2];
  if (b->opt.runs % 2 == 0)
    r->ms_median = 0.5 * (ms[b->opt.runs / 2 - 1] + ms[b->opt.runs / 2]);
  r->rate = r->items_per_call * 1000.0 / r->ms_median;
  r->rate_min = r->items_per_call * 1000.0 / ms[b->opt.runs - 1];
  r->rate_max = r->items_per_call * 1000.0 / ms[0];
  return TRUE;
}

static void
add_result (Bench *b, Result *r)
{
  r->peak_rss_kb = status_kb ("VmHWM");
  g_array_append_val (b->results, *r);
  if (b->clear_refs)
    reset_peak_rss ();
}

/* ---- --compare ---- */

/* Eight kinds of synthetic image in CLIP's normalised range, so the
 * comparison sees more than one kind of statistics: smooth gradients with
 * noise, white noise, a checkerboard, a flat colour, stripes, a bright blob
 * on dark, a mostly dark frame, random blocks. */
static void
fill_varied (gfloat *px, gint kind, gint64 S, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  gdouble flat[3] = { g_rand_double_range (rand, -1.5, 1.5), g_rand_double_range (rand, -1.5, 1.5),
                      g_rand_double_range (rand, -1.5, 1.5) };
  gint block = 8 << g_rand_int_range (rand, 0, 3);
  for (gint c = 0; c < 3; c++)
    for (gint64 y = 0; y < S; y++)
      for (gint64 x = 0; x < S; x++) {
        gdouble v, dx = (x - S / 2.0) / S, dy = (y - S / 2.0) / S;
        switch (kind % 8) {
          case 0: v = sin (0.05 * (x + 2 * y) + c) * 1.2 + g_rand_double_range (rand, -0.5, 0.5);
            break;
          case 1: v = g_rand_double_range (rand, -1.8, 1.8); break;
          case 2: v = ((x / 16 + y / 16) % 2 ? 1.5 : -1.5) * (c == 1 ? 0.5 : 1.0); break;
          case 3: v = flat[c]; break;
          case 4: v = ((x / (4 + c * 3)) % 2 ? 1.0 : -1.0) * 1.3; break;
          case 5: v = 2.0 * exp (-(dx * dx + dy * dy) * 20.0) - 1.5; break;
          case 6: v = -1.7 + 0.1 * g_rand_double_range (rand, 0, 1); break;
          default: {
            guint32 h = (guint32) ((x / block) * 73856093u ^ (y / block) * 19349663u ^
                                   (guint32) c * 83492791u ^ seed);
            v = ((h >> 8) % 1000) / 1000.0 * 3.6 - 1.8;
            break;
          }
        }
        px[(c * S + y) * S + x] = (gfloat) v;
      }
  g_rand_free (rand);
}

static gdouble
cosine (const gfloat *a, const gfloat *b, gint n)
{
  gdouble ab = 0, aa = 0, bb = 0;
  for (gint i = 0; i < n; i++) {
    ab += (gdouble) a[i] * b[i];
    aa += (gdouble) a[i] * a[i];
    bb += (gdouble) b[i] * b[i];
  }
  return aa > 0 && bb > 0 ? ab / sqrt (aa * bb) : 0;
}

/* Embeds the same inputs with @m and with the folder loaded again in f32
 * on the same kind of device (for the CPU one with strict f32 math, even
 * when VLM_CPU_F32_MATH chose otherwise); records min and mean cosine. */
static gboolean
compare_clip (Bench *b, VlmClipModel *m, GError **error)
{
  g_autoptr (VlmDevice) dev = NULL;
  if (vlm_device_get_backend (b->dev) == VLM_BACKEND_CPU) {
    g_autofree gchar *math = g_strdup (g_getenv ("VLM_CPU_F32_MATH"));
    g_setenv ("VLM_CPU_F32_MATH", "strict", TRUE);
    dev = vlm_device_open ("cpu", error);
    if (math)
      g_setenv ("VLM_CPU_F32_MATH", math, TRUE);
    else
      g_unsetenv ("VLM_CPU_F32_MATH");
    if (!dev)
      return FALSE;
  } else {
    dev = vlm_device_ref (b->dev);
  }
  g_autoptr (VlmClipModel) ref = vlm_clip_model_load (b->opt.model, dev, VLM_DTYPE_F32, error);
  if (!ref)
    return FALSE;
  const VlmClipConfig *cfg = vlm_clip_model_get_config (m);
  gint64 S = cfg->image_size;
  gint P = cfg->projection_dim;
  g_autofree gfloat *px = g_new (gfloat, 3 * S * S);
  g_autofree gfloat *e1 = g_new (gfloat, P);
  g_autofree gfloat *e2 = g_new (gfloat, P);
  gint n_files = b->opt.images ? (gint) g_strv_length (b->opt.images) : 0;
  if (n_files)
    gst_init (NULL, NULL);
  b->image_cos_min = 1;
  for (gint i = 0; i < 16 + n_files; i++) {
    gboolean ok;
    if (i < 16) {
      fill_varied (px, i, S, 100 + i);
      ok = vlm_clip_encode_pixels (m, px, 1, e1, error) &&
          vlm_clip_encode_pixels (ref, px, 1, e2, error);
    } else {
      VlmImage img;
      if (!vlm_image_load (b->opt.images[i - 16], &img, error))
        return FALSE;
      VlmFrame f = { .data = img.data, .size = img.size };
      vlm_pixel_format_frame_size (VLM_PIXEL_RGB, img.width, img.height, &f.params);
      f.params.stride[0] = img.stride;
      ok = vlm_clip_encode_frames (m, &f, 1, e1, error) &&
          vlm_clip_encode_frames (ref, &f, 1, e2, error);
      vlm_image_clear (&img);
    }
    if (!ok)
      return FALSE;
    gdouble cs = cosine (e1, e2, P);
    b->image_cos_min = MIN (b->image_cos_min, cs);
    b->image_cos_mean += cs;
  }
  b->n_compared_images = 16 + n_files;
  b->image_cos_mean /= b->n_compared_images;

  gint L = cfg->max_positions;
  g_autofree gint32 *ids = g_new0 (gint32, L);
  GRand *rand = g_rand_new_with_seed (3);
  b->text_cos_min = 1;
  for (gint i = 0; i < 16; i++) {
    gint len = g_rand_int_range (rand, 3, L + 1);
    ids[0] = MAX (cfg->eot_id - 1, 0);
    for (gint j = 1; j < L; j++)
      ids[j] = j < len - 1 ? g_rand_int_range (rand, 0, MIN (cfg->eot_id - 1, cfg->vocab_size))
          : cfg->eot_id;
    if (!vlm_clip_encode_ids (m, ids, 1, e1, error) ||
        !vlm_clip_encode_ids (ref, ids, 1, e2, error)) {
      g_rand_free (rand);
      return FALSE;
    }
    gdouble cs = cosine (e1, e2, P);
    b->text_cos_min = MIN (b->text_cos_min, cs);
    b->text_cos_mean += cs;
  }
  g_rand_free (rand);
  b->n_compared_texts = 16;
  b->text_cos_mean /= 16;
  return TRUE;
}

/* ---- CLIP ---- */

typedef struct {
  VlmClipModel *m;
  gint n;
  gfloat *pixels, *out;
  VlmFrame *frames;
  gint32 *ids;
} ClipCall;

static gboolean
clip_image_call (gpointer data, GError **error)
{
  ClipCall *c = data;
  return vlm_clip_encode_pixels (c->m, c->pixels, c->n, c->out, error);
}

static gboolean
clip_frames_call (gpointer data, GError **error)
{
  ClipCall *c = data;
  return vlm_clip_encode_frames (c->m, c->frames, c->n, c->out, error);
}

static gboolean
clip_text_call (gpointer data, GError **error)
{
  ClipCall *c = data;
  return vlm_clip_encode_ids (c->m, c->ids, c->n, c->out, error);
}

static gboolean
parse_frame_size (const gchar *s, gint *w, gint *h)
{
  gchar *end = NULL;
  gint64 a = g_ascii_strtoll (s, &end, 10);
  if (!end || (*end != 'x' && *end != 'X'))
    return FALSE;
  gint64 c = g_ascii_strtoll (end + 1, &end, 10);
  if (!end || *end || a < 16 || c < 16 || a > 8192 || c > 8192)
    return FALSE;
  *w = (gint) a;
  *h = (gint) c;
  return TRUE;
}

static gboolean
bench_clip (Bench *b, gboolean image, gboolean frames, gboolean text, GError **error)
{
  gint n = b->opt.batch;
  b->start_ms = now_ms ();
  g_autoptr (VlmClipModel) m = vlm_clip_model_load (b->opt.model, b->dev, b->weights, error);
  if (!m)
    return FALSE;
  b->load_ms = now_ms () - b->start_ms;
  b->load_peak_kb = status_kb ("VmHWM");
  const VlmClipConfig *cfg = vlm_clip_model_get_config (m);
  gint64 S = cfg->image_size;
  g_autofree gfloat *pixels = g_new (gfloat, (gsize) n * 3 * S * S);
  g_autofree gfloat *out = g_new (gfloat, (gsize) n * cfg->projection_dim);
  fill_pixels (pixels, n, S, 7);
  ClipCall c = { .m = m, .n = n, .pixels = pixels, .out = out };

  if (image) {
    Result r = { .name = "image", .unit = "images/s", .items_per_call = n };
    r.note = g_strdup_printf ("%d×%d pixels, %d tokens", (gint) S, (gint) S,
                              (gint) ((S / cfg->patch_size) * (S / cfg->patch_size) + 1));
    if (!measure (b, &r, clip_image_call, &c, error)) {
      g_free (r.note);
      return FALSE;
    }
    add_result (b, &r);
  }
  if (frames) {
    gint w = 1280, h = 720;
    if (b->opt.frame_size && !parse_frame_size (b->opt.frame_size, &w, &h)) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--frame-size must be WIDTHxHEIGHT (16 to 8192), not \"%s\"",
                   b->opt.frame_size);
      return FALSE;
    }
    VlmImageParams fp = { 0 };
    gsize size = vlm_pixel_format_frame_size (VLM_PIXEL_NV12, w, h, &fp);
    g_autofree guint8 *bytes = g_malloc (size);
    GRand *rand = g_rand_new_with_seed (11);
    for (gsize i = 0; i < size; i++)
      bytes[i] = (guint8) (((i % (gsize) w) * 255 / w + g_rand_int_range (rand, 0, 32)) & 0xff);
    g_rand_free (rand);
    g_autofree VlmFrame *fr = g_new0 (VlmFrame, n);
    for (gint i = 0; i < n; i++) {
      fr[i].data = bytes;
      fr[i].size = size;
      fr[i].params = fp;
    }
    c.frames = fr;
    Result r = { .name = "frames", .unit = "images/s", .items_per_call = n };
    r.note = g_strdup_printf ("NV12 %d×%d → preprocess → image tower", w, h);
    if (!measure (b, &r, clip_frames_call, &c, error)) {
      g_free (r.note);
      return FALSE;
    }
    add_result (b, &r);
  }
  if (text) {
    gint L = cfg->max_positions, len = CLAMP (b->opt.text_len, 2, L);
    g_autofree gint32 *ids = g_new0 (gint32, (gsize) n * L);
    GRand *rand = g_rand_new_with_seed (5);
    for (gint i = 0; i < n; i++) {
      gint32 *row = ids + (gsize) i * L;
      row[0] = MAX (cfg->eot_id - 1, 0);     /* start-of-text in OpenAI's vocabulary */
      for (gint j = 1; j < len - 1; j++)
        row[j] = g_rand_int_range (rand, 0, MIN (cfg->eot_id - 1, cfg->vocab_size));
      for (gint j = len - 1; j < L; j++)
        row[j] = cfg->eot_id;
    }
    g_rand_free (rand);
    c.ids = ids;
    Result r = { .name = "text", .unit = "texts/s", .items_per_call = n };
    r.note = g_strdup_printf ("%d tokens each (with start and end)", len);
    if (!measure (b, &r, clip_text_call, &c, error)) {
      g_free (r.note);
      return FALSE;
    }
    add_result (b, &r);
  }
  return !b->opt.compare || compare_clip (b, m, error);
}

/* ---- GIT ---- */

typedef struct {
  VlmGitModel *m;
  gfloat *pixels;
  VlmGitImage *image;
  gint max_tokens;
  gint generated;
} GitCall;

static gboolean
git_image_call (gpointer data, GError **error)
{
  GitCall *c = data;
  VlmGitImage *img = vlm_git_encode_pixels (c->m, c->pixels, error);
  if (!img)
    return FALSE;
  vlm_git_image_free (img);
  return TRUE;
}

static gboolean
git_generate_call (gpointer data, GError **error)
{
  GitCall *c = data;
  VlmGitParams p = { .num_beams = 1, .max_tokens = c->max_tokens, .length_penalty = 1.0f };
  VlmGitOutput out;
  if (!vlm_git_generate (c->m, c->image, NULL, 0, &p, &out, error))
    return FALSE;
  c->generated = out.n_scored;
  vlm_git_output_clear (&out);
  return TRUE;
}

static gboolean
bench_git (Bench *b, gboolean image, gboolean decode, GError **error)
{
  b->start_ms = now_ms ();
  g_autoptr (VlmGitModel) m = vlm_git_model_load (b->opt.model, b->dev, b->weights, error);
  if (!m)
    return FALSE;
  b->load_ms = now_ms () - b->start_ms;
  b->load_peak_kb = status_kb ("VmHWM");
  const VlmGitConfig *cfg = vlm_git_model_get_config (m);
  gint64 S = cfg->image_size;
  g_autofree gfloat *pixels = g_new (gfloat, (gsize) 3 * S * S);
  fill_pixels (pixels, 1, S, 7);
  GitCall c = { .m = m, .pixels = pixels, .max_tokens = 1 };
  c.image = vlm_git_encode_pixels (m, pixels, error);
  /* Time to first result: load, the image and the first token. */
  gboolean ok = c.image && git_generate_call (&c, error);
  b->first_ms = now_ms () - b->start_ms;
  if (!ok) {
    g_clear_pointer (&c.image, vlm_git_image_free);
    return FALSE;
  }
  if (b->clear_refs)
    reset_peak_rss ();
  if (image) {
    Result r = { .name = "image", .unit = "images/s", .items_per_call = 1 };
    r.note = g_strdup_printf ("%d×%d pixels, batch 1 (the GIT API encodes one image)",
                              (gint) S, (gint) S);
    ok = measure (b, &r, git_image_call, &c, error);
    if (ok)
      add_result (b, &r);
    else
      g_free (r.note);
  }
  if (ok && decode) {
    Result one = { .items_per_call = 1 }, many = { .items_per_call = 1 };
    c.max_tokens = 1;
    ok = measure (b, &one, git_generate_call, &c, error);
    c.max_tokens = MAX (b->opt.tokens, 2);
    ok = ok && measure (b, &many, git_generate_call, &c, error);
    if (ok && c.generated < 2) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED, "decoding stopped after %d token: "
                   "the model ends every caption at once, nothing to time", c.generated);
      ok = FALSE;
    }
    if (ok) {
      Result r = { .name = "decode", .unit = "tokens/s", .items_per_call = c.generated - 1 };
      /* Spread: the slowest and fastest long runs against the median short one. */
      gdouble extra = c.generated - 1;
      r.ms_median = many.ms_median - one.ms_median;
      r.cpu_ms_median = (many.cpu_ms_median - one.cpu_ms_median) / extra;
      r.rate = extra * 1000.0 / r.ms_median;
      r.rate_min = extra * 1000.0 / (1000.0 / many.rate_min - one.ms_median);
      r.rate_max = extra * 1000.0 / (1000.0 / many.rate_max - one.ms_median);
      r.note = g_strdup_printf ("greedy, %d tokens per caption; prefix (image tokens + [CLS] + "
                                "first token) %.1f ms", c.generated, one.ms_median);
      r.ms_median /= (c.generated - 1);
      add_result (b, &r);
    }
  }
  g_clear_pointer (&c.image, vlm_git_image_free);
  return ok;
}

/* ---- output ---- */

static void
print_text (Bench *b, const gchar *cpu, const gchar *features, const gchar *load0,
            const gchar *load1)
{
  printf ("model:        %s (model.safetensors %.1f MB)\n", b->opt.model,
          b->weights_bytes / 1e6);
  printf ("device:       %s, %u thread%s\n", vlm_device_get_name (b->dev),
          vlm_device_get_n_threads (b->dev), vlm_device_get_n_threads (b->dev) == 1 ? "" : "s");
  printf ("cpu:          %s\n", cpu);
  printf ("cpu features: %s\n", features);
  printf ("weights:      %s, batch %d, median of %d runs after %d warm-up\n",
          vlm_dtype_to_string (b->weights), b->opt.batch, b->opt.runs, b->opt.warmup);
  printf ("load average: %s (start), %s (end)\n", load0, load1);
  printf ("load:         %.0f ms; first result (load + first call) %.0f ms; peak RSS %.1f MB\n",
          b->load_ms, b->first_ms, b->load_peak_kb / 1024.0);
  printf ("\n%-8s %12s %-10s %16s %10s %10s %12s\n", "what", "rate", "", "min … max",
          "ms/call", "cpu ms", "peak RSS MB");
  for (guint i = 0; i < b->results->len; i++) {
    Result *r = &g_array_index (b->results, Result, i);
    g_autofree gchar *spread = g_strdup_printf ("%.1f … %.1f", r->rate_min, r->rate_max);
    printf ("%-8s %12.2f %-10s %16s %10.2f %10.2f %12.1f\n", r->name, r->rate, r->unit, spread,
            r->ms_median, r->cpu_ms_median, r->peak_rss_kb / 1024.0);
    if (r->note)
      printf ("%-8s %s\n", "", r->note);
  }
  if (!b->clear_refs)
    printf ("\n(peak RSS could not be reset between phases: each figure is the process peak)\n");
  if (b->n_compared_images)
    printf ("\ncosine against f32 weights, strict f32 math: images min %.7f mean %.7f (%d), "
            "texts min %.7f mean %.7f (%d)\n", b->image_cos_min, b->image_cos_mean, b->n_compared_images,
            b->text_cos_min, b->text_cos_mean, b->n_compared_texts);
}

static void
print_json (Bench *b, const gchar *cpu, const gchar *features, const gchar *load0,
            const gchar *load1)
{
  g_autoptr (JsonBuilder) j = json_builder_new ();
  json_builder_begin_object (j);
#define STR(k, v) (json_builder_set_member_name (j, k), json_builder_add_string_value (j, v))
#define INT(k, v) (json_builder_set_member_name (j, k), json_builder_add_int_value (j, v))
#define DBL(k, v) (json_builder_set_member_name (j, k), json_builder_add_double_value (j, v))
  STR ("model", b->opt.model);
  INT ("weights_file_bytes", b->weights_bytes);
  STR ("device", vlm_device_get_name (b->dev));
  INT ("threads", vlm_device_get_n_threads (b->dev));
  STR ("cpu", cpu);
  STR ("cpu_features", features);
  STR ("weights", vlm_dtype_to_string (b->weights));
  INT ("batch", b->opt.batch);
  INT ("runs", b->opt.runs);
  INT ("warmup", b->opt.warmup);
  STR ("load_average_start", load0);
  STR ("load_average_end", load1);
  DBL ("load_ms", b->load_ms);
  DBL ("first_result_ms", b->first_ms);
  DBL ("load_peak_rss_mb", b->load_peak_kb / 1024.0);
  json_builder_set_member_name (j, "results");
  json_builder_begin_array (j);
  for (guint i = 0; i < b->results->len; i++) {
    Result *r = &g_array_index (b->results, Result, i);
    json_builder_begin_object (j);
    STR ("what", r->name);
    STR ("unit", r->unit);
    DBL ("rate", r->rate);
    DBL ("rate_min", r->rate_min);
    DBL ("rate_max", r->rate_max);
    DBL ("ms_per_call", r->ms_median);
    DBL ("cpu_ms_per_call", r->cpu_ms_median);
    DBL ("peak_rss_mb", r->peak_rss_kb / 1024.0);
    if (r->note)
      STR ("note", r->note);
    json_builder_end_object (j);
  }
  json_builder_end_array (j);
  if (b->n_compared_images) {
    json_builder_set_member_name (j, "compare_f32");
    json_builder_begin_object (j);
    INT ("images", b->n_compared_images);
    DBL ("image_cosine_min", b->image_cos_min);
    DBL ("image_cosine_mean", b->image_cos_mean);
    INT ("texts", b->n_compared_texts);
    DBL ("text_cosine_min", b->text_cos_min);
    DBL ("text_cosine_mean", b->text_cos_mean);
    json_builder_end_object (j);
  }
  json_builder_end_object (j);
#undef STR
#undef INT
#undef DBL
  g_autoptr (JsonNode) root = json_builder_get_root (j);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  g_autofree gchar *text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}

static gboolean
parse_weights (const gchar *s, VlmDType *out)
{
  if (!s || strcmp (s, "f32") == 0)
    *out = VLM_DTYPE_F32;
  else if (strcmp (s, "f16") == 0)
    *out = VLM_DTYPE_F16;
  else if (strcmp (s, "bf16") == 0)
    *out = VLM_DTYPE_BF16;
  else if (strcmp (s, "i8") == 0)
    *out = VLM_DTYPE_I8;
  else
    return FALSE;
  return TRUE;
}

/* Checks the options, opens the device and runs; returns the exit status. */
static int
run (Bench *b)
{
  BenchOptions *o = &b->opt;
  gboolean image = FALSE, frames = FALSE, text = FALSE, decode = FALSE;
  if (!o->model) {
    fprintf (stderr, "vlm bench: --model DIR is required\n");
    return 2;
  }
  if (o->batch < 1 || o->batch > 4096 || o->runs < 1 || o->warmup < 0 || o->tokens < 2 ||
      o->tokens > 512) {
    fprintf (stderr, "vlm bench: --batch 1…4096, --runs ≥ 1, --warmup ≥ 0, --tokens 2…512\n");
    return 2;
  }
  if (!parse_weights (o->weights, &b->weights)) {
    fprintf (stderr, "vlm bench: --weights must be f32, f16, bf16 or i8, not \"%s\"\n",
             o->weights);
    return 2;
  }

  VlmClipConfig clip_cfg;
  VlmGitConfig git_cfg;
  g_autoptr (GError) error = NULL;
  gboolean is_clip = vlm_clip_config_load (o->model, &clip_cfg, &error);
  if (!is_clip && !vlm_git_config_load (o->model, &git_cfg, NULL)) {
    fprintf (stderr, "vlm bench: %s\n", error->message);
    return 1;
  }
  g_clear_error (&error);
  g_auto (GStrv) parts = g_strsplit (o->what ? o->what : is_clip ? "image,text" : "image,decode",
                                     ",", -1);
  for (gint i = 0; parts[i]; i++) {
    gchar *w = g_strstrip (parts[i]);
    if (strcmp (w, "image") == 0)
      image = TRUE;
    else if (strcmp (w, "frames") == 0 && is_clip)
      frames = TRUE;
    else if (strcmp (w, "text") == 0 && is_clip)
      text = TRUE;
    else if (strcmp (w, "decode") == 0 && !is_clip)
      decode = TRUE;
    else if (*w) {
      fprintf (stderr, "vlm bench: --what: \"%s\" is not one of %s\n", w,
               is_clip ? "image, frames, text (a CLIP folder)" : "image, decode (a GIT folder)");
      return 2;
    }
  }
  if (o->images && !o->compare) {
    fprintf (stderr, "vlm bench: image files are only read with --compare\n");
    return 2;
  }
  if (!is_clip && o->compare) {
    fprintf (stderr, "vlm bench: --compare applies to CLIP folders\n");
    return 2;
  }
  if (!is_clip && o->batch != 1) {
    fprintf (stderr, "vlm bench: --batch applies to CLIP folders only (GIT encodes one image "
             "per call)\n");
    return 2;
  }

  g_autofree gchar *st_path = g_build_filename (o->model, "model.safetensors", NULL);
  GStatBuf sb;
  b->weights_bytes = g_stat (st_path, &sb) == 0 ? (gint64) sb.st_size : 0;
  g_autofree gchar *load0 = load_average ();
  b->clear_refs = reset_peak_rss ();
  g_autoptr (VlmDevice) dev = vlm_device_open (o->device, &error);
  if (!dev) {
    fprintf (stderr, "vlm bench: %s\n", error->message);
    return 1;
  }
  b->dev = dev;
  gboolean ok = is_clip ? bench_clip (b, image, frames, text, &error)
      : bench_git (b, image, decode, &error);
  if (!ok) {
    fprintf (stderr, "vlm bench: %s\n", error->message);
    return 1;
  }
  g_autofree gchar *load1 = load_average ();
  g_autofree gchar *cpu = cpu_model ();
  g_autofree gchar *features = cpu_features ();
  if (o->json)
    print_json (b, cpu, features, load0, load1);
  else
    print_text (b, cpu, features, load0, load1);
  return 0;
}

/**
 * vlm_cmd_bench:
 * @argc: argument count
 * @argv: arguments from the command name on
 *
 * `vlm bench --model DIR [--device D] [--batch N] [--weights W] [--runs N]
 * [--warmup N] [--what image,frames,text,decode] [--json] [--compare [IMAGE…]]`.
 *
 * Returns: the exit status.
 */
int
vlm_cmd_bench (int argc, char **argv)
{
  Bench b = { .opt = { .batch = 1, .runs = 20, .warmup = 3, .text_len = 16, .tokens = 20 } };
  BenchOptions *o = &b.opt;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &o->model, "CLIP or GIT folder", "DIR" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &o->device,
      "auto (default), cpu, vulkan or vulkan:N", "DEV" },
    { "batch", 'b', 0, G_OPTION_ARG_INT, &o->batch, "images or texts per call (CLIP; 1)", "N" },
    { "weights", 'w', 0, G_OPTION_ARG_STRING, &o->weights,
      "matmul weight precision: f32 (default), f16, bf16 or i8 (the last two: CLIP on the CPU)",
      "TYPE" },
    { "runs", 'r', 0, G_OPTION_ARG_INT, &o->runs, "timed calls, the median is reported (20)",
      "N" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &o->warmup, "untimed calls first (3)", "N" },
    { "what", 0, 0, G_OPTION_ARG_STRING, &o->what,
      "comma-separated: image, frames, text (CLIP), decode (GIT); default image,text for "
      "CLIP and image,decode for GIT", "LIST" },
    { "frame-size", 0, 0, G_OPTION_ARG_STRING, &o->frame_size,
      "raw frame size for `frames` (NV12, 1280x720)", "WxH" },
    { "text-len", 0, 0, G_OPTION_ARG_INT, &o->text_len,
      "tokens per text, start and end included (16)", "N" },
    { "tokens", 0, 0, G_OPTION_ARG_INT, &o->tokens, "tokens per caption for `decode` (20)",
      "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &o->json, "print one JSON object", NULL },
    { "compare", 0, 0, G_OPTION_ARG_NONE, &o->compare,
      "CLIP: afterwards, cosine of the embeddings against f32 weights on 16 varied synthetic "
      "images, the IMAGE files given and 16 texts", NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->images, NULL, "[IMAGE…]" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("— model speed: images/s, texts/s, tokens/s, "
                                              "time to first result, peak RSS");
  g_option_context_add_main_entries (ctx, entries, NULL);
  int status = 2;
  b.results = g_array_new (FALSE, TRUE, sizeof (Result));
  if (vlm_cmd_parse (ctx, &argc, &argv))
    status = run (&b);
  for (guint i = 0; i < b.results->len; i++)
    g_free (g_array_index (b.results, Result, i).note);
  g_array_unref (b.results);
  g_free (o->model);
  g_free (o->device);
  g_free (o->weights);
  g_free (o->what);
  g_free (o->frame_size);
  g_strfreev (o->images);
  return status;
}
