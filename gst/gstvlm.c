/* gst-vlm — the "vlm" plugin: vision-language models as video elements.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstvlmcaption.h"
#include "gstvlmembed.h"
#include "gstvlmjsonsink.h"
#include "gstvlmmatch.h"
#include "gstvlmvqa.h"
#include "vlm-meta.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ok = FALSE;
  gst_vlm_meta_register ();
  ok |= GST_ELEMENT_REGISTER (vlmembed, plugin);
  ok |= GST_ELEMENT_REGISTER (vlmmatch, plugin);
  ok |= GST_ELEMENT_REGISTER (vlmcaption, plugin);
  ok |= GST_ELEMENT_REGISTER (vlmvqa, plugin);
  ok |= GST_ELEMENT_REGISTER (vlmjsonsink, plugin);
  return ok;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, vlm,
                   "Vision-language models (CLIP, GIT) on Vulkan or the CPU: image embeddings, "
                   "zero-shot text matching, captions, visual question answering, JSON lines",
                   plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
