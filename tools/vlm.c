/* vlm — the gst-vlm command-line tool.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One file per command family (vlm-cmd-*.c); this file only dispatches.
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "vlm-cmd.h"

static const VlmCommand commands[] = {
  { "devices", "list compute devices and their features", vlm_cmd_devices },
  { "bench-ops", "time the engine's ops on a device", vlm_cmd_bench_ops },
  { "bench", "model speed: images/s, texts/s, tokens/s, peak RSS", vlm_cmd_bench },
  { "embed-image", "CLIP embeddings of image files (JSON)", vlm_cmd_embed_image },
  { "embed-text", "CLIP embeddings of texts (JSON)", vlm_cmd_embed_text },
  { "match", "zero-shot match of an image against texts (JSON)", vlm_cmd_match },
  { "caption", "GIT captions of image files (JSON)", vlm_cmd_caption },
  { "ask", "answer a question about an image with GIT (JSON)", vlm_cmd_ask },
  { "index", "index videos into an SQLite file for `vlm search`", vlm_cmd_index },
  { "search", "find where a text is seen in indexed videos", vlm_cmd_search },
  { "watch", "print when a text appears/disappears in a video or stream", vlm_cmd_watch },
};

/**
 * vlm_cmd_model_or_demo:
 * @cmd: the command, for messages
 * @option: (nullable): the option naming the model, for messages ("--model" when %NULL)
 * @given: (nullable): the option's value
 * @which: the demo model to use when @given is %NULL
 *
 * The model folder a command uses: @given, else the demo model
 * (vlm_demo_model_find()). When the demo model is missing, prints where it
 * was looked for and how to give a model.
 *
 * Returns: (transfer full) (nullable): the folder, or %NULL after the message.
 */
gchar *
vlm_cmd_model_or_demo (const gchar *cmd, const gchar *option, const gchar *given,
                       VlmDemoModel which)
{
  if (given)
    return g_strdup (given);
  if (!option)
    option = "--model";
  g_autoptr (GError) error = NULL;
  gchar *dir = vlm_demo_model_find (which, &error);
  if (!dir)
    fprintf (stderr, "vlm %s: no %s given and %s; give %s DIR (a %s folder in the "
             "Hugging Face layout) or set " VLM_DEMO_MODELS_ENV "=DIR (holding clip/ and git/)\n",
             cmd, option, error->message, option, vlm_demo_model_family (which));
  return dir;
}

static void
usage (FILE *out)
{
  fprintf (out, "usage: vlm COMMAND [OPTIONS…]\n\ncommands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-12s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\n`vlm COMMAND --help` describes a command's options.\n"
           "Environment: VLM_DEVICE replaces device \"auto\"; VLM_THREADS sets CPU threads;\n"
           "VLM_VULKAN_ALLOW_CPU=1 lets \"vulkan\" pick a CPU-type device (lavapipe);\n"
           "VLM_VULKAN_NO_FP16=1 disables f16 weights on Vulkan; VLM_VULKAN_VALIDATION=1\n"
           "enables the Khronos validation layer.\n"
           "Without --model, commands use the demo models (CLIP or GIT) installed in\n"
           "DATADIR/gst-vlm/models/demo, else the source tree's models/demo;\n"
           VLM_DEMO_MODELS_ENV "=DIR replaces both (DIR/clip, DIR/git).\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
    usage (argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  fprintf (stderr, "vlm: unknown command \"%s\"\n\n", argv[1]);
  usage (stderr);
  return 2;
}
