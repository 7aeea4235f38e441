/* escape: strings from guests and peers, made safe to show.
 *
 * appfwctl prints the strings in secd's answers: many of them come from
 * guests (application paths, user names, command lines, host names from
 * the naming service) and reach an administrator's terminal, a
 * spreadsheet or another program.  appfw-agent writes denials and the
 * host's notices, with the host's and the guest's strings in them, to a
 * user's terminals and the guest's syslog.  The rules:
 *
 *   - text (tables and messages): every C0 control and DEL as C-style
 *     "\n", "\t", "\r" or "\xNN"; a backslash as "\\"; the C1 controls
 *     U+0080..U+009F, the bidirectional controls (U+061C, U+200E, U+200F,
 *     U+202A..U+202E, U+2066..U+2069) and the line and paragraph
 *     separators U+2028, U+2029 as "\u{XXXX}"; a byte that is not valid
 *     UTF-8 as "\xNN".  Other UTF-8 passes unchanged.
 *   - JSON (--json): json-c already writes C0 controls as \u00XX; DEL and
 *     the code points above become \uXXXX too, and bytes that are not
 *     valid UTF-8 become \ufffd, so the output stays valid JSON with the
 *     same meaning and no terminal control sequence.
 *   - CSV cells: a cell that begins with '=', '+', '-' or '@' (what a
 *     spreadsheet takes for a formula), or a tab or carriage return, gets
 *     a single quote in front (OWASP's rule), and every cell is quoted,
 *     its quotes doubled.
 *
 * Pure functions: no I/O. */
#ifndef APPFW_ESCAPE_H
#define APPFW_ESCAPE_H 1

#include <stdbool.h>

struct json_object;

/* 's' escaped for a terminal (the text rule above), malloc'd.  With
 * 'keep_lines', newlines and tabs stay as they are (for multi-line
 * documents such as a policy's text). */
char *escape_text(const char *s, bool keep_lines);

/* A deep copy of 'o' whose strings (values and keys) are escape_text()ed;
 * the caller owns it.  NULL for NULL. */
struct json_object *escape_json_tree(struct json_object *o);

/* JSON text 'json' (as json-c writes it) with the code points above
 * escaped, malloc'd. */
char *escape_json_text(const char *json);

/* 's' as one quoted CSV cell (RFC 4180), neutralised if it would be a
 * formula, malloc'd. */
char *escape_csv_cell(const char *s);

#endif /* escape.h */
