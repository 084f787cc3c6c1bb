/* vlm — exhaustive cosine search over in-memory embeddings, and segments.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * VlmSearchSegment:
 * @first: first row of the segment
 * @last: last row of the segment (inclusive)
 * @best: row of the best-scoring frame
 * @score: the best frame's score
 *
 * A run of neighbouring rows of one video that match a query.
 */
typedef struct {
  gsize first;
  gsize last;
  gsize best;
  gfloat score;
} VlmSearchSegment;

void     vlm_search_scores   (const gfloat *embeddings, gsize n, gint dim, const gfloat *query,
                              gfloat *scores, guint n_threads);
GArray  *vlm_search_top      (const gfloat *scores, gsize n, gsize k);
GArray  *vlm_search_segments (const gfloat *scores, const guint32 *group, gsize n, guint k);

G_END_DECLS
