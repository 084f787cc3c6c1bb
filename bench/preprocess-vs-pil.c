/* bench/preprocess-vs-pil — our preprocessing against PIL's, in pixels and
 * in CLIP embeddings.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * usage: preprocess-vs-pil MODEL_DIR RGB_FILE WIDTH HEIGHT PIL_PIXELS.f32
 *
 * RGB_FILE holds WIDTH×HEIGHT packed RGB bytes; PIL_PIXELS.f32 the same
 * image preprocessed by PIL (bench/preprocess_vs_pil.py writes both). Prints
 * one line: RMS and largest difference of the normalised pixels, and the
 * cosine between the image embeddings of the two preprocessings. Not a test:
 * it measures what the documented difference costs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "models/vlm-clip.h"

int
main (int argc, char **argv)
{
  if (argc != 6) {
    fprintf (stderr, "usage: %s MODEL_DIR RGB_FILE WIDTH HEIGHT PIL_PIXELS.f32\n", argv[0]);
    return 2;
  }
  g_autoptr (GError) error = NULL;
  g_autoptr (VlmDevice) dev = vlm_device_open ("cpu", &error);
  g_autoptr (VlmClipModel) m = dev ? vlm_clip_model_load (argv[1], dev, VLM_DTYPE_F32, &error)
      : NULL;
  g_autofree gchar *rgb = NULL, *pil = NULL;
  gsize rgb_len = 0, pil_len = 0;
  if (!m || !g_file_get_contents (argv[2], &rgb, &rgb_len, &error) ||
      !g_file_get_contents (argv[5], &pil, &pil_len, &error)) {
    fprintf (stderr, "preprocess-vs-pil: %s\n", error->message);
    return 1;
  }
  const VlmClipConfig *c = vlm_clip_model_get_config (m);
  gint S = c->image_size, P = c->projection_dim;
  VlmFrame frame = { .data = rgb, .size = rgb_len };
  if (vlm_pixel_format_frame_size (VLM_PIXEL_RGB, atoi (argv[3]), atoi (argv[4]),
                                   &frame.params) != rgb_len ||
      pil_len != (gsize) 3 * S * S * sizeof (gfloat)) {
    fprintf (stderr, "preprocess-vs-pil: input sizes do not match\n");
    return 1;
  }
  /* Our pixels, through the same op the model uses. */
  VlmImageParams p = c->image;
  p.format = VLM_PIXEL_RGB;
  p.width = frame.params.width;
  p.height = frame.params.height;
  p.stride[0] = frame.params.stride[0];
  g_autoptr (VlmTensor) src = vlm_tensor_new_from_data (dev, VLM_DTYPE_U8, 1,
                                                        (gint64[]) { (gint64) rgb_len }, rgb,
                                                        NULL, NULL, &error);
  g_autoptr (VlmTensor) out = vlm_tensor_new (dev, VLM_DTYPE_F32, 3,
                                              (gint64[]) { 3, S, S }, &error);
  g_autofree gfloat *ours = g_new (gfloat, 3 * S * S);
  g_autofree gfloat *e1 = g_new (gfloat, P), *e2 = g_new (gfloat, P);
  if (!vlm_op_preprocess (out, src, &p, &error) ||
      !vlm_tensor_download (out, ours, out->nbytes, &error) ||
      !vlm_clip_encode_frames (m, &frame, 1, e1, &error) ||
      !vlm_clip_encode_pixels (m, (const gfloat *) pil, 1, e2, &error)) {
    fprintf (stderr, "preprocess-vs-pil: %s\n", error->message);
    return 1;
  }
  const gfloat *ref = (const gfloat *) pil;
  gdouble sq = 0, mx = 0, dot = 0;
  for (gint i = 0; i < 3 * S * S; i++) {
    gdouble d = (gdouble) ours[i] - ref[i];
    sq += d * d;
    mx = MAX (mx, fabs (d));
  }
  for (gint i = 0; i < P; i++)
    dot += (gdouble) e1[i] * e2[i];
  printf ("rms %.5f max %.4f cosine %.8f\n", sqrt (sq / (3.0 * S * S)), mx, dot);
  return 0;
}
