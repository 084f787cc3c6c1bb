/* gst-vlm engine — memory-mapped safetensors files, strictly validated.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON
 * {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
 * {str: str}}, then the data section, which the entries must cover exactly
 * (no overlaps, no holes). Files come from the internet, so every number is
 * checked before use and every refusal names the file and the reason.
 */
#include <math.h>
#include <string.h>
#include <json-glib/json-glib.h>
#ifdef G_OS_UNIX
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "vlm-json.h"
#include "vlm-safetensors.h"
#include "../vlm-backend.h"

/* The header may not be larger than this (the reference implementation's
 * limit too): a hostile length cannot make us parse gigabytes of JSON. */
#define MAX_HEADER_BYTES (100u * 1024u * 1024u)

struct _VlmSafetensors {
  gint ref_count;
  gchar *path;
  GMappedFile *file;
  GArray *entries;           /* VlmStEntry, names owned */
  GHashTable *by_name;       /* name → index + 1 */
  GHashTable *metadata;      /* str → str */
};

static const struct {
  const gchar *name;
  gsize size;
} dtypes[] = {
  [VLM_ST_F32] = { "F32", 4 }, [VLM_ST_F16] = { "F16", 2 }, [VLM_ST_BF16] = { "BF16", 2 },
  [VLM_ST_F64] = { "F64", 8 }, [VLM_ST_I64] = { "I64", 8 }, [VLM_ST_I32] = { "I32", 4 },
  [VLM_ST_I16] = { "I16", 2 }, [VLM_ST_I8] = { "I8", 1 }, [VLM_ST_U8] = { "U8", 1 },
  [VLM_ST_BOOL] = { "BOOL", 1 },
};

/**
 * vlm_st_dtype_to_string:
 * @dtype: a safetensors element type
 *
 * Returns: its name in the file format ("F32", "BF16", …).
 */
const gchar *
vlm_st_dtype_to_string (VlmStDType dtype)
{
  return (guint) dtype < G_N_ELEMENTS (dtypes) ? dtypes[dtype].name : "?";
}

static gboolean G_GNUC_PRINTF (4, 5)
bad (GError **error, gint code, const gchar *path, const gchar *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, VLM_ERROR, code, "%s: %s", path, msg);
  return FALSE;
}

static gboolean
read_uint (JsonNode *node, guint64 *out)
{
  if (!node || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  gint64 v = json_node_get_int (node);
  if (v < 0)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

static gboolean
parse_entry (VlmSafetensors *st, const gchar *name, JsonNode *node, gsize data_size,
             VlmStEntry *e, guint64 *begin, GError **error)
{
  const gchar *path = st->path;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return bad (error, VLM_ERROR_FORMAT, path, "header entry \"%s\" is not an object", name);
  JsonObject *obj = json_node_get_object (node);

  JsonNode *dn = json_object_get_member (obj, "dtype");
  const gchar *dname = dn && JSON_NODE_HOLDS_VALUE (dn) &&
      json_node_get_value_type (dn) == G_TYPE_STRING ? json_node_get_string (dn) : NULL;
  if (!dname)
    return bad (error, VLM_ERROR_FORMAT, path, "tensor \"%s\" has no dtype string", name);
  gint dt = -1;
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (strcmp (dname, dtypes[i].name) == 0)
      dt = (gint) i;
  if (dt < 0)
    return bad (error, VLM_ERROR_FORMAT, path, "tensor \"%s\" has unknown dtype \"%s\"", name,
                dname);

  JsonNode *sn = json_object_get_member (obj, "shape");
  if (!sn || !JSON_NODE_HOLDS_ARRAY (sn))
    return bad (error, VLM_ERROR_FORMAT, path, "tensor \"%s\" has no shape array", name);
  JsonArray *shape = json_node_get_array (sn);
  guint ndim = json_array_get_length (shape);
  if (ndim > VLM_SAFETENSORS_MAX_DIMS)
    return bad (error, VLM_ERROR_FORMAT, path, "tensor \"%s\" has %u dimensions (at most %d)",
                name, ndim, VLM_SAFETENSORS_MAX_DIMS);
  guint64 numel = 1;
  for (guint i = 0; i < ndim; i++) {
    guint64 d;
    if (!read_uint (json_array_get_element (shape, i), &d))
      return bad (error, VLM_ERROR_FORMAT, path,
                  "tensor \"%s\": dimension %u is not a non-negative integer", name, i);
    if (d != 0 && numel > G_MAXUINT64 / d)
      return bad (error, VLM_ERROR_FORMAT, path, "tensor \"%s\": shape overflows", name);
    numel *= d;
    e->shape[i] = (gint64) d;
  }
  guint64 esize = dtypes[dt].size;
  if (numel > G_MAXUINT64 / esize)
    return bad (error, VLM_ERROR_FORMAT, path, "tensor \"%s\": byte size overflows", name);

  JsonNode *on = json_object_get_member (obj, "data_offsets");
  JsonArray *offs = on && JSON_NODE_HOLDS_ARRAY (on) ? json_node_get_array (on) : NULL;
  guint64 b, end;
  if (!offs || json_array_get_length (offs) != 2 ||
      !read_uint (json_array_get_element (offs, 0), &b) ||
      !read_uint (json_array_get_element (offs, 1), &end))
    return bad (error, VLM_ERROR_FORMAT, path,
                "tensor \"%s\": data_offsets must be two non-negative integers", name);
  if (b > end || end > data_size)
    return bad (error, VLM_ERROR_FORMAT, path,
                "tensor \"%s\": data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                "] lie outside the %" G_GSIZE_FORMAT "-byte data section", name, b, end,
                data_size);
  if (end - b != numel * esize)
    return bad (error, VLM_ERROR_FORMAT, path,
                "tensor \"%s\": %" G_GUINT64_FORMAT " bytes stored for %" G_GUINT64_FORMAT
                " %s elements (%" G_GUINT64_FORMAT " bytes)", name, end - b, numel, dname,
                numel * esize);
  e->dtype = (VlmStDType) dt;
  e->ndim = (gint) ndim;
  e->nbytes = (gsize) (end - b);
  *begin = b;
  return TRUE;
}

typedef struct {
  guint64 begin, end;
  guint index;
} Span;

static gint
span_cmp (gconstpointer a, gconstpointer b)
{
  const Span *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

static gboolean
check_coverage (VlmSafetensors *st, GArray *spans, gsize data_size, GError **error)
{
  g_array_sort (spans, span_cmp);
  guint64 pos = 0;
  for (guint i = 0; i < spans->len; i++) {
    Span *s = &g_array_index (spans, Span, i);
    const gchar *name = g_array_index (st->entries, VlmStEntry, s->index).name;
    if (s->begin < pos)
      return bad (error, VLM_ERROR_FORMAT, st->path,
                  "tensor \"%s\" overlaps another tensor's bytes (at offset %" G_GUINT64_FORMAT
                  ")", name, s->begin);
    if (s->begin > pos)
      return bad (error, VLM_ERROR_FORMAT, st->path,
                  "bytes %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
                  " of the data section belong to no tensor", pos, s->begin);
    pos = s->end;
  }
  if (pos != data_size)
    return bad (error, VLM_ERROR_FORMAT, st->path,
                "the data section has %" G_GSIZE_FORMAT " bytes but the tensors cover %"
                G_GUINT64_FORMAT, data_size, pos);
  return TRUE;
}

static gboolean
parse_header (VlmSafetensors *st, GError **error)
{
  const guint8 *base = (const guint8 *) g_mapped_file_get_contents (st->file);
  gsize size = g_mapped_file_get_length (st->file);
  if (size < 8)
    return bad (error, VLM_ERROR_FORMAT, st->path,
                "truncated: %" G_GSIZE_FORMAT " bytes, a safetensors file starts with an 8-byte "
                "header length", size);
  guint64 hlen = 0;
  for (gint i = 7; i >= 0; i--)
    hlen = (hlen << 8) | base[i];
  if (hlen > size - 8)
    return bad (error, VLM_ERROR_FORMAT, st->path,
                "header length %" G_GUINT64_FORMAT " exceeds the file (%" G_GSIZE_FORMAT
                " bytes): truncated or not a safetensors file", hlen, size);
  if (hlen > MAX_HEADER_BYTES || hlen < 2)
    return bad (error, VLM_ERROR_FORMAT, st->path,
                "header length %" G_GUINT64_FORMAT " outside 2..%u bytes", hlen,
                MAX_HEADER_BYTES);
  const gchar *json = (const gchar *) base + 8;
  if (!g_utf8_validate_len (json, (gsize) hlen, NULL))
    return bad (error, VLM_ERROR_FORMAT, st->path, "header is not valid UTF-8");

  g_autoptr (GError) jerr = NULL;
  g_autoptr (JsonNode) root = vlm_json_parse (json, (gsize) hlen, &jerr);
  if (!root)
    return bad (error, VLM_ERROR_FORMAT, st->path, "header is not valid JSON: %s", jerr->message);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return bad (error, VLM_ERROR_FORMAT, st->path, "header is not a JSON object");

  gsize data_size = size - 8 - (gsize) hlen;
  const guint8 *data = base + 8 + hlen;
  JsonObject *obj = json_node_get_object (root);
  g_autoptr (GList) members = json_object_get_members (obj);
  g_autoptr (GArray) spans = g_array_new (FALSE, FALSE, sizeof (Span));
  for (GList *l = members; l; l = l->next) {
    const gchar *name = l->data;
    JsonNode *node = json_object_get_member (obj, name);
    if (strcmp (name, "__metadata__") == 0) {
      if (!JSON_NODE_HOLDS_OBJECT (node))
        return bad (error, VLM_ERROR_FORMAT, st->path, "__metadata__ is not an object");
      JsonObject *meta = json_node_get_object (node);
      g_autoptr (GList) keys = json_object_get_members (meta);
      for (GList *k = keys; k; k = k->next) {
        JsonNode *v = json_object_get_member (meta, k->data);
        if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_STRING)
          return bad (error, VLM_ERROR_FORMAT, st->path, "__metadata__ value \"%s\" is not a "
                      "string", (const gchar *) k->data);
        g_hash_table_insert (st->metadata, g_strdup (k->data), g_strdup (json_node_get_string (v)));
      }
      continue;
    }
    VlmStEntry e = { 0 };
    guint64 begin = 0;
    if (!parse_entry (st, name, node, data_size, &e, &begin, error))
      return FALSE;
    e.name = g_strdup (name);
    e.data = data + begin;
    Span s = { begin, begin + e.nbytes, st->entries->len };
    g_array_append_val (st->entries, e);
    g_array_append_val (spans, s);
    g_hash_table_insert (st->by_name, (gpointer) e.name, GUINT_TO_POINTER (st->entries->len));
  }
  return check_coverage (st, spans, data_size, error);
}

/**
 * vlm_safetensors_open:
 * @path: a .safetensors file
 * @error: return location for a #GError
 *
 * Maps the file read-only and validates its header: sizes, offsets, dtypes,
 * overlaps and holes, with overflow-safe arithmetic.
 *
 * Returns: (transfer full) (nullable): the file, or %NULL with @error set
 *   (%VLM_ERROR_FILE when it can't be read, %VLM_ERROR_FORMAT when its
 *   content is invalid), the message naming the file and the reason.
 */
VlmSafetensors *
vlm_safetensors_open (const gchar *path, GError **error)
{
  g_autoptr (GError) ferr = NULL;
  GMappedFile *file = g_mapped_file_new (path, FALSE, &ferr);
  if (!file) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FILE, "%s: cannot read: %s", path, ferr->message);
    return NULL;
  }
  VlmSafetensors *st = g_new0 (VlmSafetensors, 1);
  st->ref_count = 1;
  st->path = g_strdup (path);
  st->file = file;
  st->entries = g_array_new (FALSE, TRUE, sizeof (VlmStEntry));
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!parse_header (st, error)) {
    vlm_safetensors_unref (st);
    return NULL;
  }
  return st;
}

/**
 * vlm_safetensors_ref:
 * @st: a file
 *
 * Returns: (transfer full): @st with one more reference.
 */
VlmSafetensors *
vlm_safetensors_ref (VlmSafetensors *st)
{
  g_atomic_int_inc (&st->ref_count);
  return st;
}

/**
 * vlm_safetensors_unref:
 * @st: (nullable): a file
 *
 * Drops a reference; the last one unmaps the file.
 */
void
vlm_safetensors_unref (VlmSafetensors *st)
{
  if (!st || !g_atomic_int_dec_and_test (&st->ref_count))
    return;
  for (guint i = 0; i < st->entries->len; i++)
    g_free ((gchar *) g_array_index (st->entries, VlmStEntry, i).name);
  g_array_unref (st->entries);
  g_hash_table_unref (st->by_name);
  g_hash_table_unref (st->metadata);
  g_mapped_file_unref (st->file);
  g_free (st->path);
  g_free (st);
}

/**
 * vlm_safetensors_get_path:
 * @st: a file
 *
 * Returns: (transfer none): the path it was opened from.
 */
const gchar *
vlm_safetensors_get_path (VlmSafetensors *st)
{
  return st->path;
}

/**
 * vlm_safetensors_n_entries:
 * @st: a file
 *
 * Returns: the number of tensors.
 */
guint
vlm_safetensors_n_entries (VlmSafetensors *st)
{
  return st->entries->len;
}

/**
 * vlm_safetensors_entry:
 * @st: a file
 * @index: 0 … n_entries − 1, in header order
 *
 * Returns: (transfer none) (nullable): the entry, %NULL when out of range.
 */
const VlmStEntry *
vlm_safetensors_entry (VlmSafetensors *st, guint index)
{
  return index < st->entries->len ? &g_array_index (st->entries, VlmStEntry, index) : NULL;
}

/**
 * vlm_safetensors_find:
 * @st: a file
 * @name: a tensor name
 *
 * Returns: (transfer none) (nullable): the entry, %NULL when absent.
 */
const VlmStEntry *
vlm_safetensors_find (VlmSafetensors *st, const gchar *name)
{
  guint i = GPOINTER_TO_UINT (g_hash_table_lookup (st->by_name, name));
  return i ? &g_array_index (st->entries, VlmStEntry, i - 1) : NULL;
}

/**
 * vlm_safetensors_metadata:
 * @st: a file
 * @key: a __metadata__ key
 *
 * Returns: (transfer none) (nullable): its value.
 */
const gchar *
vlm_safetensors_metadata (VlmSafetensors *st, const gchar *key)
{
  return g_hash_table_lookup (st->metadata, key);
}

static gchar *
shape_text (gint ndim, const gint64 *shape)
{
  GString *s = g_string_new ("[");
  for (gint i = 0; i < ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static gboolean
shape_matches (const VlmStEntry *e, gint ndim, const gint64 *shape)
{
  if (e->ndim == 0)                 /* a scalar loads as [1] */
    return ndim == 1 && shape[0] == 1;
  if (e->ndim != ndim)
    return FALSE;
  for (gint i = 0; i < ndim; i++)
    if (e->shape[i] != shape[i])
      return FALSE;
  return TRUE;
}

/* Converts @n elements of @e to f32. */
static void
to_f32 (const VlmStEntry *e, gfloat *dst, gsize n)
{
  switch (e->dtype) {
    case VLM_ST_F32:
      memcpy (dst, e->data, n * 4);
      break;
    case VLM_ST_F16:
    case VLM_ST_BF16: {
      guint16 *tmp = g_new (guint16, n);
      memcpy (tmp, e->data, n * 2);     /* the mapping need not be 2-aligned */
      if (e->dtype == VLM_ST_F16)
        vlm_f16_to_f32 (dst, tmp, n);
      else
        vlm_bf16_to_f32 (dst, tmp, n);
      g_free (tmp);
      break;
    }
    case VLM_ST_F64:
      for (gsize i = 0; i < n; i++) {
        gdouble d;
        memcpy (&d, e->data + 8 * i, 8);
        dst[i] = (gfloat) d;
      }
      break;
    default:
      g_assert_not_reached ();
  }
}

/* A tensor loaded as a converted copy never reads its bytes in the file
 * again: the whole pages of the mapping inside the entry go back to the
 * kernel (the mapping is read-only, so touching them later reads the file
 * again), or a model converted at load time would keep the whole file in
 * memory next to its converted weights. */
static void
release_entry_pages (const VlmStEntry *e)
{
#ifdef G_OS_UNIX
  guintptr page = (guintptr) sysconf (_SC_PAGESIZE);
  guintptr begin = (guintptr) e->data, end = begin + e->nbytes;
  guintptr first = (begin + page - 1) & ~(page - 1), last = end & ~(page - 1);
  if (last > first)
    madvise ((gpointer) first, last - first, MADV_DONTNEED);
#endif
}

static void
unref_file (gpointer st)
{
  vlm_safetensors_unref (st);
}

/**
 * vlm_safetensors_load:
 * @st: a file
 * @name: the tensor to load
 * @device: where to put it
 * @dtype: %VLM_DTYPE_F32, %VLM_DTYPE_F16 or %VLM_DTYPE_BF16 (the device
 *   must support the last two as matmul weights)
 * @ndim: number of dimensions expected
 * @shape: (array length=ndim): the shape expected (a stored scalar matches [1])
 * @error: return location for a #GError
 *
 * Loads a float tensor (F32, F16, BF16 or F64 in the file) as @dtype
 * (rounding to nearest even when it narrows). When
 * the file already holds @dtype, is suitably aligned and @device is the CPU,
 * the tensor uses the mapping in place (no copy).
 *
 * Returns: (transfer full) (nullable): the tensor; %NULL with @error naming
 *   the file, the tensor and the reason when it is missing, has another
 *   shape, or is not a float tensor.
 */
VlmTensor *
vlm_safetensors_load (VlmSafetensors *st, const gchar *name, VlmDevice *device, VlmDType dtype,
                      gint ndim, const gint64 *shape, GError **error)
{
  const VlmStEntry *e = vlm_safetensors_find (st, name);
  if (!e) {
    bad (error, VLM_ERROR_FORMAT, st->path, "tensor \"%s\" is missing", name);
    return NULL;
  }
  if (!shape_matches (e, ndim, shape)) {
    g_autofree gchar *want = shape_text (ndim, shape);
    g_autofree gchar *got = shape_text (e->ndim, e->shape);
    bad (error, VLM_ERROR_FORMAT, st->path, "tensor \"%s\" has shape %s, expected %s", name, got,
         want);
    return NULL;
  }
  if (e->dtype != VLM_ST_F32 && e->dtype != VLM_ST_F16 && e->dtype != VLM_ST_BF16 &&
      e->dtype != VLM_ST_F64) {
    bad (error, VLM_ERROR_FORMAT, st->path, "tensor \"%s\" is %s, expected a float tensor", name,
         vlm_st_dtype_to_string (e->dtype));
    return NULL;
  }
  if (dtype != VLM_DTYPE_F32 && dtype != VLM_DTYPE_F16 && dtype != VLM_DTYPE_BF16) {
    bad (error, VLM_ERROR_INVALID_ARGUMENT, st->path, "tensor \"%s\": cannot load as %s", name,
         vlm_dtype_to_string (dtype));
    return NULL;
  }
  gsize n = e->ndim == 0 ? 1 : e->nbytes / dtypes[e->dtype].size;
  gboolean same = (dtype == VLM_DTYPE_F32 && e->dtype == VLM_ST_F32) ||
      (dtype == VLM_DTYPE_F16 && e->dtype == VLM_ST_F16) ||
      (dtype == VLM_DTYPE_BF16 && e->dtype == VLM_ST_BF16);
  if (same && vlm_device_get_backend (device) == VLM_BACKEND_CPU &&
      ((guintptr) e->data % vlm_dtype_size (dtype)) == 0)
    return vlm_tensor_new_from_data (device, dtype, ndim, shape, e->data, unref_file,
                                     vlm_safetensors_ref (st), error);
  gpointer buf;
  if (same) {
    buf = g_memdup2 (e->data, e->nbytes);
  } else {
    gfloat *f = g_new (gfloat, n);
    to_f32 (e, f, n);
    if (dtype == VLM_DTYPE_F16 || dtype == VLM_DTYPE_BF16) {
      guint16 *h = g_new (guint16, n);
      if (dtype == VLM_DTYPE_F16)
        vlm_f32_to_f16 (h, f, n);
      else
        vlm_f32_to_bf16 (h, f, n);
      g_free (f);
      buf = h;
    } else {
      buf = f;
    }
  }
  release_entry_pages (e);
  return vlm_tensor_new_from_data (device, dtype, ndim, shape, buf, g_free, buf, error);
}

/**
 * vlm_safetensors_load_q8:
 * @st: a file
 * @name: a float matrix [@rows, @cols] in the file
 * @device: where to put it (it must take int8 weights, see
 *   vlm_op_matmul_supports_weights())
 * @rows: rows expected
 * @cols: columns expected
 * @scale: (out) (transfer full): the scale of each row, F32 [@rows]
 * @error: return location for a #GError
 *
 * Loads a matmul weight quantized to int8 for vlm_op_matmul_scaled():
 * each row gets the scale s = max|w| / 127 (1 for a row of zeros) and
 * q = round(w / s), so |w − q·s| ≤ s / 2. The file's bytes of the tensor
 * are given back to the kernel afterwards, as for any converted load.
 *
 * Returns: (transfer full) (nullable): the I8 [@rows, @cols] tensor, or
 *   %NULL with @error set as vlm_safetensors_load() would.
 */
VlmTensor *
vlm_safetensors_load_q8 (VlmSafetensors *st, const gchar *name, VlmDevice *device, gint64 rows,
                         gint64 cols, VlmTensor **scale, GError **error)
{
  gint64 shape[2] = { rows, cols };
  *scale = NULL;
  const VlmStEntry *e = vlm_safetensors_find (st, name);
  if (!e) {
    bad (error, VLM_ERROR_FORMAT, st->path, "tensor \"%s\" is missing", name);
    return NULL;
  }
  if (!shape_matches (e, 2, shape)) {
    g_autofree gchar *want = shape_text (2, shape);
    g_autofree gchar *got = shape_text (e->ndim, e->shape);
    bad (error, VLM_ERROR_FORMAT, st->path, "tensor \"%s\" has shape %s, expected %s", name, got,
         want);
    return NULL;
  }
  if (e->dtype != VLM_ST_F32 && e->dtype != VLM_ST_F16 && e->dtype != VLM_ST_BF16 &&
      e->dtype != VLM_ST_F64) {
    bad (error, VLM_ERROR_FORMAT, st->path, "tensor \"%s\" is %s, expected a float tensor", name,
         vlm_st_dtype_to_string (e->dtype));
    return NULL;
  }
  gsize n = (gsize) rows * cols;
  g_autofree gfloat *f = g_new (gfloat, n);
  to_f32 (e, f, n);
  gint8 *q = g_new (gint8, n);
  gfloat *s = g_new (gfloat, rows);
  for (gint64 r = 0; r < rows; r++) {
    const gfloat *row = f + r * cols;
    gfloat mx = 0.0f;
    for (gint64 c = 0; c < cols; c++)
      mx = MAX (mx, fabsf (row[c]));
    s[r] = mx > 0.0f && isfinite (mx) ? mx / 127.0f : 1.0f;
    gfloat inv = 1.0f / s[r];
    for (gint64 c = 0; c < cols; c++)
      q[r * cols + c] = (gint8) CLAMP (lrintf (row[c] * inv), -127, 127);
  }
  release_entry_pages (e);
  VlmTensor *t = vlm_tensor_new_from_data (device, VLM_DTYPE_I8, 2, shape, q, g_free, q, error);
  if (!t) {
    g_free (s);
    return NULL;
  }
  *scale = vlm_tensor_new_from_data (device, VLM_DTYPE_F32, 1, &rows, s, g_free, s, error);
  if (!*scale) {
    vlm_tensor_unref (t);
    return NULL;
  }
  return t;
}
