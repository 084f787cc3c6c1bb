/* vlm — command table shared by the command files.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "vlm-demo-models.h"

/**
 * VlmCommand:
 * @name: the word after `vlm`
 * @summary: one line for `vlm --help`
 * @run: entry point; receives argv starting at the command name; returns the exit status
 *
 * A `vlm` sub-command.
 */
typedef struct {
  const gchar *name;
  const gchar *summary;
  int (*run) (int argc, char **argv);
} VlmCommand;

int vlm_cmd_devices   (int argc, char **argv);
int vlm_cmd_bench_ops (int argc, char **argv);
int vlm_cmd_bench (int argc, char **argv);
int vlm_cmd_embed_image (int argc, char **argv);
int vlm_cmd_embed_text (int argc, char **argv);
int vlm_cmd_match (int argc, char **argv);
int vlm_cmd_caption (int argc, char **argv);
int vlm_cmd_ask (int argc, char **argv);
int vlm_cmd_index (int argc, char **argv);
int vlm_cmd_search (int argc, char **argv);
int vlm_cmd_watch (int argc, char **argv);

gboolean vlm_cmd_parse (GOptionContext *ctx, int *argc, char ***argv);
gchar   *vlm_cmd_model_or_demo (const gchar *cmd, const gchar *option, const gchar *given,
                                VlmDemoModel which);
