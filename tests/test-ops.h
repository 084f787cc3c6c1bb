/* gst-vlm tests — op test families, registered by test-ops.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each family registers its cases under @prefix ("/ops/cpu" or
 * "/ops/vulkan"). A case builds seeded inputs, runs the op on the device
 * under test (vt_device()), compares with a naive double-precision
 * reference written here, and, when the device under test is Vulkan, also
 * runs the op on the CPU backend (vt_cpu()) and compares the two.
 */
#pragma once

#include "vlm-test-util.h"

G_BEGIN_DECLS

void vt_register_matmul     (const gchar *prefix);
void vt_register_attention  (const gchar *prefix);
void vt_register_elementwise (const gchar *prefix);
void vt_register_norm       (const gchar *prefix);
void vt_register_index      (const gchar *prefix);
void vt_register_preprocess (const gchar *prefix);
void vt_register_bad_input  (const gchar *prefix);
void vt_register_chain      (const gchar *prefix);

/* Adds @func with @data under @prefix/@family/@name. */
void vt_add     (const gchar *prefix, const gchar *family, const gchar *name,
                 gconstpointer data, GTestDataFunc func);
/* Adds the same case again as @prefix/@family/odd-offset/@name, with every
 * input and output view at an element offset that is no multiple of 2, 4
 * or 16 (tensors sliced out of larger ones at any row). */
void vt_add_odd (const gchar *prefix, const gchar *family, const gchar *name,
                 gconstpointer data, GTestDataFunc func);

G_END_DECLS
