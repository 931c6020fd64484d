#include "server/structured_request.h"

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;
using Kind = grammar::StructuredOutputSpec::Kind;

std::optional<ApiError> Set(std::optional<StructuredRequest>* out, Kind kind, std::string text,
                            std::vector<std::string> choices, std::string field) {
  if (out->has_value()) {
    return BadRequest("only one structured output constraint may be given: '" + (*out)->field + "' and '" + field + "'",
                      field);
  }
  StructuredRequest r;
  r.spec.kind = kind;
  r.spec.text = std::move(text);
  r.spec.choices = std::move(choices);
  r.field = std::move(field);
  *out = std::move(r);
  return std::nullopt;
}

std::optional<ApiError> Schema(const Json& v, const std::string& field, std::optional<StructuredRequest>* out) {
  if (v.is_string()) {  // vLLM accepts the schema as JSON text too
    Json parsed;
    try {
      parsed = Json::parse(v.get<std::string>());
    } catch (const std::exception&) {
      return BadRequest("'" + field + "' is not valid JSON", field);
    }
    return Set(out, Kind::kJsonSchema, parsed.dump(), {}, field);
  }
  if (!v.is_object() && !v.is_boolean()) return BadRequest("'" + field + "' must be a JSON schema (an object)", field);
  return Set(out, Kind::kJsonSchema, v.dump(), {}, field);
}

std::optional<ApiError> Choices(const Json& v, const std::string& field, std::optional<StructuredRequest>* out) {
  if (!v.is_array() || v.empty()) return BadRequest("'" + field + "' must be a non-empty array of strings", field);
  std::vector<std::string> c;
  for (const Json& x : v) {
    if (!x.is_string()) return BadRequest("'" + field + "' must be a non-empty array of strings", field);
    c.push_back(x.get<std::string>());
  }
  return Set(out, Kind::kChoice, "", std::move(c), field);
}

std::optional<ApiError> Gbnf(const Json& v, const std::string& field, std::optional<StructuredRequest>* out) {
  if (!v.is_string()) return BadRequest("'" + field + "' must be a string (a GBNF grammar)", field);
  return Set(out, Kind::kGrammar, v.get<std::string>(), {}, field);
}

std::optional<ApiError> Regex(const Json& v, const std::string& field, std::optional<StructuredRequest>* out) {
  if (!v.is_string()) return BadRequest("'" + field + "' must be a string", field);
  return Set(out, Kind::kRegex, v.get<std::string>(), {}, field);
}

const Json* Get(const Json& o, const char* k) {
  auto it = o.find(k);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace

std::optional<ApiError> ParseStructuredRequest(const Json& body, std::optional<StructuredRequest>* out) {
  if (const Json* rf = Get(body, "response_format")) {
    if (!rf->is_object() || !rf->contains("type") || !(*rf)["type"].is_string()) {
      return BadRequest("'response_format' must be an object with a 'type'", "response_format");
    }
    const std::string type = (*rf)["type"].get<std::string>();
    if (type == "json_object") {
      if (auto e = Set(out, Kind::kJsonObject, "", {}, "response_format")) return e;
    } else if (type == "json_schema") {
      const Json* js = Get(*rf, "json_schema");
      if (!js || !js->is_object()) return BadRequest("'response_format.json_schema' must be an object", "response_format.json_schema");
      const Json* schema = Get(*js, "schema");
      if (!schema) return BadRequest("'response_format.json_schema.schema' is required", "response_format.json_schema.schema");
      if (const Json* strict = Get(*js, "strict"); strict && !strict->is_boolean()) {
        return BadRequest("'response_format.json_schema.strict' must be a boolean", "response_format.json_schema.strict");
      }
      // strict false or true: weft always enforces the schema (never less than asked).
      if (auto e = Schema(*schema, "response_format.json_schema.schema", out)) return e;
    } else if (type != "text") {
      return BadRequest("'response_format.type' must be text, json_object or json_schema: got '" + type + "'",
                        "response_format.type");
    }
  }
  if (const Json* v = Get(body, "guided_json")) if (auto e = Schema(*v, "guided_json", out)) return e;
  if (const Json* v = Get(body, "guided_regex")) if (auto e = Regex(*v, "guided_regex", out)) return e;
  if (const Json* v = Get(body, "guided_choice")) if (auto e = Choices(*v, "guided_choice", out)) return e;
  if (const Json* v = Get(body, "guided_grammar")) if (auto e = Gbnf(*v, "guided_grammar", out)) return e;
  if (const Json* so = Get(body, "structured_outputs")) {
    if (!so->is_object()) return BadRequest("'structured_outputs' must be an object", "structured_outputs");
    for (const auto& [k, v] : so->items()) {
      if (v.is_null()) continue;
      const std::string f = "structured_outputs." + k;
      if (k == "json") { if (auto e = Schema(v, f, out)) return e; }
      else if (k == "regex") { if (auto e = Regex(v, f, out)) return e; }
      else if (k == "choice") { if (auto e = Choices(v, f, out)) return e; }
      else if (k == "grammar") { if (auto e = Gbnf(v, f, out)) return e; }
      else if (k == "json_object") {
        if (!v.is_boolean()) return BadRequest("'" + f + "' must be a boolean", f);
        if (v.get<bool>()) if (auto e = Set(out, Kind::kJsonObject, "", {}, f)) return e;
      } else if (k == "disable_fallback" || k == "disable_any_whitespace" || k == "disable_additional_properties") {
        // Whitespace is never generated and fallback never happens: these ask for what weft does anyway,
        // except disable_additional_properties, which would change the language.
        if (k == "disable_additional_properties" && v.is_boolean() && v.get<bool>()) {
          return BadRequest("'" + f + "' is not supported (set additionalProperties: false in the schema)", f);
        }
      } else {
        return BadRequest("'" + f + "' is not supported (structural_tag: not implemented)", f);
      }
    }
  }
  return std::nullopt;
}

}  // namespace weft::server
