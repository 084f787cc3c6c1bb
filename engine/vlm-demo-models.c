/* gst-vlm engine — where the project's demo models are.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:vlm-demo-models
 * @title: Demo models
 * @short_description: finding the default CLIP and GIT folders
 *
 * The one place that knows where the demo models live, shared by the
 * GStreamer elements (when their `model` property is unset) and the `vlm`
 * command (when `--model` is not given). The folders are looked for, in
 * order:
 *
 * 1. `$VLM_DEMO_MODELS/clip` and `$VLM_DEMO_MODELS/git` when the
 *    environment variable %VLM_DEMO_MODELS_ENV is set and not empty — and
 *    then nowhere else;
 * 2. the installed copy, DATADIR/gst-vlm/models/demo/{clip,git}
 *    (`meson install` puts them there);
 * 3. the source tree the engine was built from, SRCDIR/models/demo/{clip,git},
 *    so a build runs from its build folder without installing.
 *
 * A folder counts when it holds a config.json; whether the model in it
 * loads is the loader's business (its errors name the folder).
 */
#include "vlm-demo-models.h"
#include "vlm-demo-models-paths.h"
#include "vlm-device.h"

#ifndef VLM_DEMO_MODELS_DATADIR
#define VLM_DEMO_MODELS_DATADIR "/usr/local/share/gst-vlm/models/demo"
#endif
#ifndef VLM_DEMO_MODELS_SRCDIR
#define VLM_DEMO_MODELS_SRCDIR NULL
#endif

/**
 * vlm_demo_model_name:
 * @which: a demo model
 *
 * Returns: the folder name of @which under the demo models folder: "clip"
 *   or "git".
 */
const gchar *
vlm_demo_model_name (VlmDemoModel which)
{
  return which == VLM_DEMO_MODEL_GIT ? "git" : "clip";
}

/**
 * vlm_demo_model_family:
 * @which: a demo model
 *
 * Returns: the model family for messages: "CLIP" or "GIT".
 */
const gchar *
vlm_demo_model_family (VlmDemoModel which)
{
  return which == VLM_DEMO_MODEL_GIT ? "GIT" : "CLIP";
}

/**
 * vlm_demo_models_search_dirs:
 *
 * The folders looked in for the demo models, in order (each holds `clip/`
 * and `git/`): `$VLM_DEMO_MODELS` alone when it is set, else the installed
 * copy and the source tree.
 *
 * Returns: (transfer full) (array zero-terminated=1): the folders; free with
 *   g_strfreev().
 */
gchar **
vlm_demo_models_search_dirs (void)
{
  GStrvBuilder *b = g_strv_builder_new ();
  const gchar *env = g_getenv (VLM_DEMO_MODELS_ENV);
  if (env && *env) {
    g_strv_builder_add (b, env);
  } else {
    g_strv_builder_add (b, VLM_DEMO_MODELS_DATADIR);
    const gchar *src = VLM_DEMO_MODELS_SRCDIR;
    if (src && g_strcmp0 (src, VLM_DEMO_MODELS_DATADIR) != 0)
      g_strv_builder_add (b, src);
  }
  gchar **dirs = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  return dirs;
}

/**
 * vlm_demo_model_find:
 * @which: the demo model wanted
 * @error: return location for a #GError
 *
 * Finds the demo model's folder (see the section description for the
 * order). The error (%VLM_ERROR_FILE) lists every folder looked in and
 * where they came from, e.g. "no demo CLIP model (a folder with
 * config.json): looked in /usr/local/share/gst-vlm/models/demo/clip
 * (installed), /src/gst-vlm/models/demo/clip (source tree)"; callers add
 * how to name a model explicitly.
 *
 * Returns: (transfer full): the folder, or %NULL with @error set.
 */
gchar *
vlm_demo_model_find (VlmDemoModel which, GError **error)
{
  const gchar *env = g_getenv (VLM_DEMO_MODELS_ENV);
  gboolean from_env = env && *env;
  g_auto (GStrv) dirs = vlm_demo_models_search_dirs ();
  GString *looked = g_string_new (NULL);
  for (guint i = 0; dirs[i]; i++) {
    g_autofree gchar *folder = g_build_filename (dirs[i], vlm_demo_model_name (which), NULL);
    g_autofree gchar *config = g_build_filename (folder, "config.json", NULL);
    if (g_file_test (config, G_FILE_TEST_IS_REGULAR)) {
      g_string_free (looked, TRUE);
      return g_steal_pointer (&folder);
    }
    g_string_append_printf (looked, "%s%s (%s)", i ? ", " : "", folder,
                            from_env ? "$" VLM_DEMO_MODELS_ENV
                                     : i == 0 ? "installed" : "source tree");
  }
  g_set_error (error, VLM_ERROR, VLM_ERROR_FILE,
               "no demo %s model (a folder with config.json): looked in %s",
               vlm_demo_model_family (which), looked->str);
  g_string_free (looked, TRUE);
  return NULL;
}
