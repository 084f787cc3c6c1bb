/* vlm — exhaustive cosine search over in-memory embeddings, and segments.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:vlm-search
 * @title: vlm search ranking
 * @short_description: scores every stored frame against a query and merges
 *   neighbouring hits into segments
 *
 * Exact search: the embeddings are one row-major n × d float matrix in
 * memory, the query one d vector; the scores are the matrix-vector product,
 * computed in blocks of four rows (the query stays in L1, each row is read
 * once, two four-lane accumulators per row) split over threads. With L2-normalised
 * rows and query the scores are cosines. The cost is one pass over n × d × 4
 * bytes: memory bandwidth, not arithmetic, bounds it.
 *
 * Segments (vlm_search_segments()) are grown greedily from the best
 * unclaimed frame: a neighbouring row of the same video joins while its
 * score is at least half-way between the seed's score and the mean score of
 * all rows, i.e. while it is closer to the match than to a typical frame.
 * The rule has no absolute threshold, so it holds for any model's score
 * range.
 */
#include <math.h>
#include <string.h>

#include "vlm-search.h"

/* four-lane vectors: SSE on every x86-64, NEON on arm64; two per row give
 * eight lanes in flight */
typedef float v4sf __attribute__ ((vector_size (16)));

static inline v4sf
load4 (const gfloat *p)
{
  v4sf v;
  memcpy (&v, p, sizeof v);
  return v;
}

static inline gfloat
hsum (v4sf lo, v4sf hi)
{
  v4sf v = lo + hi;
  return (v[0] + v[2]) + (v[1] + v[3]);
}

static inline gfloat
dot_tail (const gfloat *a, const gfloat *q, gint from, gint dim)
{
  gfloat s = 0.f;
  for (gint j = from; j < dim; j++)
    s += a[j] * q[j];
  return s;
}

#define ROW_STEP(acc0, acc1, row, j)                    \
  do {                                                  \
    acc0 += load4 ((row) + (j)) * q0;                   \
    acc1 += load4 ((row) + (j) + 4) * q1;               \
  } while (0)

static void
scores_range (const gfloat *emb, gsize r0, gsize r1, gint dim, const gfloat *q, gfloat *out)
{
  gint d8 = dim & ~7;
  gsize r = r0;
  for (; r + 4 <= r1; r += 4) {
    const gfloat *a = emb + r * dim, *b = a + dim, *c = b + dim, *d = c + dim;
    v4sf a0 = { 0 }, a1 = { 0 }, b0 = { 0 }, b1 = { 0 };
    v4sf c0 = { 0 }, c1 = { 0 }, d0 = { 0 }, d1 = { 0 };
    for (gint j = 0; j < d8; j += 8) {
      v4sf q0 = load4 (q + j), q1 = load4 (q + j + 4);
      ROW_STEP (a0, a1, a, j);
      ROW_STEP (b0, b1, b, j);
      ROW_STEP (c0, c1, c, j);
      ROW_STEP (d0, d1, d, j);
    }
    out[r] = hsum (a0, a1) + dot_tail (a, q, d8, dim);
    out[r + 1] = hsum (b0, b1) + dot_tail (b, q, d8, dim);
    out[r + 2] = hsum (c0, c1) + dot_tail (c, q, d8, dim);
    out[r + 3] = hsum (d0, d1) + dot_tail (d, q, d8, dim);
  }
  for (; r < r1; r++) {
    const gfloat *a = emb + r * dim;
    v4sf a0 = { 0 }, a1 = { 0 };
    for (gint j = 0; j < d8; j += 8) {
      v4sf q0 = load4 (q + j), q1 = load4 (q + j + 4);
      ROW_STEP (a0, a1, a, j);
    }
    out[r] = hsum (a0, a1) + dot_tail (a, q, d8, dim);
  }
}

typedef struct {
  const gfloat *emb;
  gsize r0, r1;
  gint dim;
  const gfloat *q;
  gfloat *out;
} ScoreJob;

static gpointer
score_job (gpointer data)
{
  ScoreJob *j = data;
  scores_range (j->emb, j->r0, j->r1, j->dim, j->q, j->out);
  return NULL;
}

/**
 * vlm_search_scores:
 * @embeddings: @n rows of @dim floats
 * @n: number of rows
 * @dim: floats per row
 * @query: @dim floats
 * @scores: (out caller-allocates): @n dot products
 * @n_threads: threads to use; 0 for one per processor
 *
 * Computes the dot product of every row with @query (the cosine when both
 * are L2-normalised).
 */
void
vlm_search_scores (const gfloat *embeddings, gsize n, gint dim, const gfloat *query,
                   gfloat *scores, guint n_threads)
{
  if (n == 0 || dim <= 0)
    return;
  if (n_threads == 0)
    n_threads = g_get_num_processors ();
  /* below ~64k rows a thread costs more than it saves */
  n_threads = (guint) MIN ((gsize) n_threads, MAX (n / 65536, (gsize) 1));
  n_threads = MIN (n_threads, 64u);
  ScoreJob jobs[64];
  GThread *threads[64] = { NULL };
  gsize per = (n + n_threads - 1) / n_threads;
  per = (per + 3) & ~(gsize) 3;
  for (guint t = 0; t < n_threads; t++) {
    gsize r0 = MIN (n, t * per), r1 = MIN (n, r0 + per);
    jobs[t] = (ScoreJob) { embeddings, r0, r1, dim, query, scores };
    if (t > 0 && r0 < r1)
      threads[t] = g_thread_try_new ("vlm-search", score_job, &jobs[t], NULL);
    if (t > 0 && r0 < r1 && !threads[t])
      score_job (&jobs[t]);  /* no thread: do it here */
  }
  score_job (&jobs[0]);
  for (guint t = 1; t < n_threads; t++)
    if (threads[t])
      g_thread_join (threads[t]);
}

/* NaN (a damaged row) ranks below everything */
static inline gfloat
score_at (const gfloat *s, gsize r)
{
  return isnan (s[r]) ? -INFINITY : s[r];
}

/* a before b: higher score, then lower row */
static inline gboolean
ranks_before (const gfloat *s, gsize a, gsize b)
{
  gfloat x = score_at (s, a), y = score_at (s, b);
  return x > y || (x == y && a < b);
}

static void
sift_down (gsize *heap, gsize len, gsize i, const gfloat *s)
{
  for (;;) {
    gsize l = 2 * i + 1, r = l + 1, worst = i;
    /* the root holds the lowest-ranked row kept so far */
    if (l < len && ranks_before (s, heap[worst], heap[l]))
      worst = l;
    if (r < len && ranks_before (s, heap[worst], heap[r]))
      worst = r;
    if (worst == i)
      return;
    gsize t = heap[i];
    heap[i] = heap[worst];
    heap[worst] = t;
    i = worst;
  }
}

/**
 * vlm_search_top:
 * @scores: @n scores
 * @n: number of scores
 * @k: how many to keep
 *
 * The @k best rows (a bounded heap, O(n log k)), best first; ties go to
 * the lower row. NaN scores rank last.
 *
 * Returns: (transfer full) (element-type gsize): min(@k, @n) row numbers.
 */
GArray *
vlm_search_top (const gfloat *scores, gsize n, gsize k)
{
  k = MIN (k, n);
  GArray *out = g_array_sized_new (FALSE, FALSE, sizeof (gsize), k);
  if (k == 0)
    return out;
  g_array_set_size (out, k);
  gsize *heap = (gsize *) out->data;
  for (gsize r = 0; r < k; r++)
    heap[r] = r;
  for (gsize i = k / 2; i-- > 0;)
    sift_down (heap, k, i, scores);
  for (gsize r = k; r < n; r++) {
    if (ranks_before (scores, r, heap[0])) {
      heap[0] = r;
      sift_down (heap, k, 0, scores);
    }
  }
  /* heap sort: repeatedly move the worst to the end → best first */
  for (gsize len = k; len > 1; len--) {
    gsize t = heap[0];
    heap[0] = heap[len - 1];
    heap[len - 1] = t;
    sift_down (heap, len - 1, 0, scores);
  }
  return out;
}

/**
 * vlm_search_segments:
 * @scores: @n scores (cosines)
 * @group: @n group ids (the video of each row); rows of one group are
 *   contiguous and in time order
 * @n: number of rows
 * @k: how many segments to return
 *
 * Merges neighbouring well-scoring rows of a group into segments, best
 * segment first: the best row not yet in a segment seeds one, which grows
 * to both sides over rows of the same group scoring at least
 * (seed + mean) / 2, mean being the mean score of all rows, and not already
 * in a segment. Repeats until @k segments or no rows are left.
 *
 * Returns: (transfer full) (element-type VlmSearchSegment): at most @k
 *   segments, by decreasing score.
 */
GArray *
vlm_search_segments (const gfloat *scores, const guint32 *group, gsize n, guint k)
{
  GArray *segs = g_array_new (FALSE, FALSE, sizeof (VlmSearchSegment));
  if (n == 0 || k == 0)
    return segs;
  gdouble sum = 0;
  gsize counted = 0;
  for (gsize r = 0; r < n; r++)
    if (isfinite (scores[r])) {
      sum += scores[r];
      counted++;
    }
  gfloat mean = counted ? (gfloat) (sum / counted) : 0.f;
  g_autofree guint8 *claimed = g_new0 (guint8, n);
  gsize want = MIN (n, MAX ((gsize) k * 16, (gsize) 256));
  GArray *cand = vlm_search_top (scores, n, want);
  gsize ci = 0;
  while (segs->len < k) {
    if (ci == cand->len) {
      if (cand->len == n)
        break;
      /* every candidate was swallowed by segments: look further down */
      g_array_unref (cand);
      want = MIN (n, want * 8);
      cand = vlm_search_top (scores, n, want);
      ci = 0;
      continue;
    }
    gsize r = g_array_index (cand, gsize, ci++);
    if (claimed[r])
      continue;
    gfloat best = score_at (scores, r);
    gfloat thr = best > mean ? (best + mean) / 2 : best;
    gsize lo = r, hi = r;
    while (lo > 0 && !claimed[lo - 1] && group[lo - 1] == group[r] &&
           score_at (scores, lo - 1) >= thr)
      lo--;
    while (hi + 1 < n && !claimed[hi + 1] && group[hi + 1] == group[r] &&
           score_at (scores, hi + 1) >= thr)
      hi++;
    memset (claimed + lo, 1, hi - lo + 1);
    VlmSearchSegment seg = { lo, hi, r, scores[r] };
    g_array_append_val (segs, seg);
  }
  g_array_unref (cand);
  return segs;
}
