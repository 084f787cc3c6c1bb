/* gst-vlm — one loaded model per (model folder, device) in the process.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The pool maps "model kind \n canonical folder \n device spec" to an entry. Entries are
 * created and removed under the pool lock; loading happens under the
 * entry's own lock, so two elements asking for the same model wait for one
 * load while elements asking for other models are not held up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>

#include "gstvlmmodelpool.h"

GST_DEBUG_CATEGORY_STATIC (vlm_pool_debug);
#define GST_CAT_DEFAULT vlm_pool_debug

struct _GstVlmModel {
  gchar *key;
  gchar *id;            /* canonical folder */
  gchar *device_spec;
  GstVlmModelKind kind;
  guint users;          /* pool lock */
  GMutex load_lock;
  VlmClipModel *clip;   /* load_lock while loading; read-only once set */
  VlmGitModel *git;     /* the same, for GIT entries */
  gchar *device_name;
  VlmBackendKind backend;
  gchar *fallback;      /* "auto" on the CPU backend because Vulkan failed: why */
  gboolean retired;     /* pool lock; out of the table, see gst_vlm_model_pool_retire() */
};

static GMutex pool_lock;
static GHashTable *pool;        /* key → GstVlmModel, pool_lock */
static gint n_loads;            /* atomic */

static void
init_debug (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (vlm_pool_debug, "vlmmodelpool", 0,
                             "gst-vlm shared model instances");
    g_once_init_leave (&done, 1);
  }
}

/**
 * gst_vlm_device_spec_is_valid:
 * @spec: (nullable): a device string
 *
 * Checks the syntax of a device string: "auto", "cpu", "vulkan" or
 * "vulkan:N" with N a decimal index. Whether the device exists is only known
 * when it is opened.
 *
 * Returns: %TRUE when @spec is well formed.
 */
gboolean
gst_vlm_device_spec_is_valid (const gchar *spec)
{
  if (!spec)
    return FALSE;
  if (!strcmp (spec, "auto") || !strcmp (spec, "cpu") || !strcmp (spec, "vulkan"))
    return TRUE;
  if (!g_str_has_prefix (spec, "vulkan:"))
    return FALSE;
  const gchar *n = spec + strlen ("vulkan:");
  if (!*n || strlen (n) > 4)
    return FALSE;
  for (const gchar *c = n; *c; c++)
    if (!g_ascii_isdigit (*c))
      return FALSE;
  return TRUE;
}

/**
 * gst_vlm_canonical_folder:
 * @folder: a model folder, relative or absolute
 * @error: return location for a #GError
 *
 * Resolves @folder to an absolute path without symbolic links or "..", the
 * id under which the model is shared and which embedding metas carry.
 *
 * Returns: (transfer full) (nullable): the canonical path, or %NULL with
 *   @error set when the folder does not exist or is not a folder.
 */
gchar *
gst_vlm_canonical_folder (const gchar *folder, GError **error)
{
  if (!folder || !*folder) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "no model folder given");
    return NULL;
  }
  char *real = realpath (folder, NULL);
  if (!real) {
    int e = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "%s: %s", folder,
                 g_strerror (e));
    return NULL;
  }
  if (!g_file_test (real, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR, "%s: not a folder", folder);
    free (real);
    return NULL;
  }
  gchar *out = g_strdup (real);
  free (real);
  return out;
}

static void
model_free (GstVlmModel *m)
{
  if (m->clip)
    vlm_clip_model_free (m->clip);
  if (m->git)
    vlm_git_model_free (m->git);
  g_mutex_clear (&m->load_lock);
  g_free (m->key);
  g_free (m->id);
  g_free (m->device_spec);
  g_free (m->device_name);
  g_free (m->fallback);
  g_free (m);
}

static gboolean
load_on (GstVlmModel *m, VlmDevice *device, GError **error)
{
  if (m->kind == GST_VLM_MODEL_KIND_GIT)
    m->git = vlm_git_model_load (m->id, device, VLM_DTYPE_F32, error);
  else
    m->clip = vlm_clip_model_load (m->id, device, VLM_DTYPE_F32, error);
  return m->clip != NULL || m->git != NULL;
}

/* Why "auto" landed on the CPU backend when that is not by design: Vulkan
 * unavailable or empty, or a Vulkan GPU that failed. NULL when Vulkan
 * offers only CPU-type devices (auto prefers the CPU backend to those), when
 * VLM_DEVICE chose the device, or in a build without Vulkan. */
static gchar *
auto_cpu_reason (VlmDevice *device)
{
#ifdef VLM_HAVE_VULKAN
  const gchar *env = g_getenv ("VLM_DEVICE");
  if (env && *env && g_ascii_strcasecmp (env, "auto") != 0)
    return NULL;
  GArray *devs = NULL;
  g_autoptr (GError) error = NULL;
  if (!vlm_vulkan_list_devices (&devs, &error))
    return g_strdup_printf ("no Vulkan device: %s", error->message);
  guint n = devs->len;
  gboolean gpu = FALSE;
  for (guint i = 0; i < n; i++) {
    VlmDeviceType t = g_array_index (devs, VlmVulkanDeviceInfo, i).type;
    gpu |= t == VLM_DEVICE_TYPE_DISCRETE_GPU || t == VLM_DEVICE_TYPE_INTEGRATED_GPU ||
           t == VLM_DEVICE_TYPE_VIRTUAL_GPU;
  }
  g_array_unref (devs);
  if (n == 0)
    return g_strdup ("no Vulkan device: Vulkan lists none");
  if (gpu)
    return g_strdup_printf ("the Vulkan GPU failed (%s)", vlm_device_get_reason (device));
#endif
  return NULL;
}

/* Opens the entry's device and loads the model on it. With device "auto", a
 * Vulkan device that cannot be opened or cannot hold the model gives way to
 * the CPU backend, and m->fallback says why. */
static gboolean
load (GstVlmModel *m, GError **error)
{
  gboolean is_auto = g_ascii_strcasecmp (m->device_spec, "auto") == 0;
  g_autoptr (GError) local = NULL;
  g_autoptr (VlmDevice) device = vlm_device_open (m->device_spec, &local);
  if (!device && is_auto) {
    /* VLM_DEVICE named a Vulkan device that cannot be opened */
    m->fallback = g_strdup (local->message);
    g_clear_error (&local);
    device = vlm_device_open ("cpu", &local);
  }
  if (!device) {
    g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  if (is_auto && !m->fallback && vlm_device_get_backend (device) == VLM_BACKEND_CPU)
    m->fallback = auto_cpu_reason (device);

  gint64 t0 = g_get_monotonic_time ();
  if (!load_on (m, device, &local)) {
    if (!is_auto || vlm_device_get_backend (device) != VLM_BACKEND_VULKAN) {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
    GST_WARNING ("%s on %s: %s; trying the CPU backend", m->id, vlm_device_get_name (device),
                 local->message);
    g_free (m->fallback);
    m->fallback = g_strdup_printf ("%s: %s", vlm_device_get_name (device), local->message);
    g_clear_error (&local);
    g_clear_pointer (&device, vlm_device_unref);
    device = vlm_device_open ("cpu", error);
    if (!device || !load_on (m, device, error))
      return FALSE;
  }
  m->device_name = g_strdup (vlm_device_get_name (device));
  m->backend = vlm_device_get_backend (device);
  g_atomic_int_inc (&n_loads);
  GST_INFO ("loaded %s model %s on %s (%s) in %.1f ms%s%s",
            gst_vlm_model_kind_to_string (m->kind), m->id, m->device_spec, m->device_name,
            (g_get_monotonic_time () - t0) / 1000.0, m->fallback ? "; fallback: " : "",
            m->fallback ? m->fallback : "");
  return TRUE;
}

/**
 * gst_vlm_model_pool_acquire:
 * @folder: the model folder
 * @device: (nullable): device string ("auto" when %NULL)
 * @error: return location for a #GError
 *
 * gst_vlm_model_pool_acquire_kind() for a CLIP model.
 *
 * Returns: (transfer full) (nullable): a reference, to give back with
 *   gst_vlm_model_pool_release(), or %NULL with @error set.
 */
GstVlmModel *
gst_vlm_model_pool_acquire (const gchar *folder, const gchar *device, GError **error)
{
  return gst_vlm_model_pool_acquire_kind (folder, device, GST_VLM_MODEL_KIND_CLIP, error);
}

/**
 * gst_vlm_model_pool_acquire_kind:
 * @folder: the model folder
 * @device: (nullable): device string ("auto" when %NULL)
 * @kind: the model family the caller needs
 * @error: return location for a #GError
 *
 * Returns the shared instance for (@folder, @device), loading it when no
 * element holds it yet. Blocks while another thread loads the same model.
 * A folder holding another family fails with the engine's reason (for
 * example `config.json: model_type "clip" is not a GIT model`).
 *
 * Returns: (transfer full) (nullable): a reference, to give back with
 *   gst_vlm_model_pool_release(), or %NULL with @error set.
 */
GstVlmModel *
gst_vlm_model_pool_acquire_kind (const gchar *folder, const gchar *device, GstVlmModelKind kind,
                                 GError **error)
{
  init_debug ();
  if (!device)
    device = "auto";
  g_autofree gchar *id = gst_vlm_canonical_folder (folder, error);
  if (!id)
    return NULL;
  g_autofree gchar *key = g_strdup_printf ("%s\n%s\n%s", gst_vlm_model_kind_to_string (kind), id,
                                           device);

  g_mutex_lock (&pool_lock);
  if (!pool)
    pool = g_hash_table_new (g_str_hash, g_str_equal);
  GstVlmModel *m = g_hash_table_lookup (pool, key);
  if (!m) {
    m = g_new0 (GstVlmModel, 1);
    m->key = g_steal_pointer (&key);
    m->id = g_steal_pointer (&id);
    m->device_spec = g_strdup (device);
    m->kind = kind;
    g_mutex_init (&m->load_lock);
    g_hash_table_insert (pool, m->key, m);
  }
  m->users++;
  g_mutex_unlock (&pool_lock);

  g_mutex_lock (&m->load_lock);
  gboolean ok = m->clip != NULL || m->git != NULL || load (m, error);
  g_mutex_unlock (&m->load_lock);
  if (!ok) {
    gst_vlm_model_pool_release (m);
    return NULL;
  }
  GST_DEBUG ("%s on %s: %u users", m->id, m->device_spec, gst_vlm_model_get_users (m));
  return m;
}

/**
 * gst_vlm_model_pool_release:
 * @model: (transfer full): a reference from gst_vlm_model_pool_acquire()
 *
 * Gives a reference back; the last one frees the model.
 */
void
gst_vlm_model_pool_release (GstVlmModel *model)
{
  if (!model)
    return;
  g_mutex_lock (&pool_lock);
  g_assert (model->users > 0);
  gboolean last = --model->users == 0;
  if (last && !model->retired)
    g_hash_table_remove (pool, model->key);
  g_mutex_unlock (&pool_lock);
  if (last) {
    GST_INFO ("freeing %s on %s", model->id, model->device_spec);
    model_free (model);
  }
}

/**
 * gst_vlm_model_pool_retire:
 * @model: a model reference whose device failed
 *
 * Takes the instance out of the pool without dropping any reference: the
 * elements holding it keep it until they release it, and the next element
 * asking for the same folder and device loads a fresh instance (after a
 * Vulkan device was lost, for example).
 */
void
gst_vlm_model_pool_retire (GstVlmModel *model)
{
  g_mutex_lock (&pool_lock);
  if (!model->retired) {
    g_hash_table_remove (pool, model->key);
    model->retired = TRUE;
  }
  g_mutex_unlock (&pool_lock);
}

/**
 * gst_vlm_model_pool_get_loads:
 *
 * Returns: how many times a model was loaded in this process (for tests
 *   and the `stats` property: two elements sharing one model count one).
 */
guint
gst_vlm_model_pool_get_loads (void)
{
  return (guint) g_atomic_int_get (&n_loads);
}

/**
 * gst_vlm_model_get_clip:
 * @model: a model reference
 *
 * Returns: (transfer none) (nullable): the loaded CLIP model; %NULL for a
 *   GIT entry.
 */
VlmClipModel *
gst_vlm_model_get_clip (GstVlmModel *model)
{
  return model->clip;
}

/**
 * gst_vlm_model_get_git:
 * @model: a model reference
 *
 * Returns: (transfer none) (nullable): the loaded GIT model; %NULL for a
 *   CLIP entry.
 */
VlmGitModel *
gst_vlm_model_get_git (GstVlmModel *model)
{
  return model->git;
}

/**
 * gst_vlm_model_get_kind:
 * @model: a model reference
 *
 * Returns: the model family of the entry.
 */
GstVlmModelKind
gst_vlm_model_get_kind (GstVlmModel *model)
{
  return model->kind;
}

/**
 * gst_vlm_model_kind_to_string:
 * @kind: a model family
 *
 * Returns: "clip", "git" or "unknown".
 */
const gchar *
gst_vlm_model_kind_to_string (GstVlmModelKind kind)
{
  switch (kind) {
    case GST_VLM_MODEL_KIND_CLIP:
      return "clip";
    case GST_VLM_MODEL_KIND_GIT:
      return "git";
  }
  return "unknown";
}

/**
 * gst_vlm_model_get_id:
 * @model: a model reference
 *
 * Returns: the model id: the canonical model folder.
 */
const gchar *
gst_vlm_model_get_id (GstVlmModel *model)
{
  return model->id;
}

/**
 * gst_vlm_model_get_device_name:
 * @model: a model reference
 *
 * Returns: the name of the device the model runs on.
 */
const gchar *
gst_vlm_model_get_device_name (GstVlmModel *model)
{
  return model->device_name ? model->device_name : "";
}

/**
 * gst_vlm_model_get_backend:
 * @model: a model reference
 *
 * Returns: the backend the model runs on.
 */
VlmBackendKind
gst_vlm_model_get_backend (GstVlmModel *model)
{
  return model->backend;
}

/**
 * gst_vlm_model_get_fallback_reason:
 * @model: a model reference
 *
 * Returns: (nullable): for an instance asked for on device "auto" that runs
 *   on the CPU backend because Vulkan failed (no Vulkan device, a GPU that
 *   could not be opened or could not hold the model), why; %NULL otherwise.
 */
const gchar *
gst_vlm_model_get_fallback_reason (GstVlmModel *model)
{
  return model->fallback;
}

/**
 * gst_vlm_model_get_users:
 * @model: a model reference
 *
 * Returns: how many references the instance has (elements sharing it).
 */
guint
gst_vlm_model_get_users (GstVlmModel *model)
{
  g_mutex_lock (&pool_lock);
  guint n = model->users;
  g_mutex_unlock (&pool_lock);
  return n;
}
