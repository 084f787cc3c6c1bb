/* gst-vlm — libFuzzer target: the config.json readers.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: config.json, optionally followed by FUZZ_SEPARATOR and
 * preprocessor_config.json (absent when there is no separator). The same
 * folder is read as a CLIP model (vlm_clip_config_load), as a GIT model
 * (vlm_git_config_load) and for preprocessing alone (vlm_image_config_load,
 * as for a 224-pixel tower). A configuration that loads must be usable: the
 * geometry in the ranges the model code relies on, preprocessing finite with
 * positive std. A refusal must name the file.
 */
#include <math.h>

#include "fuzz-util.h"
#include "models/vlm-clip.h"
#include "models/vlm-clip-encoder.h"
#include "models/vlm-git.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

static void
check_transformer (const VlmTransformerConfig *c)
{
  g_assert_cmpint (c->hidden, >=, 1);
  g_assert_cmpint (c->intermediate, >=, 1);
  g_assert_cmpint (c->heads, >=, 1);
  g_assert_cmpint (c->layers, >=, 1);
  g_assert_cmpint (c->layers, <=, 1024);
  g_assert_cmpint (c->hidden % c->heads, ==, 0);
  g_assert_true (isfinite (c->eps) && c->eps >= 0);
}

static void
check_image (const VlmImageParams *p, gint image_size)
{
  g_assert_cmpint (p->crop, ==, image_size);
  g_assert_cmpint (p->resize_short, >=, p->crop);
  for (gint i = 0; i < 3; i++) {
    g_assert_true (isfinite (p->mean[i]));
    g_assert_true (isfinite (p->std[i]) && p->std[i] > 0);
  }
}

static void
refused (GError *error, const gchar *dir)
{
  fuzz_check_refusal (error, dir);
  g_error_free (error);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *parts[2];
  gsize lens[2];
  fuzz_split (data, size, 2, parts, lens);
  g_free (fuzz_file ("config.json", parts[0], lens[0]));
  g_free (fuzz_file ("preprocessor_config.json", parts[1], lens[1]));
  const gchar *dir = fuzz_folder ();
  GError *error = NULL;

  VlmClipConfig clip;
  if (vlm_clip_config_load (dir, &clip, &error)) {
    check_transformer (&clip.vision);
    check_transformer (&clip.text);
    g_assert_cmpint (clip.patch_size, >=, 1);
    g_assert_cmpint (clip.image_size % clip.patch_size, ==, 0);
    g_assert_cmpint (clip.eot_id, >=, 0);
    g_assert_cmpint (clip.eot_id, <, clip.vocab_size);
    g_assert_cmpint (clip.max_positions, >=, 2);
    g_assert_cmpint (clip.projection_dim, >=, 1);
    check_image (&clip.image, clip.image_size);
  } else {
    refused (error, dir);
    error = NULL;
  }

  VlmGitConfig git;
  if (vlm_git_config_load (dir, &git, &error)) {
    check_transformer (&git.vision);
    check_transformer (&git.decoder);
    g_assert_cmpint (git.patch_size, >=, 1);
    g_assert_cmpint (git.image_size % git.patch_size, ==, 0);
    g_assert_cmpint (git.vocab_size, >=, 4);
    g_assert_true (git.bos_id >= 0 && git.bos_id < git.vocab_size);
    g_assert_true (git.eos_id >= 0 && git.eos_id < git.vocab_size);
    g_assert_true (git.pad_id >= 0 && git.pad_id < git.vocab_size);
    check_image (&git.image, git.image_size);
  } else {
    refused (error, dir);
    error = NULL;
  }

  VlmImageParams image;
  if (vlm_image_config_load (dir, 224, &image, &error))
    check_image (&image, 224);
  else
    refused (error, dir);
  return 0;
}
