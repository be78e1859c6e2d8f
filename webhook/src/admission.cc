// The AdmissionReview envelope (admission.k8s.io/v1): reading the request, encoding the response,
// and the exception net of both entry points (STYLE.md §7: nothing escapes the request path).
//
// What is not an AdmissionReview at all (not JSON, not an object, another apiVersion or kind, no
// request, no uid) gets HTTP 400 and a plain-text reason: there is no uid to answer to. Everything
// else is answered with an AdmissionReview echoing the uid.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <exception>

#include "certwright/api/meta.h"
#include "review.h"

namespace certwright::webhook {

namespace internal {

std::string Quote(std::string_view value) {
  constexpr size_t kMax = 64;
  if (value.size() <= kMax) return "\"" + std::string(value) + "\"";
  size_t cut = kMax;
  // Not inside a UTF-8 sequence: back up over continuation bytes (10xxxxxx).
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return "\"" + std::string(value.substr(0, cut)) + "...\" (" + std::to_string(value.size()) + " bytes)";
}

const Json* Member(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

const Json& EmptyObject() {
  static const Json empty = Json::object();
  return empty;
}

std::string Review::ObjectName() const {
  if (!name.empty() || object == nullptr) return name;
  const Json* metadata = Member(*object, "metadata");
  return metadata ? api::StringAt(*metadata, "name") : "";
}

Verdict Verdict::Malformed(std::string message) {
  Verdict v = Invalid(std::move(message));
  v.malformed = true;
  return v;
}

Verdict Verdict::Invalid(std::string message) {
  Verdict v;
  v.allowed = false;
  v.code = 400;
  v.reason = "BadRequest";
  v.message = std::move(message);
  return v;
}

Verdict Verdict::Forbidden(std::string message) {
  Verdict v;
  v.allowed = false;
  v.code = 403;
  v.reason = "Forbidden";
  v.message = std::move(message);
  return v;
}

}  // namespace internal

namespace {

using internal::Json;
using internal::Member;
using internal::Quote;
using internal::Review;
using internal::Verdict;

// Metric labels come from a fixed set: a review may name anything.
std::string ResourceLabel(std::string_view resource) {
  static constexpr std::array<std::string_view, 7> kKnown = {
      "certificates", "issuers", "clusterissuers", "certificatepolicies", "trustbundles", "certificatesigningrequests",
      "pods"};
  return std::find(kKnown.begin(), kKnown.end(), resource) != kKnown.end() ? std::string(resource) : "unknown";
}

std::string OperationLabel(std::string_view operation) {
  static constexpr std::array<std::string_view, 4> kKnown = {"CREATE", "UPDATE", "DELETE", "CONNECT"};
  return std::find(kKnown.begin(), kKnown.end(), operation) != kKnown.end() ? std::string(operation) : "unknown";
}

std::string_view TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::null: return "null";
    default: return "a number";
  }
}

AdmissionOutcome NotAReview(std::string reason) {
  AdmissionOutcome out;
  out.http_status = 400;
  out.body = "not an AdmissionReview: " + std::move(reason) + "\n";
  out.result = "invalid";
  return out;
}

// An optional string member; `error` says what is wrong when it has another type.
bool OptionalString(const Json& object, std::string_view key, const std::string& path, std::string& out,
                    std::optional<Verdict>& error) {
  const Json* v = Member(object, key);
  if (v == nullptr) return true;
  if (!v->is_string()) {
    error = Verdict::Malformed(path + ": must be a string, not " + std::string(TypeName(*v)));
    return false;
  }
  out = v->get<std::string>();
  return true;
}

// request.* past the uid: kind, resource, operation, names, object. A malformed field is a verdict.
std::optional<Verdict> ReadRequest(const Json& request, Review& review) {
  std::optional<Verdict> error;
  const Json* kind = Member(request, "kind");
  if (kind == nullptr || !kind->is_object()) {
    return Verdict::Malformed("request.kind: must be an object with group, version and kind");
  }
  if (!OptionalString(*kind, "group", "request.kind.group", review.group, error) ||
      !OptionalString(*kind, "version", "request.kind.version", review.version, error) ||
      !OptionalString(*kind, "kind", "request.kind.kind", review.kind, error)) {
    return error;
  }
  if (const Json* resource = Member(request, "resource"); resource != nullptr) {
    if (!resource->is_object()) return Verdict::Malformed("request.resource: must be an object");
    if (!OptionalString(*resource, "resource", "request.resource.resource", review.resource, error)) return error;
  }
  if (!OptionalString(request, "subResource", "request.subResource", review.sub_resource, error) ||
      !OptionalString(request, "operation", "request.operation", review.operation, error) ||
      !OptionalString(request, "namespace", "request.namespace", review.ns, error) ||
      !OptionalString(request, "name", "request.name", review.name, error)) {
    return error;
  }
  if (OperationLabel(review.operation) == "unknown") {
    return Verdict::Malformed("request.operation: must be CREATE, UPDATE, DELETE or CONNECT (got " +
                              Quote(review.operation) + ")");
  }
  if (const Json* user = Member(request, "userInfo"); user != nullptr && user->is_object()) review.user_info = user;
  const Json* object = Member(request, "object");
  if (object != nullptr && !object->is_object()) {
    return Verdict::Malformed("request.object: must be an object, not " + std::string(TypeName(*object)));
  }
  if (object == nullptr && (review.operation == "CREATE" || review.operation == "UPDATE")) {
    return Verdict::Malformed("request.object is missing: a " + review.operation + " review carries the object");
  }
  review.object = object;
  if (const Json* old = Member(request, "oldObject"); old != nullptr && old->is_object()) review.old_object = old;
  return std::nullopt;
}

// Warnings as the API server shows them: one line each, printable, at most 256 characters (it
// truncates longer ones itself, but cutting here keeps UTF-8 whole).
std::string Warning(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  constexpr size_t kMax = 256;
  if (text.size() > kMax) {
    size_t cut = kMax - 3;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut) + "...";
  }
  return text;
}

// A status message quotes what the user wrote (a 1 MiB DNS name, whole): what kubectl shows needs
// the start, not a megabyte.
std::string Bounded(const std::string& message) {
  constexpr size_t kMax = 4096;
  if (message.size() <= kMax) return message;
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return message.substr(0, cut) + "... (" + std::to_string(message.size()) + " bytes in all)";
}

std::string Encode(const Review& review, const Verdict& verdict) {
  Json response = {{"uid", review.uid}, {"allowed", verdict.allowed}};
  if (!verdict.allowed) {
    response["status"] = {{"code", verdict.code}, {"reason", verdict.reason}, {"message", Bounded(verdict.message)}};
  }
  if (!verdict.warnings.empty()) {
    Json warnings = Json::array();
    for (const auto& w : verdict.warnings) warnings.push_back(Warning(w));
    response["warnings"] = std::move(warnings);
  }
  if (verdict.allowed && verdict.patch) {
    response["patchType"] = "JSONPatch";
    response["patch"] = api::Base64Encode(verdict.patch->dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  const Json review_out = {{"apiVersion", std::string(kAdmissionReviewApiVersion)},
                           {"kind", "AdmissionReview"},
                           {"response", std::move(response)}};
  // replace: a message quoting bytes that are not UTF-8 (from a CSR's subject) must not throw.
  return review_out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

using Handler = Verdict (*)(const Review&, const AdmissionContext&);

// How deep a review may nest. Ours nest about ten levels (a CSR review's userInfo.extra values,
// a Certificate's subject lists); nlohmann copies and prints recursively, so a body nested tens of
// thousands of levels would overflow the stack wherever a value is copied. Checked on the bytes,
// before parsing.
constexpr int kMaxDepth = 128;

// The byte offset where `body` first nests deeper than kMaxDepth, or npos. Brackets inside
// strings do not count.
size_t TooDeepAt(std::string_view body) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string_view::npos;
}

AdmissionOutcome Serve(std::string_view body, const AdmissionContext& context, Handler handler) {
  if (const size_t at = TooDeepAt(body); at != std::string_view::npos) {
    return NotAReview("the body nests deeper than " + std::to_string(kMaxDepth) + " levels (at byte " +
                      std::to_string(at) + "); no AdmissionReview does");
  }
  Json parsed;
  try {
    parsed = Json::parse(body.begin(), body.end());
  } catch (const Json::parse_error& e) {
    return NotAReview("the body is not JSON (" + std::string(body.empty() ? "empty" : "syntax error") + " at byte " +
                      std::to_string(e.byte) + ")");
  } catch (const Json::exception&) {
    return NotAReview("the body is not JSON that can be read (a number out of range)");
  }
  if (!parsed.is_object()) return NotAReview("the body is " + std::string(TypeName(parsed)) + ", not a JSON object");
  const std::string api_version = api::StringAt(parsed, "apiVersion");
  if (api_version != kAdmissionReviewApiVersion) {
    return NotAReview("apiVersion " + (api_version.empty() ? std::string("is missing") : Quote(api_version) + " is not served") +
                      "; this webhook speaks " + std::string(kAdmissionReviewApiVersion) +
                      " (list only v1 in the webhook configuration's admissionReviewVersions)");
  }
  const std::string kind = api::StringAt(parsed, "kind");
  if (kind != "AdmissionReview") {
    return NotAReview("kind " + (kind.empty() ? std::string("is missing") : Quote(kind)) + ", expected AdmissionReview");
  }
  const Json* request = Member(parsed, "request");
  if (request == nullptr) return NotAReview("request is missing");
  if (!request->is_object()) return NotAReview("request must be an object, not " + std::string(TypeName(*request)));
  Review review;
  review.uid = api::StringAt(*request, "uid");
  if (review.uid.empty()) return NotAReview("request.uid is missing or empty (it must be a non-empty string)");

  AdmissionOutcome out;
  std::optional<Verdict> verdict = ReadRequest(*request, review);
  out.resource = ResourceLabel(review.resource);
  out.operation = OperationLabel(review.operation);
  if (!verdict) verdict = handler(review, context);
  out.result = verdict->malformed ? "invalid" : !verdict->allowed ? "denied" : verdict->patch ? "patched" : "allowed";
  out.body = Encode(review, *verdict);
  return out;
}

// The exception net: a library that throws (nlohmann's type errors, std::bad_alloc) becomes a
// 500-free answer. With a uid we cannot trust here, the reply is the plain 400.
AdmissionOutcome Guarded(std::string_view body, const AdmissionContext& context, Handler handler,
                         std::string_view what) noexcept {
  try {
    return Serve(body, context, handler);
  } catch (const std::exception& e) {
    try {
      spdlog::error("webhook {}: unexpected exception: {}", what, e.what());
    } catch (...) {
    }
  } catch (...) {
  }
  try {
    return NotAReview("the review could not be processed (an internal error; the webhook's log has it)");
  } catch (...) {
    // Out of memory while building the answer: an empty 400.
    AdmissionOutcome out;
    out.http_status = 400;
    return out;
  }
}

}  // namespace

AdmissionOutcome Validate(std::string_view body, const AdmissionContext& context) noexcept {
  return Guarded(body, context, &internal::ValidateReview, "validate");
}

AdmissionOutcome Mutate(std::string_view body, const AdmissionContext& context) noexcept {
  return Guarded(body, context, &internal::MutateReview, "mutate");
}

}  // namespace certwright::webhook
