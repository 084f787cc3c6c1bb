/* gst-vlm — a plain main() for the fuzz targets: replays inputs once.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Linked with a fuzz-*.c instead of libFuzzer, so that any compiler (gcc in
 * the normal build, ASan/UBSan in .ci/sanitize) runs the seed corpora and
 * the regression inputs as ordinary tests.
 *
 * Usage: replay-TARGET FILE|FOLDER...   (folders: every file in them, sorted)
 * Prints one TAP line per input; a failing input aborts, as under libFuzzer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar *const *) a, *(const gchar *const *) b);
}

static void
collect (const gchar *path, GPtrArray *files)
{
  if (!g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_ptr_array_add (files, g_strdup (path));
    return;
  }
  GError *error = NULL;
  GDir *dir = g_dir_open (path, 0, &error);
  if (!dir) {
    fprintf (stderr, "replay: %s\n", error->message);
    exit (1);
  }
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;
  while ((name = g_dir_read_name (dir)))
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_dir_close (dir);
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++) {
    g_autofree gchar *child = g_build_filename (path, g_ptr_array_index (names, i), NULL);
    collect (child, files);
  }
  g_ptr_array_unref (names);
}

int
main (int argc, char **argv)
{
  LLVMFuzzerInitialize (&argc, &argv);
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);
  for (int i = 1; i < argc; i++)
    collect (argv[i], files);
  if (files->len == 0) {
    fprintf (stderr, "replay: no inputs\n");
    return 1;
  }
  printf ("1..%u\n", files->len);
  fflush (stdout);
  for (guint i = 0; i < files->len; i++) {
    const gchar *path = g_ptr_array_index (files, i);
    gchar *data;
    gsize len;
    GError *error = NULL;
    if (!g_file_get_contents (path, &data, &len, &error)) {
      printf ("not ok %u %s: %s\n", i + 1, path, error->message);
      return 1;
    }
    LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
    g_free (data);
    printf ("ok %u %s\n", i + 1, path);
    fflush (stdout);
  }
  g_ptr_array_unref (files);
  return 0;
}
