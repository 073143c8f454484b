/* json_schema: OpenAI `response_format` and JSON Schemas -> GBNF grammars (engine/grammar.h),
 * and a validator that checks a JSON text against a schema.
 *
 * Supported (the subset OpenAI structured outputs use; docs/constrained.md has the table):
 *   type (one or a list), const, enum; objects: properties (emitted in the order given),
 *   required, additionalProperties (false, true or a schema; see below); arrays: items,
 *   minItems, maxItems; strings: minLength, maxLength, pattern (a regular-expression subset),
 *   format date, time, date-time, uuid; numbers and integers: minimum, maximum,
 *   exclusiveMinimum, exclusiveMaximum; booleans; null; anyOf; oneOf (when its branches cannot
 *   match the same value); allOf with one branch; $ref to "#", "#/$defs/...",
 *   "#/definitions/..." or any local JSON pointer, recursion included; true / {} (any value).
 * Refused with a message naming the keyword and where it is ("schema.properties.tags:
 * uniqueItems is not supported"): not, if/then/else, patternProperties, propertyNames,
 * dependentRequired, dependentSchemas, minProperties, maxProperties, uniqueItems, contains,
 * prefixItems, multipleOf, remote $refs, other formats, lookarounds and backreferences in
 * patterns. Keywords JSON Schema calls annotations (title, description, default, examples ...)
 * and unknown keywords are ignored, as the specification says.
 *
 * The grammar accepts a subset of what the schema allows, never more, so every output it lets
 * through validates: objects carry exactly the declared properties (optional ones may be left
 * out; extra properties only where no properties are declared), in declaration order; numbers
 * have at most 15 integer digits, 15 fraction digits and a 2-digit exponent (so they round-trip
 * through int64 and double), and no exponent when bounded; whitespace between tokens is
 * nothing, one space, or a line break and up to 16 spaces; strings never contain lone surrogate
 * escapes; format "date" stops February at the 28th.
 */
#ifndef BATON_ENGINE_JSON_SCHEMA_H
#define BATON_ENGINE_JSON_SCHEMA_H

#include "base/buf.h"
#include "base/err.h"

#include <jansson.h>

/* The grammar for an OpenAI response_format object:
 *   {"type": "text"}                                        -> *gbnf = NULL (no constraint)
 *   {"type": "json_object"}                                 -> any JSON object
 *   {"type": "json_schema", "json_schema": {"schema": S, "name": ..., "strict": ...}}
 *                                                           -> the grammar of S
 * On success *gbnf (caller frees) is GBNF text whose start rule is "root", or NULL. Fails with a
 * message fit for an HTTP 400 answer ("response_format.json_schema.schema.properties.age:
 * multipleOf is not supported"). */
int json_schema_response_format(const json_t *response_format, char **gbnf, struct err *e);

/* The grammar of schema, start rule "root". *gbnf: caller frees. */
int json_schema_to_grammar(const json_t *schema, char **gbnf, struct err *e);

/* Appends to out the rules defining rule `name` as the JSON values valid under schema (helper
 * rules are named name-...), for grammars that embed JSON values (tool-call arguments). $refs
 * resolve against schema itself. */
int json_schema_rules(const json_t *schema, const char *name, struct buf *out, struct err *e);

/* The rules of an unconstrained JSON object, defining rule `name` (helpers name-...). */
void json_schema_any_object_rules(const char *name, struct buf *out);

/* Checks json_text[0..len) is one JSON value (surrounding whitespace allowed) that validates
 * against schema, with full JSON Schema semantics for the supported keywords (oneOf: exactly
 * one branch). Fails naming the path and the rule ("$.items[2].age: 150 is above the maximum
 * 120"), or the parse error ("not JSON: ... at line 1, column 7"). schema NULL: only parse. */
int json_schema_validate(const json_t *schema, const char *json_text, size_t len, struct err *e);

#endif
