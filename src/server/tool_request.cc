#include "server/tool_request.h"

#include <algorithm>

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;

const Json* Get(const Json& o, const char* k) {
  auto it = o.find(k);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}

// OpenAI's rule for function names: a-z, A-Z, 0-9, underscores and dashes, at most 64.
bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::optional<ApiError> ParseTools(const Json& tools, ToolRequest* out) {
  if (!tools.is_array()) return BadRequest("'tools' must be an array", "tools");
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string f = "tools[" + std::to_string(i) + "]";
    const Json& t = tools[i];
    if (!t.is_object()) return BadRequest("'" + f + "' must be an object", f);
    const Json* type = Get(t, "type");
    if (!type || !type->is_string() || type->get<std::string>() != "function") {
      return BadRequest("'" + f + ".type' must be \"function\" (the only tool type weft supports)", f + ".type");
    }
    const Json* fn = Get(t, "function");
    if (!fn || !fn->is_object()) return BadRequest("'" + f + ".function' must be an object", f + ".function");
    const Json* name = Get(*fn, "name");
    if (!name || !name->is_string() || !ValidName(name->get<std::string>())) {
      return BadRequest("'" + f + ".function.name' must be 1 to 64 of a-z, A-Z, 0-9, _ and -", f + ".function.name");
    }
    if (std::find(out->names.begin(), out->names.end(), name->get<std::string>()) != out->names.end()) {
      return BadRequest("'" + f + ".function.name': two tools are named '" + name->get<std::string>() + "'",
                        f + ".function.name");
    }
    if (const Json* d = Get(*fn, "description"); d && !d->is_string()) {
      return BadRequest("'" + f + ".function.description' must be a string", f + ".function.description");
    }
    if (const Json* p = Get(*fn, "parameters"); p && !p->is_object()) {
      return BadRequest("'" + f + ".function.parameters' must be a JSON schema object", f + ".function.parameters");
    }
    if (const Json* s = Get(*fn, "strict"); s && !s->is_boolean()) {
      return BadRequest("'" + f + ".function.strict' must be a boolean", f + ".function.strict");
    }
    out->names.push_back(name->get<std::string>());
  }
  out->tools = tools;
  return std::nullopt;
}

std::optional<ApiError> ParseChoice(const Json& c, ToolRequest* out) {
  const bool have_tools = !out->names.empty();
  if (c.is_string()) {
    const std::string s = c.get<std::string>();
    if (s == "none") {
      out->choice = ToolRequest::Choice::kNone;
      return std::nullopt;
    }
    if (s != "auto" && s != "required") {
      return BadRequest("'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": "
                        "{\"name\": ...}}: got '" + s + "'", "tool_choice");
    }
    if (!have_tools) return BadRequest("'tool_choice' " + s + " needs 'tools'", "tool_choice");
    out->choice = s == "auto" ? ToolRequest::Choice::kAuto : ToolRequest::Choice::kRequired;
    return std::nullopt;
  }
  const Json* fn = c.is_object() ? Get(c, "function") : nullptr;
  const Json* type = c.is_object() ? Get(c, "type") : nullptr;
  const Json* name = fn && fn->is_object() ? Get(*fn, "name") : nullptr;
  if (!type || !type->is_string() || type->get<std::string>() != "function" || !name || !name->is_string()) {
    return BadRequest("'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": "
                      "{\"name\": ...}}", "tool_choice");
  }
  const std::string n = name->get<std::string>();
  if (std::find(out->names.begin(), out->names.end(), n) == out->names.end()) {
    return BadRequest("'tool_choice.function.name': no tool is named '" + n + "'", "tool_choice.function.name");
  }
  out->choice = ToolRequest::Choice::kNamed;
  out->named = n;
  return std::nullopt;
}

// Points the schema's local $refs ("#...") at `base` (where the schema now sits).
void RebaseRefs(Json* j, const std::string& base) {
  if (j->is_object()) {
    for (auto& [k, v] : j->items()) {
      if (k == "$ref" && v.is_string()) {
        const std::string r = v.get<std::string>();
        if (!r.empty() && r[0] == '#') v = base + r.substr(1);
      } else {
        RebaseRefs(&v, base);
      }
    }
  } else if (j->is_array()) {
    for (Json& v : *j) RebaseRefs(&v, base);
  }
}

}  // namespace

std::optional<ApiError> ParseToolRequest(const Json& body, ToolRequest* out) {
  if (const Json* t = Get(body, "tools")) {
    if (auto e = ParseTools(*t, out)) return e;
  }
  out->choice = out->names.empty() ? ToolRequest::Choice::kNone : ToolRequest::Choice::kAuto;
  if (const Json* c = Get(body, "tool_choice")) {
    if (auto e = ParseChoice(*c, out)) return e;
  }
  if (const Json* p = Get(body, "parallel_tool_calls")) {
    if (!p->is_boolean()) return BadRequest("'parallel_tool_calls' must be a boolean", "parallel_tool_calls");
    out->parallel = p->get<bool>();
  }
  return std::nullopt;
}

std::optional<ApiError> NormalizeToolMessage(Json* m, const std::string& name) {
  const std::string role = (*m)["role"].get<std::string>();
  if (role == "tool") {
    const Json* id = Get(*m, "tool_call_id");
    if (!id || !id->is_string()) {
      return BadRequest("'" + name + ".tool_call_id' is required and must be a string", name + ".tool_call_id");
    }
    return std::nullopt;
  }
  auto it = m->find("tool_calls");
  if (it == m->end()) return std::nullopt;
  if (it->is_null()) {
    m->erase(it);
    return std::nullopt;
  }
  const std::string f = name + ".tool_calls";
  if (role != "assistant") return BadRequest("'" + f + "' is allowed on assistant messages only", f);
  if (!it->is_array()) return BadRequest("'" + f + "' must be an array", f);
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string fi = f + "[" + std::to_string(i) + "]";
    Json& call = (*it)[i];
    if (!call.is_object()) return BadRequest("'" + fi + "' must be an object", fi);
    const Json* type = Get(call, "type");
    if (type && (!type->is_string() || type->get<std::string>() != "function")) {
      return BadRequest("'" + fi + ".type' must be \"function\"", fi + ".type");
    }
    if (const Json* id = Get(call, "id"); id && !id->is_string()) {
      return BadRequest("'" + fi + ".id' must be a string", fi + ".id");
    }
    auto fn = call.find("function");
    if (fn == call.end() || !fn->is_object()) return BadRequest("'" + fi + ".function' must be an object", fi + ".function");
    const Json* n = Get(*fn, "name");
    if (!n || !n->is_string()) return BadRequest("'" + fi + ".function.name' must be a string", fi + ".function.name");
    auto args = fn->find("arguments");
    if (args == fn->end() || args->is_null()) {
      (*fn)["arguments"] = Json::object();
    } else if (args->is_string()) {
      // OpenAI sends arguments as JSON text; templates want the object.
      try {
        *args = Json::parse(args->get<std::string>());
      } catch (const std::exception&) {
        return BadRequest("'" + fi + ".function.arguments' is not valid JSON", fi + ".function.arguments");
      }
      if (!args->is_object()) {
        return BadRequest("'" + fi + ".function.arguments' must be a JSON object", fi + ".function.arguments");
      }
    } else if (!args->is_object()) {
      return BadRequest("'" + fi + ".function.arguments' must be a JSON object or its text", fi + ".function.arguments");
    }
  }
  return std::nullopt;
}

StatusOr<grammar::StructuredOutputSpec> ToolCallConstraint(const ToolRequest& r, ToolCallFormat f) {
  if (f == ToolCallFormat::kNone) return InvalidArgumentError("no tool-call format");
  const char* args_key = f == ToolCallFormat::kLlama3 ? "parameters" : "arguments";
  Json defs = Json::object();
  Json calls = Json::array();
  for (size_t i = 0; i < r.names.size(); ++i) {
    if (r.choice == ToolRequest::Choice::kNamed && r.names[i] != r.named) continue;
    const Json& fn = r.tools[i]["function"];
    Json params = fn.contains("parameters") && fn["parameters"].is_object() ? fn["parameters"]
                                                                           : Json{{"type", "object"}};
    params.erase("$schema");
    params.erase("$id");
    const std::string key = "tool_" + std::to_string(i);
    RebaseRefs(&params, "#/$defs/" + key);
    defs[key] = std::move(params);
    Json call = {{"type", "object"},
                 {"properties", {{"name", {{"const", r.names[i]}}}, {args_key, {{"$ref", "#/$defs/" + key}}}}},
                 {"required", {"name", args_key}},
                 {"additionalProperties", false}};
    calls.push_back(std::move(call));
  }
  Json one = calls.size() == 1 ? calls[0] : Json{{"anyOf", calls}};
  grammar::StructuredOutputSpec spec;
  spec.kind = grammar::StructuredOutputSpec::Kind::kJsonSchema;
  grammar::JsonSequence seq;
  Json schema;
  switch (f) {
    case ToolCallFormat::kHermes:
      schema = std::move(one);
      seq.item_prefix = "<tool_call>\n";
      seq.item_suffix = "\n</tool_call>";
      seq.separator = "\n";
      seq.max_items = r.parallel ? kMaxParallelToolCalls : 1;
      break;
    case ToolCallFormat::kLlama3:  // one call per turn
      schema = std::move(one);
      break;
    case ToolCallFormat::kMistral:
      schema = {{"type", "array"}, {"items", std::move(one)}, {"minItems", 1},
                {"maxItems", r.parallel ? kMaxParallelToolCalls : 1}};
      seq.prefix = "[TOOL_CALLS]";
      break;
    case ToolCallFormat::kNone: break;
  }
  if (r.choice == ToolRequest::Choice::kAuto) {
    // Free text until the model starts a call; from there the call grammar.
    switch (f) {
      case ToolCallFormat::kHermes: spec.trigger = grammar::GrammarTrigger{"<tool_call>", false, {}}; break;
      case ToolCallFormat::kLlama3: spec.trigger = grammar::GrammarTrigger{"{", true, {"<|python_tag|>"}}; break;
      case ToolCallFormat::kMistral:
        spec.trigger = grammar::GrammarTrigger{"[TOOL_CALLS]", false, {"[TOOL_CALLS]"}};
        break;
      case ToolCallFormat::kNone: break;
    }
  }
  schema["$defs"] = std::move(defs);
  spec.text = schema.dump();
  spec.sequence = seq;
  return spec;
}

}  // namespace weft::server
