#include "server/json_body.h"

#include <fmt/format.h>

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;
using ObjectVector = Json::object_t::Container;  // ordered_map is a vector of pairs

// nlohmann's SAX interface (duck-typed), building the document bottom-up.
class LimitedBuilder {
 public:
  explicit LimitedBuilder(const JsonLimits& limits) : limits_(limits) {}

  bool null() { return Add(Json(nullptr)); }
  bool boolean(bool v) { return Add(Json(v)); }
  bool number_integer(Json::number_integer_t v) { return Add(Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return Add(Json(v)); }
  bool number_float(Json::number_float_t v, const std::string&) { return Add(Json(v)); }
  bool string(std::string& v) {
    if (v.size() > limits_.max_string_bytes) {
      return Refuse(fmt::format("a string in the request body is over {} bytes", limits_.max_string_bytes));
    }
    return Add(Json(std::move(v)));
  }
  bool binary(Json::binary_t&) { return Refuse("binary values are not JSON"); }
  bool start_object(std::size_t) { return Open(Json::object()); }
  bool start_array(std::size_t) { return Open(Json::array()); }
  bool key(std::string& k) {
    Frame& f = stack_.back();
    if (k.size() > limits_.max_key_bytes) {
      return Refuse(fmt::format("a key in the request body is over {} bytes", limits_.max_key_bytes));
    }
    if (f.index.size() >= limits_.max_object_keys) {
      return Refuse(fmt::format("an object in the request body has more than {} keys", limits_.max_object_keys));
    }
    f.key = std::move(k);
    return true;
  }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    if (error_.empty()) error_ = std::string("the request body is not valid JSON: ") + e.what();
    return false;
  }

  const std::string& error() const { return error_; }
  Json& root() { return root_; }

 private:
  struct Frame {
    Json value;
    std::unordered_map<std::string, size_t> index;  // object key -> position
    std::string key;                                // the key the next value goes under
  };

  bool Refuse(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    return false;
  }

  bool Count() {
    if (++values_ > limits_.max_values) {
      return Refuse(fmt::format("the request body has more than {} JSON values", limits_.max_values));
    }
    return true;
  }

  bool Open(Json container) {
    if (!Count()) return false;
    if (static_cast<int>(stack_.size()) >= limits_.max_depth) return Refuse("the request body is nested too deeply");
    stack_.push_back(Frame{std::move(container), {}, {}});
    return true;
  }

  bool Close() {
    Json done = std::move(stack_.back().value);
    stack_.pop_back();
    return Place(std::move(done));
  }

  bool Add(Json v) { return Count() && Place(std::move(v)); }

  bool Place(Json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    Frame& f = stack_.back();
    if (f.value.is_array()) {
      f.value.get_ref<Json::array_t&>().push_back(std::move(v));
      return true;
    }
    auto& entries = static_cast<ObjectVector&>(f.value.get_ref<Json::object_t&>());
    auto [it, inserted] = f.index.try_emplace(std::move(f.key), entries.size());
    if (inserted) {
      entries.emplace_back(it->first, std::move(v));
    } else {
      entries[it->second].second = std::move(v);
    }
    return true;
  }

  const JsonLimits& limits_;
  std::vector<Frame> stack_;
  Json root_;
  size_t values_ = 0;
  std::string error_;
};

}  // namespace

std::optional<ApiError> ParseJsonLimited(std::string_view text, const JsonLimits& limits, Json* out) {
  LimitedBuilder builder(limits);
  const bool ok = Json::sax_parse(text.begin(), text.end(), &builder, nlohmann::detail::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
  if (!ok) return BadRequest(builder.error().empty() ? "the request body is not valid JSON" : builder.error());
  *out = std::move(builder.root());
  return std::nullopt;
}

}  // namespace weft::server
