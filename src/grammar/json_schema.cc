#include "grammar/json_schema.h"

#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "grammar/regex.h"

namespace weft::grammar {
namespace {

using Json = nlohmann::ordered_json;

const std::set<std::string> kAnnotations = {"title", "description", "default", "examples", "$comment", "$schema",
                                            "readOnly", "writeOnly", "deprecated", "definitions", "$defs"};
const std::set<std::string> kKnown = {"type", "enum", "const", "anyOf", "oneOf", "$ref", "properties", "required",
                                      "additionalProperties", "items", "prefixItems", "additionalItems", "minItems",
                                      "maxItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
                                      "exclusiveMinimum", "exclusiveMaximum", "uniqueItems", "$id"};
const std::vector<std::string> kAllTypes = {"object", "array", "string", "number", "boolean", "null"};

Status Unsupported(const std::string& keyword, const std::string& path, const std::string& why = "") {
  return InvalidArgumentError(fmt::format("unsupported JSON Schema keyword '{}' at {}{}{}", keyword,
                                          path.empty() ? "/" : path, why.empty() ? "" : ": ", why));
}

// enum / const values: objects with their members sorted by key.
std::string SortedCanonical(const Json& v);

Status Invalid(const std::string& path, const std::string& what) {
  return InvalidArgumentError(fmt::format("invalid JSON Schema at {}: {}", path.empty() ? "/" : path, what));
}

std::string PointerEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '~') o += "~0";
    else if (c == '/') o += "~1";
    else o += c;
  }
  return o;
}

// Digits of a decimal string range [lo, hi] of equal length, as an Expr.
Expr DigitRange(char lo, char hi) { return Expr::Bytes(ByteSet::Range(static_cast<uint8_t>(lo), static_cast<uint8_t>(hi))); }

Expr FixedLengthRange(const std::string& lo, const std::string& hi) {
  if (lo.empty()) return Expr::Empty();
  if (lo[0] == hi[0]) return Expr::Seq({Expr::Byte(static_cast<uint8_t>(lo[0])), FixedLengthRange(lo.substr(1), hi.substr(1))});
  const size_t rest = lo.size() - 1;
  std::vector<Expr> alts;
  alts.push_back(Expr::Seq({Expr::Byte(static_cast<uint8_t>(lo[0])), FixedLengthRange(lo.substr(1), std::string(rest, '9'))}));
  if (hi[0] - lo[0] > 1) {
    alts.push_back(Expr::Seq({DigitRange(static_cast<char>(lo[0] + 1), static_cast<char>(hi[0] - 1)),
                              Expr::Repeat(DigitRange('0', '9'), static_cast<int>(rest), static_cast<int>(rest))}));
  }
  alts.push_back(Expr::Seq({Expr::Byte(static_cast<uint8_t>(hi[0])), FixedLengthRange(std::string(rest, '0'), hi.substr(1))}));
  return Expr::Alt(std::move(alts));
}

// Non-negative integers in [lo, hi] in canonical decimal (no leading zeros).
Expr NonNegativeRange(uint64_t lo, uint64_t hi) {
  std::vector<Expr> alts;
  const std::string hs = std::to_string(hi);
  for (size_t len = std::to_string(lo).size(); len <= hs.size(); ++len) {
    const uint64_t pmin = len == 1 ? 0 : static_cast<uint64_t>(std::pow(10.0, static_cast<double>(len - 1)));
    const std::string a = std::to_string(std::max(lo, pmin));
    const std::string b = len == hs.size() ? hs : std::string(len, '9');
    if (a.size() != len || a > b) continue;
    alts.push_back(FixedLengthRange(a, b));
  }
  return alts.size() == 1 ? std::move(alts[0]) : Expr::Alt(std::move(alts));
}

class SchemaCompiler {
 public:
  SchemaCompiler(const Json& root, const JsonSchemaOptions& o) : root_(root), o_(o) {}

  StatusOr<Grammar> Run() {
    WEFT_ASSIGN_OR_RETURN(uint32_t r, CompileRoot());
    return Finish(r);
  }

  // The schema's rule (the JSON value), not yet built.
  StatusOr<uint32_t> CompileRoot() {
    const uint32_t r = b_.Declare("root");
    ref_rules_[""] = r;
    WEFT_ASSIGN_OR_RETURN(Expr e, Compile(root_, ""));
    b_.Define(r, std::move(e));
    return r;
  }

  // Builds the grammar rooted at `r` and checks the oneOfs compiled on the way.
  StatusOr<Grammar> Finish(uint32_t r) {
    WEFT_ASSIGN_OR_RETURN(Grammar g, b_.Build(r));
    if (!one_ofs_.empty()) {
      const std::vector<FirstSet> first = ComputeFirstSets(g);
      for (const auto& [path, rules] : one_ofs_) {
        for (size_t i = 0; i < rules.size(); ++i) {
          if (first[rules[i]].nullable) return Unsupported("oneOf", path, "a branch matches the empty text");
          for (size_t j = i + 1; j < rules.size(); ++j) {
            if (first[rules[i]].first.Intersects(first[rules[j]].first)) {
              return Unsupported("oneOf", path,
                                 fmt::format("branches {} and {} may both match (oneOf is supported only where its "
                                             "branches start with different characters; use anyOf)", i, j));
            }
          }
        }
      }
    }
    return g;
  }

  StatusOr<Expr> Compile(const Json& s, const std::string& path) {
    if (s.is_boolean()) return s.get<bool>() ? Expr::Rule(AnyValue()) : Expr::Nothing();
    if (!s.is_object()) return Invalid(path, "a schema must be an object or a boolean");
    for (const auto& [k, v] : s.items()) {
      if (kAnnotations.count(k)) continue;
      if (!kKnown.count(k)) return Unsupported(k, path);
      if (k == "$id" && !path.empty()) return Unsupported(k, path, "$id is supported only at the root");
      if (k == "uniqueItems" && !(v.is_boolean() && !v.get<bool>())) return Unsupported(k, path);
    }
    if (s.contains("$ref")) {
      for (const auto& [k, v] : s.items()) {
        if (k != "$ref" && !kAnnotations.count(k) && k != "$id") {
          return Unsupported(k, path, "keywords beside $ref are not supported (draft 7 ignores them, 2020-12 applies them)");
        }
      }
      return Ref(s["$ref"], path);
    }
    for (const char* comb : {"anyOf", "oneOf"}) {
      if (!s.contains(comb)) continue;
      for (const auto& [k, v] : s.items()) {
        if (k != comb && !kAnnotations.count(k) && k != "$id") {
          return Unsupported(k, path, fmt::format("keywords beside {} are not supported", comb));
        }
      }
      const Json& branches = s[comb];
      if (!branches.is_array() || branches.empty()) return Invalid(path, fmt::format("{} must be a non-empty array", comb));
      std::vector<Expr> alts;
      std::vector<uint32_t> rules;
      for (size_t i = 0; i < branches.size(); ++i) {
        const std::string p = fmt::format("{}/{}/{}", path, comb, i);
        WEFT_ASSIGN_OR_RETURN(Expr e, Compile(branches[i], p));
        const uint32_t r = b_.Add(p, std::move(e));
        rules.push_back(r);
        alts.push_back(Expr::Rule(r));
      }
      if (std::string(comb) == "oneOf") one_ofs_.emplace_back(path + "/oneOf", rules);
      return Expr::Alt(std::move(alts));
    }
    std::vector<std::string> types;
    if (s.contains("type")) {
      const Json& t = s["type"];
      if (t.is_string()) types.push_back(t.get<std::string>());
      else if (t.is_array()) for (const auto& x : t) { if (!x.is_string()) return Invalid(path, "type entries must be strings"); types.push_back(x.get<std::string>()); }
      else return Invalid(path, "type must be a string or an array");
      for (const std::string& x : types) {
        if (x != "integer" && std::find(kAllTypes.begin(), kAllTypes.end(), x) == kAllTypes.end()) {
          return Invalid(path, fmt::format("unknown type '{}'", x));
        }
      }
    } else {
      types = kAllTypes;
    }
    // "number" includes the integers.
    const bool has_number = std::find(types.begin(), types.end(), "number") != types.end();
    if (has_number) types.erase(std::remove(types.begin(), types.end(), "integer"), types.end());

    if (s.contains("enum") || s.contains("const")) return EnumOrConst(s, types, path);

    std::vector<Expr> alts;
    for (const std::string& t : types) {
      WEFT_ASSIGN_OR_RETURN(Expr e, ForType(s, t, path));
      alts.push_back(std::move(e));
    }
    return alts.size() == 1 ? std::move(alts[0]) : Expr::Alt(std::move(alts));
  }

 private:
  static bool MatchesType(const Json& v, const std::string& t) {
    if (t == "null") return v.is_null();
    if (t == "boolean") return v.is_boolean();
    if (t == "string") return v.is_string();
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
    return false;
  }

  StatusOr<Expr> EnumOrConst(const Json& s, const std::vector<std::string>& types, const std::string& path) {
    for (const auto& [k, v] : s.items()) {
      if (k != "enum" && k != "const" && k != "type" && !kAnnotations.count(k) && k != "$id") {
        return Unsupported(k, path, "keywords beside enum / const other than type are not supported");
      }
    }
    std::vector<Json> values;
    if (s.contains("const")) values.push_back(s["const"]);
    if (s.contains("enum")) {
      if (!s["enum"].is_array()) return Invalid(path, "enum must be an array");
      std::vector<Json> e(s["enum"].begin(), s["enum"].end());
      if (s.contains("const")) {
        // Both: the const, if the enum holds it.
        const std::string c = SortedCanonical(s["const"]);
        bool found = false;
        for (const Json& x : e) found = found || SortedCanonical(x) == c;
        if (!found) values.clear();
      } else {
        values = e;
      }
    }
    std::set<std::string> seen;
    std::vector<Expr> alts;
    for (const Json& v : values) {
      bool type_ok = false;
      for (const std::string& t : types) type_ok = type_ok || MatchesType(v, t);
      if (!type_ok) continue;
      std::string text = SortedCanonical(v);
      if (v.is_number() && (text.size() > static_cast<size_t>(o_.max_integer_digits + o_.max_fraction_digits + 8))) {
        return Unsupported(s.contains("enum") ? "enum" : "const", path, "a number longer than the digit bounds");
      }
      if (seen.insert(text).second) alts.push_back(Expr::Literal(text));
    }
    return Expr::Alt(std::move(alts));
  }

  StatusOr<Expr> Ref(const Json& ref, const std::string& path) {
    if (!ref.is_string()) return Invalid(path, "$ref must be a string");
    std::string r = ref.get<std::string>();
    if (r.empty() || r[0] != '#') return Unsupported("$ref", path, fmt::format("only local references (#...) are supported: '{}'", r));
    // Percent-decoding of the fragment.
    std::string ptr;
    for (size_t i = 1; i < r.size(); ++i) {
      if (r[i] == '%' && i + 2 < r.size() + 0 && isxdigit(static_cast<unsigned char>(r[i + 1])) &&
          isxdigit(static_cast<unsigned char>(r[i + 2]))) {
        ptr += static_cast<char>(std::stoi(r.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        ptr += r[i];
      }
    }
    if (!ptr.empty() && ptr[0] != '/') return Unsupported("$ref", path, fmt::format("anchor references are not supported: '{}'", r));
    auto it = ref_rules_.find(ptr);
    if (it != ref_rules_.end()) return Expr::Rule(it->second);
    const Json* target = &root_;
    size_t i = 1;
    while (i <= ptr.size() && !ptr.empty()) {
      size_t j = ptr.find('/', i);
      if (j == std::string::npos) j = ptr.size();
      std::string tok = ptr.substr(i, j - i);
      std::string dec;
      for (size_t k = 0; k < tok.size(); ++k) {
        if (tok[k] == '~' && k + 1 < tok.size() && tok[k + 1] == '0') { dec += '~'; ++k; }
        else if (tok[k] == '~' && k + 1 < tok.size() && tok[k + 1] == '1') { dec += '/'; ++k; }
        else dec += tok[k];
      }
      if (target->is_object() && target->contains(dec)) target = &(*target)[dec];
      else if (target->is_array() && !dec.empty() && std::all_of(dec.begin(), dec.end(), ::isdigit) &&
               std::stoul(dec) < target->size()) target = &(*target)[std::stoul(dec)];
      else return Invalid(path, fmt::format("$ref '{}' does not resolve", r));
      i = j + 1;
    }
    const uint32_t rule = b_.Declare("ref " + ptr);
    ref_rules_[ptr] = rule;
    WEFT_ASSIGN_OR_RETURN(Expr e, Compile(*target, ptr));
    b_.Define(rule, std::move(e));
    return Expr::Rule(rule);
  }

  StatusOr<Expr> ForType(const Json& s, const std::string& t, const std::string& path) {
    if (t == "null") return Expr::Literal("null");
    if (t == "boolean") return Expr::Alt({Expr::Literal("true"), Expr::Literal("false")});
    if (t == "string") return String(s, path);
    if (t == "number") {
      for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
        if (s.contains(k)) return Unsupported(k, path, "numeric bounds are supported on integers only");
      }
      return Expr::Rule(Number());
    }
    if (t == "integer") return Integer(s, path);
    if (t == "array") return Array(s, path);
    return Object(s, path);
  }

  StatusOr<int> Count(const Json& s, const char* key, const std::string& path, int dflt) {
    if (!s.contains(key)) return dflt;
    const Json& v = s[key];
    double d = v.is_number() ? v.get<double>() : -1;
    if (d < 0 || std::floor(d) != d) return Invalid(path, fmt::format("{} must be a non-negative integer", key));
    if (d > o_.max_repeat) return Unsupported(key, path, fmt::format("values above {} are not supported", o_.max_repeat));
    return static_cast<int>(d);
  }

  uint32_t StringChar() {
    if (!string_char_) string_char_ = b_.Add("char", CodepointSetExpr(AnyCodepoint(), true));
    return *string_char_;
  }
  uint32_t FreeString() {
    if (!string_) string_ = b_.Add("string", Expr::Seq({Expr::Byte('"'), Expr::Star(Expr::Rule(StringChar())), Expr::Byte('"')}));
    return *string_;
  }
  Expr Digits(int min, int max) { return Expr::Repeat(DigitRange('0', '9'), min, max); }
  Expr UnboundedInteger() {
    return Expr::Seq({Expr::Opt(Expr::Byte('-')),
                      Expr::Alt({Expr::Byte('0'), Expr::Seq({DigitRange('1', '9'), Digits(0, o_.max_integer_digits - 1)})})});
  }
  uint32_t Number() {
    if (!number_) {
      number_ = b_.Add("number", Expr::Seq({UnboundedInteger(),
                                            Expr::Opt(Expr::Seq({Expr::Byte('.'), Digits(1, o_.max_fraction_digits)})),
                                            Expr::Opt(Expr::Seq({Expr::Bytes([] { ByteSet e = ByteSet::Of('e'); e.Add('E'); return e; }()),
                                                                 Expr::Opt(Expr::Bytes([] { ByteSet e = ByteSet::Of('+'); e.Add('-'); return e; }())),
                                                                 Digits(1, o_.max_exponent_digits)}))}));
    }
    return *number_;
  }
  uint32_t AnyValue() {
    if (any_) return *any_;
    const uint32_t v = b_.Declare("value");
    any_ = v;
    const Expr member = Expr::Seq({Expr::Rule(FreeString()), Expr::Byte(':'), Expr::Rule(v)});
    const Expr obj = Expr::Seq({Expr::Byte('{'), Expr::Opt(Expr::Seq({member, Expr::Star(Expr::Seq({Expr::Byte(','), member}))})), Expr::Byte('}')});
    const Expr arr = Expr::Seq({Expr::Byte('['), Expr::Opt(Expr::Seq({Expr::Rule(v), Expr::Star(Expr::Seq({Expr::Byte(','), Expr::Rule(v)}))})), Expr::Byte(']')});
    b_.Define(v, Expr::Alt({obj, arr, Expr::Rule(FreeString()), Expr::Rule(Number()), Expr::Literal("true"),
                            Expr::Literal("false"), Expr::Literal("null")}));
    return v;
  }

 public:
  uint32_t AnyObject() {
    const uint32_t v = AnyValue();
    const Expr member = Expr::Seq({Expr::Rule(FreeString()), Expr::Byte(':'), Expr::Rule(v)});
    return b_.Add("object", Expr::Seq({Expr::Byte('{'), Expr::Opt(Expr::Seq({member, Expr::Star(Expr::Seq({Expr::Byte(','), member}))})), Expr::Byte('}')}));
  }
  GrammarBuilder& builder() { return b_; }

 private:
  StatusOr<Expr> String(const Json& s, const std::string& path) {
    WEFT_ASSIGN_OR_RETURN(int min, Count(s, "minLength", path, 0));
    WEFT_ASSIGN_OR_RETURN(int max, Count(s, "maxLength", path, -1));
    const bool has_len = s.contains("minLength") || s.contains("maxLength");
    if (s.contains("pattern") && s.contains("format")) return Unsupported("format", path, "format together with pattern");
    if ((s.contains("pattern") || s.contains("format")) && has_len) {
      return Unsupported(s.contains("minLength") ? "minLength" : "maxLength", path,
                         fmt::format("length bounds together with {}", s.contains("pattern") ? "pattern" : "format"));
    }
    if (s.contains("pattern")) {
      if (!s["pattern"].is_string()) return Invalid(path, "pattern must be a string");
      RegexOptions ro;
      ro.json_string = true;
      ro.search = true;
      auto re = CompileRegex(s["pattern"].get<std::string>(), ro);
      if (!re.ok()) return Unsupported("pattern", path, re.status().message());
      return Expr::Seq({Expr::Byte('"'), std::move(*re), Expr::Byte('"')});
    }
    if (s.contains("format")) {
      const std::string f = s["format"].is_string() ? s["format"].get<std::string>() : "";
      // Calendar-correct dates (Feb 29 in leap years only), times without leap seconds: a
      // subset of RFC 3339, so that every output is valid wherever the format is checked.
      static const std::string kLeap = R"(([0-9]{2}(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00))";
      static const std::string kDate =
          R"(([0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|)" +
          kLeap + R"(-02-29))";
      static const std::string kTime = R"(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))";
      static const std::map<std::string, std::string> kFormats = {
          {"date", kDate},
          {"time", kTime},
          {"date-time", kDate + "T" + kTime},
          {"uuid", R"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"},
          {"email", R"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)"}};
      auto it = kFormats.find(f);
      if (it == kFormats.end()) return Unsupported("format", path, fmt::format("format '{}' is not supported", s["format"].dump()));
      RegexOptions ro;
      ro.json_string = true;
      WEFT_ASSIGN_OR_RETURN(Expr re, CompileRegex(it->second, ro));
      return Expr::Seq({Expr::Byte('"'), std::move(re), Expr::Byte('"')});
    }
    if (!has_len) return Expr::Rule(FreeString());
    if (max >= 0 && max < min) return Expr::Nothing();
    return Expr::Seq({Expr::Byte('"'), Expr::Repeat(Expr::Rule(StringChar()), min, max), Expr::Byte('"')});
  }

  StatusOr<Expr> Integer(const Json& s, const std::string& path) {
    std::optional<double> lo, hi;
    auto bound = [&](const char* k, bool is_lo, bool excl) -> Status {
      if (!s.contains(k)) return Status::Ok();
      const Json& v = s[k];
      if (!v.is_number()) {
        if (v.is_boolean()) return Unsupported(k, path, "draft-4 boolean exclusive bounds are not supported");
        return Invalid(path, fmt::format("{} must be a number", k));
      }
      double d = v.get<double>();
      if (is_lo) { d = excl ? std::floor(d) + 1 : std::ceil(d); lo = lo ? std::max(*lo, d) : d; }
      else { d = excl ? std::ceil(d) - 1 : std::floor(d); hi = hi ? std::min(*hi, d) : d; }
      return Status::Ok();
    };
    WEFT_RETURN_IF_ERROR(bound("minimum", true, false));
    WEFT_RETURN_IF_ERROR(bound("exclusiveMinimum", true, true));
    WEFT_RETURN_IF_ERROR(bound("maximum", false, false));
    WEFT_RETURN_IF_ERROR(bound("exclusiveMaximum", false, true));
    if (!lo && !hi) return UnboundedInteger();
    const double limit = std::pow(10.0, o_.max_integer_digits) - 1;
    const double a = lo ? std::max(*lo, -limit) : -limit;
    const double b = hi ? std::min(*hi, limit) : limit;
    if (a > b) return Expr::Nothing();
    std::vector<Expr> alts;
    if (a < 0) {  // -(max(1, -b) .. -a)
      const double nlo = std::max(1.0, -b);
      alts.push_back(Expr::Seq({Expr::Byte('-'), NonNegativeRange(static_cast<uint64_t>(nlo), static_cast<uint64_t>(-a))}));
    }
    if (b >= 0) alts.push_back(NonNegativeRange(static_cast<uint64_t>(std::max(0.0, a)), static_cast<uint64_t>(b)));
    return alts.size() == 1 ? std::move(alts[0]) : Expr::Alt(std::move(alts));
  }

  StatusOr<Expr> Array(const Json& s, const std::string& path) {
    WEFT_ASSIGN_OR_RETURN(int min, Count(s, "minItems", path, 0));
    WEFT_ASSIGN_OR_RETURN(int max, Count(s, "maxItems", path, -1));
    std::vector<uint32_t> prefix;
    Expr rest = Expr::Rule(AnyValue());
    const Json* prefix_schemas = nullptr;
    std::string prefix_key;
    if (s.contains("prefixItems")) { prefix_schemas = &s["prefixItems"]; prefix_key = "prefixItems"; }
    if (s.contains("items") && s["items"].is_array()) {
      if (prefix_schemas) return Unsupported("items", path, "items as an array together with prefixItems");
      prefix_schemas = &s["items"];
      prefix_key = "items";
    }
    if (prefix_schemas) {
      if (!prefix_schemas->is_array()) return Invalid(path, prefix_key + " must be an array");
      for (size_t i = 0; i < prefix_schemas->size(); ++i) {
        const std::string p = fmt::format("{}/{}/{}", path, prefix_key, i);
        WEFT_ASSIGN_OR_RETURN(Expr e, Compile((*prefix_schemas)[i], p));
        prefix.push_back(b_.Add(p, std::move(e)));
      }
    }
    const Json* rest_schema = nullptr;
    std::string rest_key;
    if (s.contains("items") && !s["items"].is_array()) { rest_schema = &s["items"]; rest_key = "items"; }
    else if (prefix_key == "items" && s.contains("additionalItems")) { rest_schema = &s["additionalItems"]; rest_key = "additionalItems"; }
    if (rest_schema) {
      WEFT_ASSIGN_OR_RETURN(Expr e, Compile(*rest_schema, path + "/" + rest_key));
      rest = Expr::Rule(b_.Add(path + "/" + rest_key, std::move(e)));
    }
    if (max >= 0 && max < min) return Expr::Nothing();
    // Tail(i): what follows once i >= 1 items are written.
    std::function<Expr(int)> tail = [&](int i) -> Expr {
      std::vector<Expr> alts;
      if (static_cast<size_t>(i) >= prefix.size() && i >= min) {
        // Only `rest` items remain: a bounded or unbounded loop.
        const int more = max < 0 ? -1 : max - i;
        return Expr::Seq({Expr::Repeat(Expr::Seq({Expr::Byte(','), rest}), 0, more), Expr::Byte(']')});
      }
      if (i >= min) alts.push_back(Expr::Byte(']'));
      if (max < 0 || i < max) {
        Expr item = static_cast<size_t>(i) < prefix.size() ? Expr::Rule(prefix[static_cast<size_t>(i)]) : rest;
        alts.push_back(Expr::Seq({Expr::Byte(','), std::move(item), tail(i + 1)}));
      }
      return Expr::Alt(std::move(alts));
    };
    std::vector<Expr> alts;
    if (min == 0) alts.push_back(Expr::Byte(']'));
    if (max != 0) {
      Expr first = prefix.empty() ? rest : Expr::Rule(prefix[0]);
      alts.push_back(Expr::Seq({std::move(first), tail(1)}));
    }
    return Expr::Seq({Expr::Byte('['), Expr::Alt(std::move(alts))});
  }

  StatusOr<Expr> Object(const Json& s, const std::string& path) {
    struct Prop { std::string name; uint32_t rule; bool required; };
    std::vector<Prop> props;
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) return Invalid(path, "required must be an array");
      for (const auto& r : s["required"]) {
        if (!r.is_string()) return Invalid(path, "required entries must be strings");
        required.insert(r.get<std::string>());
      }
    }
    if (s.contains("properties")) {
      if (!s["properties"].is_object()) return Invalid(path, "properties must be an object");
      for (const auto& [name, sub] : s["properties"].items()) {
        const std::string p = path + "/properties/" + PointerEscape(name);
        WEFT_ASSIGN_OR_RETURN(Expr e, Compile(sub, p));
        props.push_back({name, b_.Add(p, std::move(e)), required.count(name) > 0});
      }
    }
    Expr additional = Expr::Rule(AnyValue());
    bool additional_allowed = true;
    if (s.contains("additionalProperties")) {
      const Json& a = s["additionalProperties"];
      if (a.is_boolean() && !a.get<bool>()) {
        additional_allowed = false;
      } else {
        WEFT_ASSIGN_OR_RETURN(Expr e, Compile(a, path + "/additionalProperties"));
        additional = Expr::Rule(b_.Add(path + "/additionalProperties", std::move(e)));
      }
    }
    // Required names without a `properties` entry: any value, after the listed ones.
    if (s.contains("required")) {
      for (const auto& r : s["required"]) {
        const std::string name = r.get<std::string>();
        bool listed = false;
        for (const Prop& p : props) listed = listed || p.name == name;
        if (listed) continue;
        if (!additional_allowed) return Expr::Nothing();  // required but forbidden
        props.push_back({name, b_.Add(path + "/required/" + name, additional), true});
      }
    }
    std::optional<Expr> extra_key;
    if (additional_allowed) {
      std::vector<std::string> names;
      for (const Prop& p : props) names.push_back(p.name);
      WEFT_ASSIGN_OR_RETURN(Expr k, KeyNotIn(names, path));
      extra_key = std::move(k);
    }
    const size_t n = props.size();
    // rules[i][c]: the members from property i on, c = whether a comma must come first.
    std::vector<std::array<uint32_t, 2>> rules(n + 1);
    for (size_t i = 0; i <= n; ++i) {
      for (int c = 0; c < 2; ++c) rules[i][c] = b_.Declare(fmt::format("{} members {}{}", path, i, c ? "," : ""));
    }
    for (size_t i = n + 1; i-- > 0;) {
      for (int c = 0; c < 2; ++c) {
        if (i == n) {
          Expr end = Expr::Byte('}');
          if (!extra_key) { b_.Define(rules[i][c], end); continue; }
          const Expr member = Expr::Seq({*extra_key, Expr::Byte(':'), additional});
          const Expr more = Expr::Star(Expr::Seq({Expr::Byte(','), member}));
          if (c) b_.Define(rules[i][c], Expr::Seq({more, end}));
          else b_.Define(rules[i][c], Expr::Alt({end, Expr::Seq({member, more, end})}));
          continue;
        }
        const Prop& p = props[i];
        std::vector<Expr> with;
        if (c) with.push_back(Expr::Byte(','));
        with.push_back(Expr::Literal(Json(p.name).dump() + ":"));
        with.push_back(Expr::Rule(p.rule));
        with.push_back(Expr::Rule(rules[i + 1][1]));
        if (p.required) b_.Define(rules[i][c], Expr::Seq(std::move(with)));
        else b_.Define(rules[i][c], Expr::Alt({Expr::Seq(std::move(with)), Expr::Rule(rules[i + 1][c])}));
      }
    }
    return Expr::Seq({Expr::Byte('{'), Expr::Rule(rules[0][0])});
  }

  // A JSON string (quotes included) equal to none of `names`.
  StatusOr<Expr> KeyNotIn(const std::vector<std::string>& names, const std::string& path) {
    if (names.empty()) return Expr::Rule(FreeString());
    for (const std::string& nm : names) {
      for (char c : nm) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x80 || c == '"' || c == '\\') {
          return Unsupported("additionalProperties", path,
                             fmt::format("other members beside a property name with non-ASCII or escaped characters ({}); "
                                         "set additionalProperties to false", Json(nm).dump()));
        }
      }
    }
    // A trie over the names: node = prefix; rule per node.
    struct TrieNode { std::map<char, size_t> kids; bool terminal = false; };
    std::vector<TrieNode> trie(1);
    for (const std::string& nm : names) {
      size_t t = 0;
      for (char c : nm) {
        auto it = trie[t].kids.find(c);
        if (it == trie[t].kids.end()) { trie.emplace_back(); it = trie[t].kids.emplace(c, trie.size() - 1).first; }
        t = it->second;
      }
      trie[t].terminal = true;
    }
    const Expr free_rest = Expr::Seq({Expr::Star(Expr::Rule(StringChar())), Expr::Byte('"')});
    std::vector<uint32_t> rule(trie.size());
    for (size_t t = 0; t < trie.size(); ++t) rule[t] = b_.Declare(fmt::format("{} other key {}", path, t));
    for (size_t t = 0; t < trie.size(); ++t) {
      std::vector<Expr> alts;
      if (!trie[t].terminal) alts.push_back(Expr::Byte('"'));
      CodepointRanges others = AnyCodepoint();
      CodepointRanges cut;
      for (const auto& [c, child] : trie[t].kids) {
        alts.push_back(Expr::Seq({Expr::Byte(static_cast<uint8_t>(c)), Expr::Rule(rule[child])}));
        cut.emplace_back(static_cast<unsigned char>(c), static_cast<unsigned char>(c));
      }
      // Code points other than the children's.
      CodepointRanges rest;
      uint32_t next = 0;
      std::sort(cut.begin(), cut.end());
      for (auto [lo, hi] : cut) { if (lo > next) rest.emplace_back(next, lo - 1); next = hi + 1; }
      rest.emplace_back(next, 0x10FFFF);
      alts.push_back(Expr::Seq({CodepointSetExpr(rest, true), free_rest}));
      b_.Define(rule[t], Expr::Alt(std::move(alts)));
    }
    return Expr::Seq({Expr::Byte('"'), Expr::Rule(rule[0])});
  }

  const Json& root_;
  JsonSchemaOptions o_;
  GrammarBuilder b_;
  std::map<std::string, uint32_t> ref_rules_;
  std::vector<std::pair<std::string, std::vector<uint32_t>>> one_ofs_;
  std::optional<uint32_t> string_char_, string_, number_, any_;
};

// Dump with schema-driven member order.
void CanonicalInto(const Json& v, const Json& schema, const Json& root, std::string* out, int depth);

const Json* Resolve(const Json& schema, const Json& root) {
  const Json* s = &schema;
  for (int guard = 0; guard < 32 && s->is_object() && s->contains("$ref") && (*s)["$ref"].is_string(); ++guard) {
    const std::string r = (*s)["$ref"].get<std::string>();
    if (r.empty() || r[0] != '#') break;
    try {
      s = &root.at(Json::json_pointer(r.substr(1)));
    } catch (...) {
      break;
    }
  }
  return s;
}

void CanonicalInto(const Json& v, const Json& schema_in, const Json& root, std::string* out, int depth) {
  const Json* schema = Resolve(schema_in, root);
  static const Json kEmpty = Json::object();
  if (!schema->is_object()) schema = &kEmpty;
  if (schema->contains("enum") || schema->contains("const")) {
    *out += SortedCanonical(v);
    return;
  }
  // Through anyOf / oneOf: the branch that lists the most of the value's members (or the first).
  for (const char* comb : {"anyOf", "oneOf"}) {
    if (schema->contains(comb) && (*schema)[comb].is_array() && !(*schema)[comb].empty()) {
      const Json* best = &(*schema)[comb][0];
      size_t best_n = 0;
      for (const Json& b : (*schema)[comb]) {
        const Json* rb = Resolve(b, root);
        size_t n = 0;
        if (v.is_object() && rb->is_object() && rb->contains("properties") && (*rb)["properties"].is_object()) {
          for (const auto& [k, x] : v.items()) n += (*rb)["properties"].contains(k) ? 1 : 0;
        }
        if (n > best_n) { best_n = n; best = &b; }
      }
      CanonicalInto(v, *best, root, out, depth + 1);
      return;
    }
  }
  if (v.is_object()) {
    std::vector<std::string> order;
    const Json* props = schema->contains("properties") && (*schema)["properties"].is_object() ? &(*schema)["properties"] : nullptr;
    if (props) for (const auto& [k, x] : props->items()) if (v.contains(k)) order.push_back(k);
    if (schema->contains("required") && (*schema)["required"].is_array()) {
      for (const auto& r : (*schema)["required"]) {
        if (r.is_string() && v.contains(r.get<std::string>()) && !(props && props->contains(r.get<std::string>())) &&
            std::find(order.begin(), order.end(), r.get<std::string>()) == order.end()) order.push_back(r.get<std::string>());
      }
    }
    for (const auto& [k, x] : v.items()) if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
    *out += '{';
    for (size_t i = 0; i < order.size(); ++i) {
      if (i) *out += ',';
      *out += Json(order[i]).dump();
      *out += ':';
      const Json* sub = &kEmpty;
      if (props && props->contains(order[i])) sub = &(*props)[order[i]];
      else if (schema->contains("additionalProperties")) sub = &(*schema)["additionalProperties"];
      CanonicalInto(v[order[i]], *sub, root, out, depth + 1);
    }
    *out += '}';
    return;
  }
  if (v.is_array()) {
    *out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) *out += ',';
      const Json* sub = &kEmpty;
      const Json* pre = schema->contains("prefixItems") ? &(*schema)["prefixItems"]
                        : (schema->contains("items") && (*schema)["items"].is_array()) ? &(*schema)["items"] : nullptr;
      if (pre && pre->is_array() && i < pre->size()) sub = &(*pre)[i];
      else if (schema->contains("items") && !(*schema)["items"].is_array()) sub = &(*schema)["items"];
      else if (pre && schema->contains("additionalItems")) sub = &(*schema)["additionalItems"];
      CanonicalInto(v[i], *sub, root, out, depth + 1);
    }
    *out += ']';
    return;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.007199254740992e15) {
      *out += std::to_string(static_cast<int64_t>(d));
      return;
    }
  }
  *out += v.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
}

std::string SortedCanonical(const Json& v) {
  const Json sorted = Json::parse(nlohmann::json::parse(v.dump()).dump());
  std::string out;
  static const Json kEmpty = Json::object();
  CanonicalInto(sorted, kEmpty, kEmpty, &out, 0);
  return out;
}

}  // namespace

std::string JsonCanonicalDump(const nlohmann::ordered_json& value, const nlohmann::ordered_json& schema) {
  std::string out;
  CanonicalInto(value, schema, schema, &out, 0);
  return out;
}

StatusOr<Grammar> CompileJsonSchema(const nlohmann::ordered_json& schema, const JsonSchemaOptions& options) {
  return SchemaCompiler(schema, options).Run();
}

StatusOr<Grammar> CompileJsonSchemaText(std::string_view schema_json, const JsonSchemaOptions& options) {
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(schema_json);
  } catch (const std::exception& e) {
    return InvalidArgumentError(fmt::format("the JSON schema is not valid JSON: {}", e.what()));
  }
  return CompileJsonSchema(j, options);
}

StatusOr<Grammar> CompileJsonSchemaSequence(const nlohmann::ordered_json& schema, const JsonSequence& seq,
                                            const JsonSchemaOptions& options) {
  if (seq.max_items == 0 || seq.max_items < -1) return InvalidArgumentError("a JSON sequence needs max_items >= 1 or -1");
  SchemaCompiler c(schema, options);
  WEFT_ASSIGN_OR_RETURN(uint32_t value, c.CompileRoot());
  GrammarBuilder& b = c.builder();
  const Expr item = Expr::Seq({Expr::Literal(seq.item_prefix), Expr::Rule(value), Expr::Literal(seq.item_suffix)});
  const Expr more = Expr::Repeat(Expr::Seq({Expr::Literal(seq.separator), item}), 0,
                                 seq.max_items < 0 ? -1 : seq.max_items - 1);
  const uint32_t root = b.Add("sequence", Expr::Seq({Expr::Literal(seq.prefix), item, more, Expr::Literal(seq.suffix)}));
  return c.Finish(root);
}

StatusOr<Grammar> CompileJsonObject(const JsonSchemaOptions& options) {
  const nlohmann::ordered_json empty = nlohmann::ordered_json::object();
  SchemaCompiler c(empty, options);
  const uint32_t r = c.AnyObject();
  return c.builder().Build(r);
}

}  // namespace weft::grammar
