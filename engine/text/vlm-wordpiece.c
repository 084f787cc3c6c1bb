/* gst-vlm engine — the BERT WordPiece tokenizer (GIT's text side).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Gives the ids of Hugging Face's Python BertTokenizer (the "slow" one) with
 * its defaults, step by step:
 *
 *  1. Special tokens written in the text ([UNK] [SEP] [PAD] [CLS] [MASK],
 *     or the names tokenizer_config.json / special_tokens_map.json give)
 *     are cut out first, case-sensitively, leftmost first, and keep their
 *     ids. [MASK] is optional: without it in vocab.txt, "[MASK]" is plain
 *     text here (Hugging Face would add it as a new id past the vocabulary).
 *  2. When lower-casing, the rest is lower-cased one character at a time,
 *     like Python's str.lower() on each character (what PreTrainedTokenizer
 *     does before the basic tokenizer): full mappings without context, so
 *     İ → i + U+0307 and Σ → σ everywhere (no final sigma). GLib's
 *     g_unichar_tolower() gives the same except for İ and the 42 cased
 *     symbols Ⅰ–Ⅿ (U+2160–216F) and Ⓐ–Ⓩ (U+24B6–24CF), handled here;
 *     g_utf8_strdown() is not used (locale-dependent for I, and its own
 *     final-sigma rule).
 *  3. Clean: U+0000, U+FFFD and every character of category C* (Cc, Cf,
 *     Co, Cn — unassigned ones too — except \t \n \r) are dropped; \t \n
 *     \r, space and category Zs become a space. Other whitespace controls
 *     (\v \f U+001C–001F U+0085) are Cc, hence dropped, not separators.
 *  4. CJK ideographs (BERT's ranges, below) get a space on each side.
 *  5. NFC, then a split on Python's whitespace (str.split()): after step 3
 *     that is the space, U+2028 and U+2029.
 *  6. Each word: when lower-casing (and strip_accents is not false), or when
 *     strip_accents is true, NFD and drop category Mn; then split around
 *     punctuation (ASCII 33–47, 58–64, 91–96, 123–126, or category P*),
 *     each punctuation character being a word of its own.
 *  7. WordPiece: a word longer than %VLM_WORDPIECE_MAX_WORD_CHARS code
 *     points becomes [UNK]; otherwise greedy longest match first from the
 *     start, the pieces after the first looked up with "##" in front; a
 *     word that cannot be covered completely becomes one [UNK].
 *
 * Character classes come from GLib's tables (Unicode 15.0 in GLib 2.74).
 * The reference on Debian 12 runs Python 3.11 (Unicode 14.0): the 4 489
 * characters new in 15.0 are unassigned there, hence dropped, and kept
 * here, as Hugging Face does on Python 3.12 and later. On every other code
 * point the categories, NFD, NFC and the lower-casing above agree with
 * Python 3.11 (checked on all of them).
 *
 * Decoding is Hugging Face's decode(): the tokens of the ids (ids outside
 * the vocabulary read "[UNK]"; with skip_special, the ids of the special
 * tokens are left out, [UNK] included), joined with spaces; " ##" removed;
 * the ends stripped; then, unless tokenizer_config.json turns
 * clean_up_tokenization_spaces off, the replacements " ." → ".", " ?" → "?",
 * " !" → "!", " ," → ",", " ' " → "'", " n't" → "n't", " 'm" → "'m",
 * " 's" → "'s", " 've" → "'ve", " 're" → "'re", each over the whole text, in
 * that order.
 *
 * vocab.txt is read like Hugging Face's load_vocab(): UTF-8, lines ended by
 * \n, \r\n or \r (Python's universal newlines), the id of a token is its
 * line index. A token listed twice keeps its last id (the later line
 * overwrites the dictionary entry) while both ids decode to it.
 */
#include <string.h>

#include <json-glib/json-glib.h>

#include "vlm-device.h"
#include "loaders/vlm-json.h"
#include "vlm-wordpiece.h"

/* The multilingual BERT vocab.txt is under 1 MB. */
#define MAX_VOCAB_FILE_SIZE (64 * 1024 * 1024)
/* tokenizer_config.json and special_tokens_map.json are a few hundred bytes. */
#define MAX_CONFIG_FILE_SIZE (16 * 1024 * 1024)

#define CONTINUATION "##"

/* The special tokens, in the order of BERT's all_special_tokens. */
enum {
  SPECIAL_UNK,
  SPECIAL_SEP,
  SPECIAL_PAD,
  SPECIAL_CLS,
  SPECIAL_MASK,
  N_SPECIAL
};

static const gchar *const special_keys[N_SPECIAL] = {
  "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
};

static const gchar *const special_defaults[N_SPECIAL] = {
  "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]",
};

/* Options of tokenizer_config.json and special_tokens_map.json. */
typedef struct {
  gboolean do_lower_case;
  gint strip_accents;             /* -1: null, follow do_lower_case */
  gboolean tokenize_chinese_chars;
  gboolean clean_up_spaces;
  gchar *special[N_SPECIAL];
} Options;

struct _VlmWordpiece {
  gchar *data;                    /* vocab.txt, its lines ended in place */
  const gchar **tokens;           /* id → token, pointers into data */
  guint n_tokens;
  GHashTable *ids;                /* token → id + 1 */
  guint max_token_chars;          /* the longest token, in characters */

  gboolean do_lower_case;
  gboolean strip_accents;         /* resolved: strip or not */
  gboolean tokenize_chinese_chars;
  gboolean clean_up_spaces;
  gchar *special[N_SPECIAL];      /* the special tokens' text */
  gint32 special_id[N_SPECIAL];   /* -1 when not in the vocabulary */
};

/* ------------------------------------------------------------------------ */
/* Character classes */

/* Python's str.isspace(): bidirectional class WS, B or S, or category Zs. */
static gboolean
py_isspace (gunichar c)
{
  if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20))
    return TRUE;
  switch (c) {
    case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f:
    case 0x3000:
      return TRUE;
    default:
      return c >= 0x2000 && c <= 0x200a;
  }
}

/* BERT's whitespace: space, \t, \n, \r and category Zs. */
static gboolean
is_bert_whitespace (gunichar c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
    g_unichar_type (c) == G_UNICODE_SPACE_SEPARATOR;
}

/* BERT's control characters: category C* except \t, \n and \r. */
static gboolean
is_bert_control (gunichar c)
{
  if (c == '\t' || c == '\n' || c == '\r')
    return FALSE;
  switch (g_unichar_type (c)) {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_UNASSIGNED:
    case G_UNICODE_PRIVATE_USE:
    case G_UNICODE_SURROGATE:
      return TRUE;
    default:
      return FALSE;
  }
}

/* BERT's punctuation: every non-alphanumeric printable ASCII character
 * (symbols such as $ + < = > ^ ` | ~ included), and category P*. */
static gboolean
is_bert_punctuation (gunichar c)
{
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return TRUE;
  switch (g_unichar_type (c)) {
    case G_UNICODE_CONNECT_PUNCTUATION:
    case G_UNICODE_DASH_PUNCTUATION:
    case G_UNICODE_OPEN_PUNCTUATION:
    case G_UNICODE_CLOSE_PUNCTUATION:
    case G_UNICODE_INITIAL_PUNCTUATION:
    case G_UNICODE_FINAL_PUNCTUATION:
    case G_UNICODE_OTHER_PUNCTUATION:
      return TRUE;
    default:
      return FALSE;
  }
}

/* BERT's "Chinese characters": the CJK Unified Ideographs blocks up to
 * extension E and the two compatibility blocks. Not kana, hangul,
 * bopomofo, CJK punctuation or extension F onwards. */
static gboolean
is_cjk_ideograph (gunichar c)
{
  return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0x20000 && c <= 0x2a6df) || (c >= 0x2a700 && c <= 0x2b73f) ||
    (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b820 && c <= 0x2ceaf) ||
    (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

/* Python's str.lower() on the single character @c, written to @out;
 * returns the number of characters (1 or 2). */
static guint
lower_char (gunichar c, gunichar out[2])
{
  if (c == 0x0130) {                    /* İ: the one multi-character case */
    out[0] = 'i';
    out[1] = 0x0307;
    return 2;
  }
  if (c >= 0x2160 && c <= 0x216f)       /* Roman numerals, category Nl */
    out[0] = c + 0x10;
  else if (c >= 0x24b6 && c <= 0x24cf)  /* circled capitals, category So */
    out[0] = c + 0x1a;
  else
    out[0] = g_unichar_tolower (c);
  return 1;
}

static gboolean
is_ascii (const gchar *s, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if ((guchar) s[i] >= 0x80)
      return FALSE;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Basic tokenization */

/* Receives each word: @word is @len bytes, not NUL-terminated; @special
 * is the index of the special token the word is, or -1. */
typedef void (*WordFunc) (const VlmWordpiece *tok, const gchar *word, gsize len, gint special,
                          gpointer user_data);

/* Step 6 for one whitespace-separated word. */
static void
split_word (const VlmWordpiece *tok, const gchar *word, gsize len, WordFunc fn,
            gpointer user_data)
{
  g_autofree gchar *stripped = NULL;
  if (tok->strip_accents && !is_ascii (word, len)) {
    g_autofree gchar *nfd = g_utf8_normalize (word, len, G_NORMALIZE_NFD);
    GString *kept = g_string_sized_new (strlen (nfd));
    for (const gchar *p = nfd; *p; p = g_utf8_next_char (p))
      if (g_unichar_type (g_utf8_get_char (p)) != G_UNICODE_NON_SPACING_MARK)
        g_string_append_len (kept, p, g_utf8_next_char (p) - p);
    len = kept->len;
    word = stripped = g_string_free (kept, FALSE);
  }

  const gchar *end = word + len;
  const gchar *start = word;      /* of the pending run of non-punctuation */
  for (const gchar *p = word; p < end; p = g_utf8_next_char (p)) {
    if (!is_bert_punctuation (g_utf8_get_char (p)))
      continue;
    if (p > start)
      fn (tok, start, p - start, -1, user_data);
    const gchar *next = g_utf8_next_char (p);
    fn (tok, p, next - p, -1, user_data);
    start = next;
  }
  if (end > start)
    fn (tok, start, end - start, -1, user_data);
}

/* Steps 2 to 6 for text without special tokens (@len bytes). */
static void
basic_tokenize_plain (const VlmWordpiece *tok, const gchar *text, gsize len, WordFunc fn,
                      gpointer user_data)
{
  GString *clean = g_string_sized_new (len + 16);
  const gchar *end = text + len;
  for (const gchar *p = text; p < end; p = g_utf8_next_char (p)) {
    gunichar chars[2] = { g_utf8_get_char (p), 0 };
    guint n = tok->do_lower_case ? lower_char (chars[0], chars) : 1;
    for (guint k = 0; k < n; k++) {
      gunichar c = chars[k];
      if (c == 0 || c == 0xfffd || is_bert_control (c))
        continue;
      if (is_bert_whitespace (c)) {
        g_string_append_c (clean, ' ');
      } else if (tok->tokenize_chinese_chars && is_cjk_ideograph (c)) {
        g_string_append_c (clean, ' ');
        g_string_append_unichar (clean, c);
        g_string_append_c (clean, ' ');
      } else {
        g_string_append_unichar (clean, c);
      }
    }
  }

  g_autofree gchar *nfc = NULL;
  const gchar *s = clean->str;
  if (!is_ascii (clean->str, clean->len))
    s = nfc = g_utf8_normalize (clean->str, clean->len, G_NORMALIZE_NFC);

  /* The basic tokenizer lower-cases each word again (str.lower(), with the
   * final-sigma context this time); after step 2 nothing is left to lower
   * (lower-casing is idempotent and NFC composes lower-case letters only),
   * so that is skipped. */
  const gchar *word = NULL;
  for (const gchar *p = s;; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (c == 0 || py_isspace (c)) {
      if (word)
        split_word (tok, word, p - word, fn, user_data);
      word = NULL;
      if (c == 0)
        break;
    } else if (!word) {
      word = p;
    }
  }
  g_string_free (clean, TRUE);
}

/* The special token that starts at @p, or -1. */
static gint
special_at (const VlmWordpiece *tok, const gchar *p, const gchar *end)
{
  gint best = -1;
  gsize best_len = 0;
  for (gint k = 0; k < N_SPECIAL; k++) {
    if (tok->special_id[k] < 0)
      continue;
    gsize n = strlen (tok->special[k]);
    if (n > best_len && n <= (gsize) (end - p) && memcmp (p, tok->special[k], n) == 0) {
      best = k;
      best_len = n;
    }
  }
  return best;
}

/* Step 1, then the rest on each piece of plain text. */
static void
basic_tokenize (const VlmWordpiece *tok, const gchar *text, WordFunc fn, gpointer user_data)
{
  const gchar *end = text + strlen (text);
  const gchar *plain = text;
  for (const gchar *p = text; p < end; p++) {
    gint k = special_at (tok, p, end);
    if (k < 0)
      continue;
    if (p > plain)
      basic_tokenize_plain (tok, plain, p - plain, fn, user_data);
    gsize n = strlen (tok->special[k]);
    fn (tok, p, n, k, user_data);
    p += n - 1;
    plain = p + 1;
  }
  if (end > plain)
    basic_tokenize_plain (tok, plain, end - plain, fn, user_data);
}

static gboolean
check_utf8 (const gchar *text, GError **error)
{
  const gchar *bad;
  if (g_utf8_validate (text, -1, &bad))
    return TRUE;
  g_set_error (error, VLM_ERROR, VLM_ERROR_INVALID_ARGUMENT,
               "text: not valid UTF-8 (byte 0x%02x at offset %" G_GSIZE_FORMAT ")",
               (guint) (guchar) *bad, (gsize) (bad - text));
  return FALSE;
}

static void
collect_word (const VlmWordpiece *tok, const gchar *word, gsize len, gint special,
              gpointer user_data)
{
  g_ptr_array_add (user_data, g_strndup (word, len));
}

/**
 * vlm_wordpiece_basic_tokenize:
 * @tok: a tokenizer
 * @text: UTF-8 text
 * @error: return location for a #GError
 *
 * The words of @text before WordPiece: special tokens cut out, lower-cased
 * (when the tokenizer does), cleaned, CJK ideographs apart, accents
 * stripped, split on whitespace and punctuation — what Hugging Face's
 * BasicTokenizer gives.
 *
 * Returns: (transfer full) (nullable): a %NULL-terminated array of words
 *   (empty when @text has none), or %NULL with @error set
 *   (%VLM_ERROR_INVALID_ARGUMENT) when @text is not UTF-8.
 */
GStrv
vlm_wordpiece_basic_tokenize (const VlmWordpiece *tok, const gchar *text, GError **error)
{
  g_return_val_if_fail (tok != NULL, NULL);
  g_return_val_if_fail (text != NULL, NULL);
  if (!check_utf8 (text, error))
    return NULL;
  GPtrArray *words = g_ptr_array_new ();
  basic_tokenize (tok, text, collect_word, words);
  g_ptr_array_add (words, NULL);
  return (GStrv) g_ptr_array_free (words, FALSE);
}

/* ------------------------------------------------------------------------ */
/* WordPiece */

static gboolean
lookup (const VlmWordpiece *tok, const gchar *token, gint32 *id)
{
  gpointer value = g_hash_table_lookup (tok->ids, token);
  if (!value)
    return FALSE;
  *id = GPOINTER_TO_INT (value) - 1;
  return TRUE;
}

/* Step 7: appends the ids of @word (@len bytes of UTF-8, no whitespace). */
static void
wordpiece_word (const VlmWordpiece *tok, const gchar *word, gsize len, gint special,
                gpointer user_data)
{
  GArray *ids = user_data;
  gint32 unk = tok->special_id[SPECIAL_UNK];
  if (special >= 0) {
    g_array_append_val (ids, tok->special_id[special]);
    return;
  }

  /* Byte offset of each character, and of the end. */
  gsize offset[VLM_WORDPIECE_MAX_WORD_CHARS + 1];
  guint n = 0;
  for (const gchar *p = word; p < word + len; p = g_utf8_next_char (p)) {
    if (n == VLM_WORDPIECE_MAX_WORD_CHARS) {
      g_array_append_val (ids, unk);
      return;
    }
    offset[n++] = p - word;
  }
  offset[n] = len;

  /* "##" + the longest candidate + NUL. */
  gchar buf[sizeof CONTINUATION + 4 * VLM_WORDPIECE_MAX_WORD_CHARS];
  memcpy (buf, CONTINUATION, 2);
  guint first = ids->len;
  for (guint start = 0; start < n;) {
    guint end = MIN (n, start + tok->max_token_chars);
    gint32 id = -1;
    for (; end > start; end--) {
      gsize bytes = offset[end] - offset[start];
      memcpy (buf + 2, word + offset[start], bytes);
      buf[2 + bytes] = '\0';
      if (lookup (tok, start > 0 ? buf : buf + 2, &id))
        break;
    }
    if (end == start) {
      g_array_set_size (ids, first);
      g_array_append_val (ids, unk);
      return;
    }
    g_array_append_val (ids, id);
    start = end;
  }
}

/**
 * vlm_wordpiece_encode:
 * @tok: a tokenizer
 * @text: UTF-8 text
 * @ids_out: (out) (transfer full): where to store a new #GArray of #gint32
 * @error: return location for a #GError
 *
 * Token ids of @text, without special tokens added (GIT's VQA prompt is
 * [CLS] followed by the question's ids, with no [SEP]). Special tokens
 * written in @text ("[SEP]") do come out as their ids, as in Hugging Face.
 * There is no length limit: the caller truncates.
 *
 * Returns: %TRUE with *@ids_out set (possibly to an empty array), or
 *   %FALSE with @error set (%VLM_ERROR_INVALID_ARGUMENT) when @text is not
 *   UTF-8.
 */
gboolean
vlm_wordpiece_encode (const VlmWordpiece *tok, const gchar *text, GArray **ids_out,
                      GError **error)
{
  g_return_val_if_fail (tok != NULL, FALSE);
  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (ids_out != NULL, FALSE);
  *ids_out = NULL;
  if (!check_utf8 (text, error))
    return FALSE;
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  basic_tokenize (tok, text, wordpiece_word, ids);
  *ids_out = ids;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Decoding */

/* Python's s.replace (@from, @to): every non-overlapping occurrence, left
 * to right. */
static void
replace_all (GString *s, const gchar *from, const gchar *to)
{
  gsize from_len = strlen (from), to_len = strlen (to);
  /* In place: the replacements are never longer than what they replace. */
  g_assert (to_len <= from_len);
  gsize w = 0;
  for (gsize r = 0; r < s->len;) {
    if (s->str[r] == from[0] && r + from_len <= s->len &&
        memcmp (s->str + r, from, from_len) == 0) {
      memcpy (s->str + w, to, to_len);
      w += to_len;
      r += from_len;
    } else {
      s->str[w++] = s->str[r++];
    }
  }
  g_string_truncate (s, w);
}

static gboolean
is_special_id (const VlmWordpiece *tok, gint32 id)
{
  for (gint k = 0; k < N_SPECIAL; k++)
    if (tok->special_id[k] >= 0 && tok->special_id[k] == id)
      return TRUE;
  return FALSE;
}

/**
 * vlm_wordpiece_decode:
 * @tok: a tokenizer
 * @ids: (array length=n): token ids
 * @n: the number of ids
 * @skip_special: leave out the special tokens ([CLS], [SEP], [PAD], [MASK]
 *   and [UNK])
 *
 * Text of @ids as Hugging Face's decode() gives it: tokens joined with
 * spaces, "##" continuations glued to the piece before, no space before
 * . , ! ? and the contractions n't 'm 's 've 're (unless
 * tokenizer_config.json sets clean_up_tokenization_spaces to false). Ids
 * outside the vocabulary read "[UNK]" and are not skipped. The text is
 * lower-case for an uncased vocabulary and accents are gone: decoding does
 * not give back the original text.
 *
 * Returns: (transfer full): the text, "" when nothing is left.
 */
gchar *
vlm_wordpiece_decode (const VlmWordpiece *tok, const gint32 *ids, gint n, gboolean skip_special)
{
  g_return_val_if_fail (tok != NULL, NULL);
  g_return_val_if_fail (n >= 0, NULL);
  g_return_val_if_fail (n == 0 || ids != NULL, NULL);
  GString *s = g_string_new (NULL);
  gboolean first = TRUE;
  for (gint i = 0; i < n; i++) {
    gint32 id = ids[i];
    if (skip_special && is_special_id (tok, id))
      continue;
    const gchar *token = id >= 0 && (guint) id < tok->n_tokens ? tok->tokens[id]
      : tok->special[SPECIAL_UNK];
    if (!first)
      g_string_append_c (s, ' ');
    g_string_append (s, token);
    first = FALSE;
  }
  replace_all (s, " " CONTINUATION, "");

  /* str.strip() */
  const gchar *start = s->str;
  while (*start && py_isspace (g_utf8_get_char (start)))
    start = g_utf8_next_char (start);
  gsize end = s->len;
  while (end > (gsize) (start - s->str)) {
    const gchar *last = g_utf8_find_prev_char (s->str, s->str + end);
    if (!py_isspace (g_utf8_get_char (last)))
      break;
    end = last - s->str;
  }
  g_string_truncate (s, end);
  g_string_erase (s, 0, start - s->str);

  if (tok->clean_up_spaces) {
    static const gchar *const rules[][2] = {
      { " .", "." }, { " ?", "?" }, { " !", "!" }, { " ,", "," }, { " ' ", "'" },
      { " n't", "n't" }, { " 'm", "'m" }, { " 's", "'s" }, { " 've", "'ve" },
      { " 're", "'re" },
    };
    for (guint r = 0; r < G_N_ELEMENTS (rules); r++)
      replace_all (s, rules[r][0], rules[r][1]);
  }
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Loading */

static void
options_clear (Options *opt)
{
  for (gint k = 0; k < N_SPECIAL; k++)
    g_clear_pointer (&opt->special[k], g_free);
}

/* A boolean member of @object into @value; null or absent leaves it. */
static gboolean
config_bool (JsonObject *object, const gchar *name, const gchar *path, gint *value,
             GError **error)
{
  JsonNode *node = json_object_get_member (object, name);
  if (!node || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: \"%s\" is not true, false or null",
                 path, name);
    return FALSE;
  }
  *value = json_node_get_boolean (node);
  return TRUE;
}

/* The special tokens of @object: a string, or an AddedToken object with
 * its "content"; null or absent leaves the current one. */
static gboolean
config_special_tokens (JsonObject *object, const gchar *path, Options *opt, GError **error)
{
  for (gint k = 0; k < N_SPECIAL; k++) {
    JsonNode *node = json_object_get_member (object, special_keys[k]);
    if (!node || JSON_NODE_HOLDS_NULL (node))
      continue;
    if (JSON_NODE_HOLDS_OBJECT (node))
      node = json_object_get_member (json_node_get_object (node), "content");
    if (!node || !JSON_NODE_HOLDS_VALUE (node) ||
        json_node_get_value_type (node) != G_TYPE_STRING) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                   "%s: \"%s\" is neither a string nor an object with a \"content\" string",
                   path, special_keys[k]);
      return FALSE;
    }
    const gchar *text = json_node_get_string (node);
    if (*text == '\0') {
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: \"%s\" is empty", path,
                   special_keys[k]);
      return FALSE;
    }
    g_free (opt->special[k]);
    opt->special[k] = g_strdup (text);
  }
  return TRUE;
}

/* Reads @path (tokenizer_config.json or special_tokens_map.json) when it
 * exists. */
static gboolean
read_config (const gchar *path, gboolean full, Options *opt, GError **error)
{
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;
  g_autoptr(GError) json_error = NULL;
  g_autofree gchar *data = NULL;
  gsize len;
  if (!vlm_file_read_bounded (path, MAX_CONFIG_FILE_SIZE, &data, &len, error))
    return FALSE;
  g_autoptr(JsonNode) root = vlm_json_parse (data, len, &json_error);
  if (!root) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: not valid JSON: %s", path,
                 json_error->message);
    return FALSE;
  }
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: expected a JSON object", path);
    return FALSE;
  }
  JsonObject *object = json_node_get_object (root);
  if (full) {
    gint basic = TRUE;
    if (!config_bool (object, "do_lower_case", path, &opt->do_lower_case, error) ||
        !config_bool (object, "strip_accents", path, &opt->strip_accents, error) ||
        !config_bool (object, "tokenize_chinese_chars", path, &opt->tokenize_chinese_chars,
                      error) ||
        !config_bool (object, "clean_up_tokenization_spaces", path, &opt->clean_up_spaces,
                      error) ||
        !config_bool (object, "do_basic_tokenize", path, &basic, error))
      return FALSE;
    if (!basic) {
      g_set_error (error, VLM_ERROR, VLM_ERROR_UNSUPPORTED,
                   "%s: \"do_basic_tokenize\": false is not supported (WordPiece on "
                   "whitespace-separated words only)", path);
      return FALSE;
    }
  }
  return config_special_tokens (object, path, opt, error);
}

/* Splits @data (@len bytes) into lines in place, like Python's universal
 * newlines; a final line ending adds no empty line. */
static GPtrArray *
split_lines (gchar *data, gsize len)
{
  GPtrArray *lines = g_ptr_array_new ();
  gchar *end = data + len;
  gchar *line = data;
  for (gchar *p = data; p < end; p++) {
    if (*p != '\n' && *p != '\r')
      continue;
    gboolean crlf = *p == '\r' && p + 1 < end && p[1] == '\n';
    *p = '\0';
    g_ptr_array_add (lines, line);
    if (crlf)
      p++;
    line = p + 1;
  }
  if (line < end)
    g_ptr_array_add (lines, line);
  return lines;
}

/* Builds the tokenizer from vocab.txt at @path and the options. */
static VlmWordpiece *
load_vocab (const gchar *path, Options *opt, GError **error)
{
  g_autofree gchar *data = NULL;
  gsize len;
  if (!vlm_file_read_bounded (path, MAX_VOCAB_FILE_SIZE, &data, &len, error))
    return NULL;
  if (len == 0) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: empty file, not a vocabulary", path);
    return NULL;
  }
  const gchar *bad;
  if (!g_utf8_validate_len (data, len, &bad)) {
    guint line = 1;
    for (const gchar *p = data; p < bad; p++)
      line += *p == '\n';
    if (*bad == '\0')
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                   "%s: line %u: binary data (a NUL byte), not a vocabulary", path, line);
    else
      g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                   "%s: line %u: not UTF-8 text (byte 0x%02x at offset %" G_GSIZE_FORMAT ")",
                   path, line, (guint) (guchar) *bad, (gsize) (bad - data));
    return NULL;
  }

  g_autoptr(VlmWordpiece) tok = g_new0 (VlmWordpiece, 1);
  tok->data = g_steal_pointer (&data);
  g_autoptr(GPtrArray) lines = split_lines (tok->data, len);
  if (lines->len >= G_MAXINT32) {
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT, "%s: too many lines", path);
    return NULL;
  }
  tok->n_tokens = lines->len;
  tok->tokens = (const gchar **) g_ptr_array_free (g_steal_pointer (&lines), FALSE);
  tok->ids = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < tok->n_tokens; i++) {
    /* A repeated token takes the id of its last line. */
    g_hash_table_insert (tok->ids, (gpointer) tok->tokens[i], GINT_TO_POINTER (i + 1));
    tok->max_token_chars = MAX (tok->max_token_chars,
                                (guint) g_utf8_strlen (tok->tokens[i], -1));
  }

  tok->do_lower_case = opt->do_lower_case;
  tok->strip_accents = opt->do_lower_case ? opt->strip_accents != FALSE
    : opt->strip_accents == TRUE;
  tok->tokenize_chinese_chars = opt->tokenize_chinese_chars;
  tok->clean_up_spaces = opt->clean_up_spaces;
  for (gint k = 0; k < N_SPECIAL; k++) {
    tok->special[k] = g_strdup (opt->special[k] ? opt->special[k] : special_defaults[k]);
    if (!lookup (tok, tok->special[k], &tok->special_id[k]))
      tok->special_id[k] = -1;
  }
  for (gint k = 0; k < N_SPECIAL; k++) {
    if (k == SPECIAL_MASK || tok->special_id[k] >= 0)
      continue;
    gboolean bom = g_str_has_prefix (tok->data, "\xef\xbb\xbf");
    g_set_error (error, VLM_ERROR, VLM_ERROR_FORMAT,
                 "%s: the special token %s (%s) is not in the vocabulary%s", path,
                 tok->special[k], special_keys[k],
                 bom ? " (the file starts with a byte-order mark, which is part of the first "
                 "token)" : "");
    return NULL;
  }
  return g_steal_pointer (&tok);
}

static void
options_init (Options *opt)
{
  *opt = (Options) { TRUE, -1, TRUE, TRUE, { NULL } };
}

/**
 * vlm_wordpiece_new_from_dir:
 * @dir: a Hugging Face model folder
 * @error: return location for a #GError
 *
 * Loads @dir/vocab.txt, with the options of @dir/tokenizer_config.json when
 * it exists: "do_lower_case" (default true), "strip_accents" (null: same as
 * do_lower_case), "tokenize_chinese_chars" (true),
 * "clean_up_tokenization_spaces" (true) and the special tokens
 * ("unk_token" …, default "[UNK]" …), which @dir/special_tokens_map.json
 * overrides when it exists. "do_basic_tokenize": false is refused.
 *
 * Returns: (transfer full) (nullable): the tokenizer, or %NULL with @error
 *   set: %VLM_ERROR_FILE when vocab.txt is missing or a file unreadable,
 *   %VLM_ERROR_FORMAT when a file's content is not valid (empty, not UTF-8,
 *   [UNK], [SEP], [PAD] or [CLS] missing, bad JSON), %VLM_ERROR_UNSUPPORTED
 *   for options not implemented.
 */
VlmWordpiece *
vlm_wordpiece_new_from_dir (const gchar *dir, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  g_autofree gchar *vocab_path = g_build_filename (dir, "vocab.txt", NULL);
  g_autofree gchar *config_path = g_build_filename (dir, "tokenizer_config.json", NULL);
  g_autofree gchar *map_path = g_build_filename (dir, "special_tokens_map.json", NULL);
  Options opt;
  options_init (&opt);
  VlmWordpiece *tok = NULL;
  if (read_config (config_path, TRUE, &opt, error) && read_config (map_path, FALSE, &opt, error))
    tok = load_vocab (vocab_path, &opt, error);
  options_clear (&opt);
  return tok;
}

/**
 * vlm_wordpiece_new_from_file:
 * @vocab_path: a BERT vocab.txt
 * @error: return location for a #GError
 *
 * Loads @vocab_path with BERT uncased's options: lower-casing, accents
 * stripped, CJK ideographs apart, special tokens [UNK] [SEP] [PAD] [CLS]
 * [MASK]. No configuration file is read.
 *
 * Returns: (transfer full) (nullable): the tokenizer, or %NULL with @error
 *   set as for vlm_wordpiece_new_from_dir().
 */
VlmWordpiece *
vlm_wordpiece_new_from_file (const gchar *vocab_path, GError **error)
{
  g_return_val_if_fail (vocab_path != NULL, NULL);
  Options opt;
  options_init (&opt);
  return load_vocab (vocab_path, &opt, error);
}

/**
 * vlm_wordpiece_free:
 * @tok: (nullable): a tokenizer
 *
 * Frees @tok. No encode or decode may be running on it.
 */
void
vlm_wordpiece_free (VlmWordpiece *tok)
{
  if (!tok)
    return;
  if (tok->ids)
    g_hash_table_unref (tok->ids);
  g_free (tok->tokens);
  g_free (tok->data);
  for (gint k = 0; k < N_SPECIAL; k++)
    g_free (tok->special[k]);
  g_free (tok);
}

/* ------------------------------------------------------------------------ */
/* Getters */

/**
 * vlm_wordpiece_get_vocab_size:
 * @tok: a tokenizer
 *
 * Returns: the number of ids, that is of lines of vocab.txt (30 522 for
 *   BERT uncased): the rows of the word embedding. Hugging Face's
 *   vocab_size counts distinct tokens, fewer when vocab.txt repeats one.
 */
guint
vlm_wordpiece_get_vocab_size (const VlmWordpiece *tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->n_tokens;
}

/**
 * vlm_wordpiece_get_cls_id:
 * @tok: a tokenizer
 *
 * Returns: the id of [CLS] (101 in BERT), which starts GIT's generation.
 */
gint32
vlm_wordpiece_get_cls_id (const VlmWordpiece *tok)
{
  g_return_val_if_fail (tok != NULL, -1);
  return tok->special_id[SPECIAL_CLS];
}

/**
 * vlm_wordpiece_get_sep_id:
 * @tok: a tokenizer
 *
 * Returns: the id of [SEP] (102 in BERT), which ends GIT's generation.
 */
gint32
vlm_wordpiece_get_sep_id (const VlmWordpiece *tok)
{
  g_return_val_if_fail (tok != NULL, -1);
  return tok->special_id[SPECIAL_SEP];
}

/**
 * vlm_wordpiece_get_pad_id:
 * @tok: a tokenizer
 *
 * Returns: the id of [PAD] (0 in BERT).
 */
gint32
vlm_wordpiece_get_pad_id (const VlmWordpiece *tok)
{
  g_return_val_if_fail (tok != NULL, -1);
  return tok->special_id[SPECIAL_PAD];
}

/**
 * vlm_wordpiece_get_unk_id:
 * @tok: a tokenizer
 *
 * Returns: the id of [UNK] (100 in BERT).
 */
gint32
vlm_wordpiece_get_unk_id (const VlmWordpiece *tok)
{
  g_return_val_if_fail (tok != NULL, -1);
  return tok->special_id[SPECIAL_UNK];
}

/**
 * vlm_wordpiece_get_mask_id:
 * @tok: a tokenizer
 *
 * Returns: the id of [MASK] (103 in BERT), or -1 when the vocabulary has
 *   none.
 */
gint32
vlm_wordpiece_get_mask_id (const VlmWordpiece *tok)
{
  g_return_val_if_fail (tok != NULL, -1);
  return tok->special_id[SPECIAL_MASK];
}

/**
 * vlm_wordpiece_get_do_lower_case:
 * @tok: a tokenizer
 *
 * Returns: whether @tok lower-cases its input (tokenizer_config.json's
 *   "do_lower_case", true by default).
 */
gboolean
vlm_wordpiece_get_do_lower_case (const VlmWordpiece *tok)
{
  g_return_val_if_fail (tok != NULL, FALSE);
  return tok->do_lower_case;
}

/**
 * vlm_wordpiece_id_to_token:
 * @tok: a tokenizer
 * @id: a token id
 *
 * Returns: (transfer none) (nullable): the token of @id (line @id of
 *   vocab.txt, "##" included for continuations), or %NULL when @id is
 *   outside the vocabulary.
 */
const gchar *
vlm_wordpiece_id_to_token (const VlmWordpiece *tok, gint32 id)
{
  g_return_val_if_fail (tok != NULL, NULL);
  if (id < 0 || (guint) id >= tok->n_tokens)
    return NULL;
  return tok->tokens[id];
}

/**
 * vlm_wordpiece_token_to_id:
 * @tok: a tokenizer
 * @token: a token, as written in vocab.txt
 *
 * Returns: the id of @token (its last line when vocab.txt repeats it), or
 *   -1 when it is not in the vocabulary.
 */
gint32
vlm_wordpiece_token_to_id (const VlmWordpiece *tok, const gchar *token)
{
  g_return_val_if_fail (tok != NULL, -1);
  g_return_val_if_fail (token != NULL, -1);
  gint32 id;
  return lookup (tok, token, &id) ? id : -1;
}
