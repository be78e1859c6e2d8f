// tests/webhook/admission_test.cc: webhook/src/{admission,validate,mutate}.cc — the AdmissionReview
// envelope (one row per malformed input, with the exact answer), validation with the controllers'
// messages, the issuance policy at admission, and the defaulting patch.
#include "certwright/webhook/admission.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <tuple>

#include "certwright/api/certificate.h"
#include "certwright/api/issuer.h"
#include "certwright/api/meta.h"
#include "certwright/api/policy.h"
#include "certwright/api/trust.h"
#include "support/test_ca.h"

namespace certwright::webhook {
namespace {

using Json = kube::Json;
namespace pol = signer::policy;

// ---------------------------------------------------------------------------------------------
// Building reviews.

Json Gvk(const std::string& group, const std::string& version, const std::string& kind) {
  return {{"group", group}, {"version", version}, {"kind", kind}};
}

const Json kCertificateKind = Gvk("certwright.dev", "v1alpha1", "Certificate");
const Json kIssuerKind = Gvk("certwright.dev", "v1alpha1", "Issuer");
const Json kClusterIssuerKind = Gvk("certwright.dev", "v1alpha1", "ClusterIssuer");
const Json kPolicyKind = Gvk("certwright.dev", "v1alpha1", "CertificatePolicy");
const Json kTrustBundleKind = Gvk("certwright.dev", "v1alpha1", "TrustBundle");
const Json kCsrKind = Gvk("certificates.k8s.io", "v1", "CertificateSigningRequest");

std::string ResourceOf(const Json& kind) {
  const std::string k = kind["kind"];
  if (k == "Certificate") return "certificates";
  if (k == "Issuer") return "issuers";
  if (k == "ClusterIssuer") return "clusterissuers";
  if (k == "CertificatePolicy") return "certificatepolicies";
  if (k == "TrustBundle") return "trustbundles";
  if (k == "CertificateSigningRequest") return "certificatesigningrequests";
  return "pods";
}

Json Request(const Json& kind, const std::string& operation, const Json& object, const std::string& ns = "team-a",
             const std::string& name = "web") {
  Json request = {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
                  {"kind", kind},
                  {"resource", {{"group", kind["group"]}, {"version", kind["version"]}, {"resource", ResourceOf(kind)}}},
                  {"requestKind", kind},
                  {"operation", operation},
                  {"name", name},
                  {"userInfo", {{"username", "alice"}, {"groups", {"devs", "system:authenticated"}}}},
                  {"object", object},
                  {"oldObject", nullptr},
                  {"dryRun", false}};
  if (!ns.empty()) request["namespace"] = ns;
  return request;
}

std::string Body(const Json& request) {
  return Json{{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"request", request}}.dump();
}

Json Object(const Json& kind, const Json& spec, const std::string& ns = "team-a", const std::string& name = "web") {
  Json metadata = {{"name", name}};
  if (!ns.empty()) metadata["namespace"] = ns;
  return {{"apiVersion", kind["group"].get<std::string>() + "/" + kind["version"].get<std::string>()},
          {"kind", kind["kind"]},
          {"metadata", metadata},
          {"spec", spec}};
}

Json CertificateSpec() {
  return Json::parse(R"({"secretName": "web-tls", "dnsNames": ["web.team-a.svc"],
                         "issuerRef": {"name": "web-ca", "kind": "Issuer"}})");
}

// The AdmissionReview response a denial is.
Json Denied(int code, const std::string& message) {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"response",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"allowed", false},
            {"status", {{"code", code}, {"reason", code == 403 ? "Forbidden" : "BadRequest"}, {"message", message}}}}}};
}

Json Response(const AdmissionOutcome& out) {
  EXPECT_EQ(out.http_status, 200) << out.body;
  auto parsed = Json::parse(out.body, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << out.body;
  return parsed.is_object() ? parsed.value("response", Json::object()) : Json::object();
}

std::string Message(const AdmissionOutcome& out) {
  const Json r = Response(out);
  return r.value("status", Json::object()).value("message", "");
}

// The stored issuers the webhook knows, by (kind, ns, name).
class Issuers {
 public:
  void Put(const std::string& kind, const std::string& ns, const std::string& name, const Json& spec) {
    objects_[{kind, ns, name}] =
        std::make_shared<const Json>(Json{{"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", spec}});
  }
  std::function<std::shared_ptr<const Json>(const std::string&, const std::string&, const std::string&)> Lookup()
      const {
    return [this](const std::string& kind, const std::string& ns, const std::string& name) -> std::shared_ptr<const Json> {
      auto it = objects_.find({kind, ns, name});
      return it == objects_.end() ? nullptr : it->second;
    };
  }

 private:
  std::map<std::tuple<std::string, std::string, std::string>, std::shared_ptr<const Json>> objects_;
};

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest() {
    UseService({});
    issuers_.Put("Issuer", "team-a", "web-ca", {{"ca", {{"secretName", "web-ca"}}}});
    issuers_.Put("ClusterIssuer", "", "corp-ca", {{"ca", {{"secretName", "corp-ca"}}}});
    issuers_.Put("Issuer", "team-a", "self", {{"selfSigned", Json::object()}});
    context_.issuer = issuers_.Lookup();
  }

  void UseService(issuance::CustodyRules custody) {
    service_ = std::make_unique<issuance::IssuanceService>(
        issuance::IssuanceService::Options{.custody = std::move(custody), .audit = [](const Json&) {}});
    context_.issuance = service_.get();
  }

  void SetPolicies(const std::vector<std::pair<std::string, std::string>>& specs) {
    auto set = std::make_shared<pol::PolicySet>();
    for (const auto& [name, spec] : specs) {
      auto parsed = api::ParsePolicySpec(Json::parse(spec));
      ASSERT_TRUE(parsed.ok()) << parsed.error().message();
      set->Add(pol::Compile(name, *parsed).value());
    }
    service_->SetPolicies(set);
  }

  AdmissionOutcome ValidateCertificate(const Json& spec, const std::string& operation = "CREATE") {
    return Validate(Body(Request(kCertificateKind, operation, Object(kCertificateKind, spec))), context_);
  }

  std::unique_ptr<issuance::IssuanceService> service_;
  Issuers issuers_;
  AdmissionContext context_;
};

// ---------------------------------------------------------------------------------------------
// Malformed input: one row per case, the exact answer. A 400 is for what is not an AdmissionReview
// at all (no uid to answer to); everything else is an AdmissionReview with allowed: false.

struct MalformedRow {
  const char* name;
  std::string body;
  int http_status;
  std::string expected;  // the plain-text body (400), or the response JSON (200)
};

std::string With(const std::function<void(Json&)>& edit) {
  Json review = {{"apiVersion", "admission.k8s.io/v1"},
                 {"kind", "AdmissionReview"},
                 {"request", Request(kCertificateKind, "CREATE", Object(kCertificateKind, CertificateSpec()))}};
  edit(review);
  return review.dump();
}

std::string Expect400(const std::string& reason) { return "not an AdmissionReview: " + reason + "\n"; }
std::string Expect200(int code, const std::string& message) { return Denied(code, message).dump(); }

class MalformedInput : public AdmissionTest, public ::testing::WithParamInterface<MalformedRow> {};

TEST_P(MalformedInput, IsAnsweredWithTheReasonAndWhere) {
  const MalformedRow& row = GetParam();
  for (auto* entry : {&Validate, &Mutate}) {
    const AdmissionOutcome out = entry(row.body, context_);
    EXPECT_EQ(out.http_status, row.http_status) << out.body;
    if (row.http_status == 400) {
      EXPECT_EQ(out.body, row.expected);
    } else {
      EXPECT_EQ(Json::parse(out.body), Json::parse(row.expected)) << out.body;
    }
    EXPECT_EQ(out.result, "invalid");
  }
}

const std::string kTruncated = With([](Json&) {}).substr(0, 100);

INSTANTIATE_TEST_SUITE_P(
    Envelope, MalformedInput,
    ::testing::Values(
        MalformedRow{"NotJson", "hello", 400, Expect400("the body is not JSON (syntax error at byte 1)")},
        MalformedRow{"Empty", "", 400, Expect400("the body is not JSON (empty at byte 1)")},
        MalformedRow{"Truncated", kTruncated, 400, Expect400("the body is not JSON (syntax error at byte 101)")},
        MalformedRow{"NumberOutOfRange", R"({"apiVersion": 1e999})", 400,
                     Expect400("the body is not JSON that can be read (a number out of range)")},
        MalformedRow{"AnArray", "[1, 2]", 400, Expect400("the body is an array, not a JSON object")},
        MalformedRow{"AString", R"("AdmissionReview")", 400, Expect400("the body is a string, not a JSON object")},
        MalformedRow{"V1beta1", With([](Json& r) { r["apiVersion"] = "admission.k8s.io/v1beta1"; }), 400,
                     Expect400("apiVersion \"admission.k8s.io/v1beta1\" is not served; this webhook speaks "
                               "admission.k8s.io/v1 (list only v1 in the webhook configuration's "
                               "admissionReviewVersions)")},
        MalformedRow{"NoApiVersion", With([](Json& r) { r.erase("apiVersion"); }), 400,
                     Expect400("apiVersion is missing; this webhook speaks admission.k8s.io/v1 (list only v1 in the "
                               "webhook configuration's admissionReviewVersions)")},
        MalformedRow{"ApiVersionNotAString", With([](Json& r) { r["apiVersion"] = 1; }), 400,
                     Expect400("apiVersion is missing; this webhook speaks admission.k8s.io/v1 (list only v1 in the "
                               "webhook configuration's admissionReviewVersions)")},
        MalformedRow{"WrongKind", With([](Json& r) { r["kind"] = "ConversionReview"; }), 400,
                     Expect400("kind \"ConversionReview\", expected AdmissionReview")},
        MalformedRow{"NoRequest", With([](Json& r) { r.erase("request"); }), 400, Expect400("request is missing")},
        MalformedRow{"NullRequest", With([](Json& r) { r["request"] = nullptr; }), 400,
                     Expect400("request is missing")},
        MalformedRow{"RequestNotAnObject", With([](Json& r) { r["request"] = "x"; }), 400,
                     Expect400("request must be an object, not a string")},
        MalformedRow{"NoUid", With([](Json& r) { r["request"].erase("uid"); }), 400,
                     Expect400("request.uid is missing or empty (it must be a non-empty string)")},
        MalformedRow{"EmptyUid", With([](Json& r) { r["request"]["uid"] = ""; }), 400,
                     Expect400("request.uid is missing or empty (it must be a non-empty string)")},
        MalformedRow{"UidNotAString", With([](Json& r) { r["request"]["uid"] = 42; }), 400,
                     Expect400("request.uid is missing or empty (it must be a non-empty string)")},
        MalformedRow{"NoKind", With([](Json& r) { r["request"].erase("kind"); }), 200,
                     Expect200(400, "request.kind: must be an object with group, version and kind")},
        MalformedRow{"KindOfWrongType", With([](Json& r) { r["request"]["kind"]["kind"] = {"Certificate"}; }), 200,
                     Expect200(400, "request.kind.kind: must be a string, not an array")},
        MalformedRow{"NoOperation", With([](Json& r) { r["request"].erase("operation"); }), 200,
                     Expect200(400, "request.operation: must be CREATE, UPDATE, DELETE or CONNECT (got \"\")")},
        MalformedRow{"UnknownOperation", With([](Json& r) { r["request"]["operation"] = "PATCH"; }), 200,
                     Expect200(400, "request.operation: must be CREATE, UPDATE, DELETE or CONNECT (got \"PATCH\")")},
        MalformedRow{"NamespaceNotAString", With([](Json& r) { r["request"]["namespace"] = Json::object(); }), 200,
                     Expect200(400, "request.namespace: must be a string, not an object")},
        MalformedRow{"NoObjectOnCreate", With([](Json& r) { r["request"].erase("object"); }), 200,
                     Expect200(400, "request.object is missing: a CREATE review carries the object")},
        MalformedRow{"NullObjectOnUpdate",
                     With([](Json& r) {
                       r["request"]["operation"] = "UPDATE";
                       r["request"]["object"] = nullptr;
                     }),
                     200, Expect200(400, "request.object is missing: a UPDATE review carries the object")},
        MalformedRow{"ObjectAnArray", With([](Json& r) { r["request"]["object"] = Json::array(); }), 200,
                     Expect200(400, "request.object: must be an object, not an array")},
        MalformedRow{"ObjectANumber", With([](Json& r) { r["request"]["object"] = 7; }), 200,
                     Expect200(400, "request.object: must be an object, not a number")},
        MalformedRow{"ResourceNotAnObject", With([](Json& r) { r["request"]["resource"] = "certificates"; }), 200,
                     Expect200(400, "request.resource: must be an object")}),
    [](const auto& info) { return std::string(info.param.name); });

// Not malformed for Mutate (it judges nothing), refused by Validate.
TEST_F(AdmissionTest, UnknownResourceKindsAreRefusedByValidateAndLeftAloneByMutate) {
  const auto pod = Body(Request(Gvk("", "v1", "Pod"), "CREATE", {{"spec", Json::object()}}));
  const auto out = Validate(pod, context_);
  EXPECT_EQ(Json::parse(out.body),
            Denied(400, "request.kind: \"v1 Pod\" is not a resource this webhook judges (certwright.dev/v1alpha1 "
                        "Certificate, Issuer, ClusterIssuer, CertificatePolicy, TrustBundle; certificates.k8s.io/v1 "
                        "CertificateSigningRequest)"));
  EXPECT_EQ(out.resource, "pods") << "metric labels from a fixed set";
  EXPECT_EQ(out.result, "invalid");
  EXPECT_TRUE(Response(Mutate(pod, context_))["allowed"]);

  const auto v2 = Body(Request(Gvk("certwright.dev", "v2", "Certificate"), "CREATE", {{"spec", Json::object()}}));
  EXPECT_EQ(Message(Validate(v2, context_)),
            "request.kind: \"certwright.dev/v2 Certificate\" is not served; this webhook judges certwright.dev/v1alpha1");
}

TEST_F(AdmissionTest, WrongTypesInSpecFieldsNameTheField) {
  struct Row {
    const char* field;
    Json value;
    std::string message;
  };
  for (const Row& row : {
           Row{"dnsNames", "web.example", "spec.dnsNames: must be a list of strings"},
           Row{"dnsNames", {"a.example", 7}, "spec.dnsNames[1]: must be a string"},
           Row{"duration", 90, "spec.duration: must be a string"},
           Row{"privateKey", "RSA", "spec.privateKey: must be an object"},
           Row{"isCA", "yes", "spec.isCA: must be true or false"},
           Row{"issuerRef", {"web-ca"}, "spec.issuerRef: must be an object"},
       }) {
    Json spec = CertificateSpec();
    spec[row.field] = row.value;
    EXPECT_EQ(Json::parse(ValidateCertificate(spec).body), Denied(400, row.message)) << row.field;
  }
  Json object = Object(kCertificateKind, CertificateSpec());
  object["spec"] = "not an object";
  EXPECT_EQ(Message(Validate(Body(Request(kCertificateKind, "CREATE", object)), context_)), "spec: must be an object");
}

// The HTTP layer bounds a body at 1 MiB; inside it nothing may go quadratic or deep.
TEST_F(AdmissionTest, HugeStringsAndDeepNestingAreAnsweredQuickly) {
  const std::string huge(1 << 20, 'a');
  const auto started = std::chrono::steady_clock::now();
  for (const char* field : {"secretName", "commonName"}) {
    Json spec = CertificateSpec();
    spec[field] = huge;
    const auto out = ValidateCertificate(spec);
    EXPECT_FALSE(Response(out)["allowed"]) << field;
  }
  for (const char* field : {"dnsNames", "uris", "emailAddresses", "ipAddresses"}) {
    Json spec = CertificateSpec();
    spec[field] = {huge};
    const auto out = ValidateCertificate(spec);
    EXPECT_FALSE(Response(out)["allowed"]) << field;
    EXPECT_LT(out.body.size(), 5000u) << field << ": the message quotes the start of the name, not all of it";
  }
  Json many = CertificateSpec();
  many["dnsNames"] = Json::array();
  for (int i = 0; i < 20000; ++i) many["dnsNames"].push_back("h" + std::to_string(i) + ".team-a.svc");
  ValidateCertificate(many);
  // A huge uid and apiVersion are echoed cut.
  EXPECT_EQ(Validate(With([&](Json& r) { r["apiVersion"] = huge; }), context_).body,
            Expect400("apiVersion \"" + std::string(64, 'a') +
                      "...\" (1048576 bytes) is not served; this webhook speaks admission.k8s.io/v1 (list only v1 in "
                      "the webhook configuration's admissionReviewVersions)"));
  // Half a million levels deep, in the spec and as an UPDATE's old spec (compared, bounded).
  const std::string deep = std::string(500000, '[') + std::string(500000, ']');
  const std::string body = With([](Json& r) {
    r["request"]["operation"] = "UPDATE";
    r["request"]["object"]["spec"]["subject"] = "DEEP";
    r["request"]["oldObject"] = r["request"]["object"];
  });
  std::string nested = body;
  for (int i = 0; i < 2; ++i) nested.replace(nested.find("\"DEEP\""), 6, deep);
  const auto too_deep = Validate(nested, context_);
  EXPECT_EQ(too_deep.http_status, 400);
  EXPECT_EQ(too_deep.body.rfind("not an AdmissionReview: the body nests deeper than 128 levels (at byte ", 0), 0u)
      << too_deep.body;
  EXPECT_EQ(Validate(deep, context_).http_status, 400);
  // 120 levels is still read (and refused for the field), as is a bracket inside a string.
  std::string shallow = body;
  for (int i = 0; i < 2; ++i) {
    shallow.replace(shallow.find("\"DEEP\""), 6, std::string(100, '[') + "\"[[[[\"" + std::string(100, ']'));
  }
  EXPECT_EQ(Message(Validate(shallow, context_)), "spec.subject: must be an object");
  // About half a second optimised, ten under ASan in Debug; quadratic in 1 MiB would be hours.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60));
}

// Every prefix of a review, every byte replaced, every member of every type: an answer each time
// (both entry points are noexcept, so an escaping exception would end the test binary).
TEST_F(AdmissionTest, EveryTruncationCorruptionAndTypeSwapIsAnswered) {
  SetPolicies({{"team-dns", R"({"allowed": {"dnsNames": ["*.{{namespace}}.svc"]}})"}});
  const Json review = Json::parse(With([](Json&) {}));
  const std::string body = review.dump();
  auto answered = [](const AdmissionOutcome& out) {
    if (out.http_status == 400) return out.body.rfind("not an AdmissionReview: ", 0) == 0;
    const Json parsed = Json::parse(out.body, nullptr, false);
    return out.http_status == 200 && parsed.is_object() && parsed["response"]["uid"].is_string() &&
           parsed["response"]["allowed"].is_boolean();
  };
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_EQ(Validate(body.substr(0, n), context_).http_status, 400) << n;
  }
  for (size_t i = 0; i < body.size(); ++i) {
    for (char c : {'"', '{', ']', '1', 'x', '\0', '\xff'}) {
      std::string corrupted = body;
      corrupted[i] = c;
      EXPECT_TRUE(answered(Validate(corrupted, context_))) << corrupted;
      EXPECT_TRUE(answered(Mutate(corrupted, context_))) << corrupted;
    }
  }
  const Json flat = review.flatten();
  for (auto it = flat.begin(); it != flat.end(); ++it) {
    // The member and each of its parents.
    for (Json::json_pointer pointer(it.key()); !pointer.empty(); pointer = pointer.parent_pointer()) {
      for (const Json& value : {Json(nullptr), Json(1), Json(-1.5), Json("s"), Json::array(), Json::object(), Json(true)}) {
        Json swapped = review;
        swapped[pointer] = value;
        EXPECT_TRUE(answered(Validate(swapped.dump(), context_))) << pointer.to_string();
        EXPECT_TRUE(answered(Mutate(swapped.dump(), context_))) << pointer.to_string();
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Validation: the controllers' parsers, the same message for the same field.

struct CertificateRow {
  const char* name;
  std::function<void(Json&)> edit;
  std::string message;
};

class CertificateValidation : public AdmissionTest, public ::testing::WithParamInterface<CertificateRow> {};

TEST_P(CertificateValidation, DeniesWithTheControllersMessage) {
  Json spec = CertificateSpec();
  GetParam().edit(spec);
  const auto out = ValidateCertificate(spec);
  EXPECT_EQ(Json::parse(out.body), Denied(400, GetParam().message));
  EXPECT_EQ(out.result, "denied");
  EXPECT_EQ(out.resource, "certificates");
  EXPECT_EQ(out.operation, "CREATE");
  auto controller = api::ParseCertificateSpec(spec);
  ASSERT_FALSE(controller.ok());
  EXPECT_EQ(controller.error().message(), GetParam().message) << "the controller says the same";
  // And on UPDATE when the spec changed.
  Json update = Request(kCertificateKind, "UPDATE", Object(kCertificateKind, spec));
  update["oldObject"] = Object(kCertificateKind, CertificateSpec());
  EXPECT_EQ(Message(Validate(Body(update), context_)), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, CertificateValidation,
    ::testing::Values(
        CertificateRow{"BadDnsName", [](Json& s) { s["dnsNames"] = {"ok.example", "bad name.example"}; },
                       "spec.dnsNames[1]: \"bad name.example\" is not a valid DNS name: character ' ' is not allowed"},
        CertificateRow{"WildcardNotLeading", [](Json& s) { s["dnsNames"] = {"a.*.example"}; },
                       "spec.dnsNames[0]: \"a.*.example\" is not a valid DNS name: a wildcard '*' is allowed only as "
                       "the whole leftmost label"},
        CertificateRow{"BadIp", [](Json& s) { s["ipAddresses"] = {"10.0.0.256"}; },
                       "spec.ipAddresses[0]: \"10.0.0.256\" is not a valid IPv4 or IPv6 address"},
        CertificateRow{"BadUri", [](Json& s) { s["uris"] = {"not a uri"}; },
                       "spec.uris[0]: \"not a uri\" is not a valid URI: it has no scheme (RFC 5280 requires an absolute URI)"},
        CertificateRow{"BadEmail", [](Json& s) { s["emailAddresses"] = {"nobody"}; },
                       "spec.emailAddresses[0]: \"nobody\" is not a valid email address"},
        CertificateRow{"RenewBeforeNotShorter", [](Json& s) { s["duration"] = "24h", s["renewBefore"] = "24h"; },
                       "spec.renewBefore: renewBefore must be shorter than duration"},
        CertificateRow{"RsaSize", [](Json& s) { s["privateKey"] = {{"algorithm", "RSA"}, {"size", 1024}}; },
                       "spec.privateKey.size: RSA keys must have size 2048, 3072 or 4096"},
        CertificateRow{"Ed25519Size", [](Json& s) { s["privateKey"] = {{"algorithm", "Ed25519"}, {"size", 256}}; },
                       "spec.privateKey.size: Ed25519 keys have no size; remove privateKey.size"},
        CertificateRow{"IssuerKind", [](Json& s) { s["issuerRef"]["kind"] = "Vault"; },
                       "spec.issuerRef.kind: must be Issuer or ClusterIssuer (got \"Vault\")"},
        CertificateRow{"NoIssuerName", [](Json& s) { s["issuerRef"].erase("name"); },
                       "spec.issuerRef.name: is required"},
        CertificateRow{"SecretName", [](Json& s) { s["secretName"] = "Web_TLS"; },
                       "spec.secretName: \"Web_TLS\" is not a valid Secret name (lower-case RFC 1123 subdomain, at "
                       "most 253 characters)"},
        CertificateRow{"SubjectCountry", [](Json& s) { s["subject"] = {{"countries", {"Germany"}}}; },
                       "spec: subject C \"Germany\" is 7 characters; RFC 5280 allows at most 2"},
        CertificateRow{"CommonNameTooLong", [](Json& s) { s["commonName"] = std::string(65, 'c'); },
                       "spec: subject CN \"" + std::string(65, 'c') + "\" is 65 characters; RFC 5280 allows at most 64"},
        CertificateRow{"NoSpec", [](Json& s) { s = Json::object(); }, "spec.secretName: is required"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(AdmissionTest, IssuersAndPoliciesAreJudgedByTheirParsers) {
  struct Row {
    Json kind;
    std::string spec;
    std::string message;
  };
  for (const Row& row : {
           Row{kIssuerKind, R"({"selfSigned": {}, "ca": {"secretName": "x"}})",
               "spec: exactly one of selfSigned, ca, pkcs11 or awsKMS must be set"},
           Row{kIssuerKind, R"({"ca": {"secretName": "Bad_Name"}})",
               "spec.ca.secretName: \"Bad_Name\" is not a valid Secret name"},
           Row{kClusterIssuerKind, R"({"selfSigned": {}, "minDuration": "48h", "maxDuration": "24h"})",
               "spec.minDuration: minDuration must not be longer than maxDuration"},
           Row{kClusterIssuerKind,
               R"({"pkcs11": {"modulePath": "lib.so", "keyURI": "pkcs11:token=a", "pinSecretRef": {"name": "pin"},
                   "bootstrap": {"mode": "SelfSigned", "subject": {"commonName": "root"}}}})",
               "spec.pkcs11.modulePath: modulePath must be an absolute path"},
           Row{kPolicyKind, R"({"allowed": {"ipAddresses": ["10.0.0.0/33"]}})", ""},
           Row{kPolicyKind, R"({"selector": {"doors": ["Ingress"]}})",
               "spec.selector.doors[0]: must be Certificate, CertificateSigningRequest or PodCertificateRequest (got "
               "\"Ingress\")"},
           // What only the webhook and controller can judge: the inline PEM.
           Row{kTrustBundleKind,
               R"({"sources": [{"inLine": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}],
                   "target": {"configMap": {"key": "ca.crt"}}})",
               "spec.sources[0].inLine: PEM block 1 is not a valid DER certificate"},
       }) {
    const Json spec = Json::parse(row.spec);
    const bool cluster = row.kind["kind"] != "Issuer";
    const auto out = Validate(Body(Request(row.kind, "CREATE", Object(row.kind, spec, cluster ? "" : "team-a"),
                                           cluster ? "" : "team-a")),
                              context_);
    std::string expected = row.message;
    if (row.kind == kTrustBundleKind) {
      auto parsed = api::ParseTrustBundleSpec(spec);
      ASSERT_FALSE(parsed.ok());
      EXPECT_EQ(parsed.error().message().rfind(expected, 0), 0u) << parsed.error().message();
      expected = parsed.error().message();  // OpenSSL's reason follows
    } else if (row.kind == kPolicyKind) {
      auto parsed = api::ParsePolicySpec(spec);
      ASSERT_FALSE(parsed.ok());
      if (expected.empty()) expected = parsed.error().message();  // the engine's CIDR message
      EXPECT_EQ(parsed.error().message(), expected);
    } else {
      EXPECT_EQ(api::ParseIssuerSpec(spec).error().message(), expected);
    }
    EXPECT_EQ(Json::parse(out.body), Denied(400, expected)) << row.spec;
  }
}

TEST_F(AdmissionTest, ANamespacedIssuerOutsideCustodyIsRefusedWithTheCustodyMessage) {
  const Json spec = Json::parse(R"({"awsKMS": {"keyID": "k", "region": "eu-west-1", "caSecretRef": {"name": "ca"}}})");
  EXPECT_EQ(Json::parse(Validate(Body(Request(kIssuerKind, "CREATE", Object(kIssuerKind, spec))), context_).body),
            Denied(403, "spec.awsKMS.credentialsSecretRef is required for a namespaced Issuer: certwright does not lend "
                        "its own AWS credentials to namespaces (the controller's --issuer-ambient-credentials allows "
                        "it)"));
  // A ClusterIssuer is the cluster admin's to configure.
  EXPECT_TRUE(Response(Validate(
      Body(Request(kClusterIssuerKind, "CREATE", Object(kClusterIssuerKind, spec, ""), "")), context_))["allowed"]);
}

TEST_F(AdmissionTest, ValidObjectsAreAllowed) {
  const auto out = ValidateCertificate(CertificateSpec());
  EXPECT_EQ(Json::parse(out.body), Json::parse(R"({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
      "response": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": true}})"));
  EXPECT_EQ(out.result, "allowed");
  EXPECT_TRUE(Response(Validate(Body(Request(kPolicyKind, "CREATE",
                                             Object(kPolicyKind, Json::parse(R"({"allowed": {"dnsNames": ["*"]}})"), ""),
                                             "")),
                                context_))["allowed"]);
}

TEST_F(AdmissionTest, DeletesStatusWritesAndUnchangedSpecsAreAllowed) {
  Json bad = CertificateSpec();
  bad["dnsNames"] = {"bad name"};
  Json del = Request(kCertificateKind, "DELETE", nullptr);
  del["oldObject"] = Object(kCertificateKind, bad);
  EXPECT_TRUE(Response(Validate(Body(del), context_))["allowed"]);
  Json status = Request(kCertificateKind, "UPDATE", Object(kCertificateKind, bad));
  status["subResource"] = "status";
  EXPECT_TRUE(Response(Validate(Body(status), context_))["allowed"]) << "the controller writes status";
  Json label = Request(kCertificateKind, "UPDATE", Object(kCertificateKind, bad));
  label["oldObject"] = Object(kCertificateKind, bad);
  label["object"]["metadata"]["labels"] = {{"team", "a"}};
  EXPECT_TRUE(Response(Validate(Body(label), context_))["allowed"]) << "nothing new to judge";
  Json finalizing = Request(kCertificateKind, "UPDATE", Object(kCertificateKind, bad));
  finalizing["oldObject"] = Object(kCertificateKind, bad);
  finalizing["object"]["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z";
  EXPECT_TRUE(Response(Validate(Body(finalizing), context_))["allowed"]) << "removing a finalizer changes no spec";
  Json deleting = Request(kCertificateKind, "UPDATE", Object(kCertificateKind, bad));
  deleting["oldObject"] = Object(kCertificateKind, CertificateSpec());
  deleting["object"]["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z";
  EXPECT_FALSE(Response(Validate(Body(deleting), context_))["allowed"])
      << "an object held by a finalizer of the user's own is judged when its spec changes";
}

// ---------------------------------------------------------------------------------------------
// The issuance policy at admission.

TEST_F(AdmissionTest, AnUnknownIssuerIsAllowedWithAWarning) {
  Json spec = CertificateSpec();
  spec["issuerRef"] = {{"name", "later"}, {"kind", "ClusterIssuer"}};
  const Json response = Response(ValidateCertificate(spec));
  EXPECT_TRUE(response["allowed"]);
  EXPECT_EQ(response["warnings"], Json::array({"spec.issuerRef: ClusterIssuer later does not exist yet; the Certificate "
                                               "is issued once it is ready, and its policies are checked then"}));
  issuers_.Put("ClusterIssuer", "", "broken", {{"ca", {{"secretName", "Bad_Name"}}}});
  spec["issuerRef"]["name"] = "broken";
  EXPECT_EQ(Response(ValidateCertificate(spec))["warnings"][0],
            "spec.issuerRef: ClusterIssuer broken is not ready; a cluster admin finds why in its status (kubectl "
            "describe clusterissuer broken); the Certificate is issued once it is ready, and its policies are checked "
            "then")
      << "a ClusterIssuer's own message is the admin's";
}

TEST_F(AdmissionTest, APolicyDenialNamesThePolicyAndRule) {
  SetPolicies({{"team-dns", R"({"allowed": {"dnsNames": ["*.{{namespace}}.svc"]}})"}});
  EXPECT_TRUE(Response(ValidateCertificate(CertificateSpec()))["allowed"]);
  Json spec = CertificateSpec();
  spec["dnsNames"] = {"web.team-a.svc", "api.evil.com"};
  const auto out = ValidateCertificate(spec);
  const std::string message = Message(out);
  EXPECT_EQ(Response(out)["status"]["code"], 403);
  EXPECT_EQ(out.result, "denied");
  EXPECT_EQ(message,
            "CertificatePolicy \"team-dns\": allowed.dnsNames: \"api.evil.com\" matches none of [\"*.{{namespace}}.svc\"]");
  // The same request through the controller's door gets the same message.
  issuance::IssuanceRequest r;
  r.door = issuance::Door::kCertificate;
  r.ns = "team-a";
  r.name = "web";
  auto handle = std::make_shared<issuance::IssuerHandle>();
  handle->kind = "Issuer";
  handle->ns = "team-a";
  handle->name = "web-ca";
  handle->spec = api::ParseIssuerSpec(Json::parse(R"({"ca": {"secretName": "web-ca"}})")).value();
  r.issuer = handle;
  r.tmpl = api::TemplateOf(api::ParseCertificateSpec(spec).value()).value();
  EXPECT_EQ(service_->Decide(r).error().message(), message);
}

TEST_F(AdmissionTest, KeyAlgorithmsAndDurationsAreJudgedAgainstTheIssuerAndPolicies) {
  SetPolicies({{"strong-keys", R"({"allowed": {"dnsNames": ["*.team-a.svc"], "keyAlgorithms": [{"algorithm": "RSA",
                                   "minSize": 3072}]}, "constraints": {"maxDuration": "720h"}})"}});
  Json spec = CertificateSpec();
  EXPECT_EQ(Message(ValidateCertificate(spec)),
            "CertificatePolicy \"strong-keys\": allowed.keyAlgorithms: ECDSA P-256 keys are not allowed (allowed: RSA "
            ">= 3072)");
  spec["privateKey"] = {{"algorithm", "RSA"}, {"size", 3072}};
  spec["renewBefore"] = "800h";
  const Json response = Response(ValidateCertificate(spec));
  EXPECT_TRUE(response["allowed"]);
  EXPECT_EQ(response["warnings"],
            Json::array({"spec.duration: certificates are issued for 720h0m0s, not 2160h0m0s (the maxDuration of Issuer "
                         "team-a/web-ca or of a CertificatePolicy)",
                         "spec.renewBefore: 800h0m0s is not shorter than that lifetime; renewal happens at two thirds "
                         "of it instead"}));

  issuers_.Put("Issuer", "team-a", "web-ca", {{"ca", {{"secretName", "web-ca"}}}, {"minDuration", "4000h"}});
  EXPECT_EQ(Message(ValidateCertificate(spec)),
            "the requested duration 2160h0m0s is shorter than the minDuration 4000h0m0s of Issuer team-a/web-ca");
}

TEST_F(AdmissionTest, ASelfSignedIssuerDecidesWithoutAnyKey) {
  Json spec = CertificateSpec();
  spec["issuerRef"]["name"] = "self";
  const Json response = Response(ValidateCertificate(spec));
  EXPECT_TRUE(response["allowed"]) << response.dump();
  EXPECT_FALSE(response.contains("warnings")) << response.dump();
}

TEST_F(AdmissionTest, TheKubernetesSignersIssuerSignsNoCertificates) {
  issuance::CustodyRules custody;
  custody.kubernetes_signers_issuer = "ClusterIssuer/corp-ca";
  UseService(custody);
  Json spec = CertificateSpec();
  spec["issuerRef"] = {{"name", "corp-ca"}, {"kind", "ClusterIssuer"}};
  EXPECT_EQ(Message(ValidateCertificate(spec)),
            "ClusterIssuer corp-ca is the controller's --kubernetes-signers-issuer: it signs only kubernetes.io/"
            "kube-apiserver-client and kubernetes.io/kubelet-serving CertificateSigningRequests, under "
            "kube-controller-manager's rules, not Certificate requests");
}

TEST_F(AdmissionTest, NamespaceLabelsSelectPoliciesAndAnUnknownNamespaceIsLeftToTheController) {
  SetPolicies({{"prod-only", R"({"selector": {"namespaces": {"matchLabels": {"tier": "prod"}}},
                                 "denied": {"dnsNames": ["*.team-a.svc"]}})"}});
  std::map<std::string, std::map<std::string, std::string>> labels = {{"team-a", {{"tier", "dev"}}}};
  service_->SetNamespaceLabels([&](const std::string& ns) -> std::optional<std::map<std::string, std::string>> {
    auto it = labels.find(ns);
    if (it == labels.end()) return std::nullopt;
    return it->second;
  });
  EXPECT_TRUE(Response(ValidateCertificate(CertificateSpec()))["allowed"]) << "not selected in dev";
  labels["team-a"]["tier"] = "prod";
  EXPECT_EQ(Message(ValidateCertificate(CertificateSpec())),
            "CertificatePolicy \"prod-only\": denied.dnsNames: \"web.team-a.svc\" matches the denied pattern \"*.team-a.svc\"");
  labels.clear();
  const Json response = Response(ValidateCertificate(CertificateSpec()));
  EXPECT_TRUE(response["allowed"]) << "a namespace created a moment ago: the controller judges it before signing";
  EXPECT_EQ(response["warnings"][0],
            "CertificatePolicies were not checked at admission (namespace team-a is not in the controller's cache yet "
            "(its labels decide which CertificatePolicies apply); retrying); the controller checks them before it signs");
}

// ---------------------------------------------------------------------------------------------
// CertificateSigningRequests addressed to our signers.

class CsrAdmissionTest : public AdmissionTest {
 protected:
  void SetUp() override { key_ = testing::GenerateTestKey(signer::KeySpec::EcdsaP256()); }

  Json CsrSpec(const std::string& signer, const std::vector<std::string>& sans = {"DNS:web.team-a.svc"}) {
    return {{"signerName", signer},
            {"request", api::Base64Encode(testing::MakeCsrPem(key_.get(), "web", sans))},
            {"usages", {"digital signature", "server auth"}}};
  }

  AdmissionOutcome ValidateCsr(const Json& spec, const std::string& user = "alice") {
    Json request = Request(kCsrKind, "CREATE", Object(kCsrKind, spec, ""), "", "csr-1");
    request["userInfo"]["username"] = user;
    return Validate(Body(request), context_);
  }

  ossl::PKey key_;
};

TEST_F(CsrAdmissionTest, PolicyDeniesAtCreateWithThePolicyAndRuleNamed) {
  SetPolicies({{"no-evil", R"({"denied": {"dnsNames": ["*.evil.com"]}})"}});
  EXPECT_TRUE(Response(ValidateCsr(CsrSpec("clusterissuers.certwright.dev/corp-ca")))["allowed"]);
  const auto out = ValidateCsr(CsrSpec("clusterissuers.certwright.dev/corp-ca", {"DNS:api.evil.com"}));
  EXPECT_EQ(Json::parse(out.body),
            Denied(403, "CertificatePolicy \"no-evil\": denied.dnsNames: \"api.evil.com\" matches the denied pattern \"*.evil.com\""));
  EXPECT_EQ(out.resource, "certificatesigningrequests");
  EXPECT_EQ(Message(ValidateCsr(CsrSpec("issuers.certwright.dev/team-a.web-ca", {"DNS:api.evil.com"}))),
            "CertificatePolicy \"no-evil\": denied.dnsNames: \"api.evil.com\" matches the denied pattern \"*.evil.com\"");
}

TEST_F(CsrAdmissionTest, TheRequesterIsTheReviewsUser) {
  SetPolicies({{"bots", R"({"selector": {"requesters": {"serviceAccounts": ["team-a/*"]}},
                           "denied": {"dnsNames": ["*.team-a.svc"]}})"}});
  EXPECT_TRUE(Response(ValidateCsr(CsrSpec("clusterissuers.certwright.dev/corp-ca")))["allowed"]);
  EXPECT_EQ(Message(ValidateCsr(CsrSpec("clusterissuers.certwright.dev/corp-ca"), "system:serviceaccount:team-a:bot")),
            "CertificatePolicy \"bots\": denied.dnsNames: \"web.team-a.svc\" matches the denied pattern \"*.team-a.svc\"");
}

TEST_F(CsrAdmissionTest, AUserWithoutTheReferenceRightLearnsNothingOfTheIssuer) {
  SetPolicies({{"no-evil", R"({"denied": {"dnsNames": ["*.evil.com"]}})"}});
  std::vector<std::string> asked;
  context_.may_reference = [&](const Json& user, const std::string& ns, const std::string& signer,
                               const std::string& wildcard) -> Result<bool> {
    asked.push_back(user.value("username", "") + " " + ns + " " + signer + " " + wildcard);
    if (user.value("username", "") == "down") return Unavailable("the API server did not answer");
    return user.value("username", "") == "alice";
  };
  EXPECT_TRUE(Response(ValidateCsr(CsrSpec("issuers.certwright.dev/team-a.web-ca")))["allowed"]);
  EXPECT_EQ(asked, std::vector<std::string>{"alice team-a issuers.certwright.dev/team-a.web-ca issuers.certwright.dev/*"});
  for (const char* signer : {"clusterissuers.certwright.dev/corp-ca", "clusterissuers.certwright.dev/nonexistent"}) {
    EXPECT_EQ(Json::parse(ValidateCsr(CsrSpec(signer, {"DNS:api.evil.com"}), "mallory").body),
              Denied(403, "user \"mallory\" may not use ClusterIssuer " + std::string(signer).substr(30) +
                              ": it needs the verb \"reference\" on resource \"signers\" of group certwright.dev for \"" +
                              signer + "\""))
        << "the same answer whether it exists or what its policies say";
  }
  const Json unchecked = Response(ValidateCsr(CsrSpec("clusterissuers.certwright.dev/corp-ca", {"DNS:api.evil.com"}), "down"));
  EXPECT_TRUE(unchecked["allowed"]);
  EXPECT_EQ(unchecked["warnings"][0],
            "spec.signerName: whether \"down\" may use ClusterIssuer corp-ca could not be checked at admission (the API "
            "server did not answer); the CSR signer checks it before signing");
}

TEST_F(CsrAdmissionTest, OtherSignersAreNotOurs) {
  SetPolicies({{"deny-all", R"({"denied": {"dnsNames": ["*"]}})"}});
  for (const char* signer : {"example.com/foo", "kubernetes.io/kube-apiserver-client", "issuers.cert-manager.io/a.b"}) {
    Json spec = CsrSpec(signer);
    spec["request"] = "garbage";
    EXPECT_TRUE(Response(ValidateCsr(spec))["allowed"]) << signer;
  }
}

TEST_F(CsrAdmissionTest, TheKubernetesSignersDropInIsJudgedWhenConfigured) {
  context_.kubernetes_signers_issuer = "ClusterIssuer/corp-ca";
  EXPECT_EQ(Message(ValidateCsr(CsrSpec("kubernetes.io/kube-apiserver-client"))),
            "kubernetes.io/kube-apiserver-client requires the usage \"client auth\"");
}

TEST_F(CsrAdmissionTest, WhatDoesNotParseIsDeniedWithTheParsersMessage) {
  struct Row {
    std::function<void(Json&)> edit;
    int code;
    std::string message;
  };
  const std::string ca_pem = testing::MakeSoftwareCa(signer::KeySpec::EcdsaP256()).pem;
  for (const Row& row : {
           Row{[&](Json& s) { s["request"] = api::Base64Encode(ca_pem); }, 400,
               "spec.request: PEM block 1 is a \"CERTIFICATE\", expected \"CERTIFICATE REQUEST\""},
           Row{[](Json& s) { s["request"] = "!!!"; }, 400, "spec.request: is not base64"},
           Row{[](Json& s) { s["usages"] = Json::array(); }, 400,
               "spec.usages is empty: name the key usages the certificate needs"},
           Row{[](Json& s) { s["usages"] = {"cert sign"}; }, 403,
               "spec.usages: \"cert sign\" is not allowed: this signer issues end-entity certificates only"},
           Row{[](Json& s) { s["usages"] = {"server auth", 7}; }, 400, "spec.usages[1]: must be a string"},
           Row{[](Json& s) { s["expirationSeconds"] = -1; }, 400, "spec.expirationSeconds must be positive"},
           Row{[](Json& s) { s["signerName"] = "issuers.certwright.dev/no-dot"; }, 400,
               "spec.signerName: signerName \"issuers.certwright.dev/no-dot\" is not of the form "
               "issuers.certwright.dev/<namespace>.<name>"},
       }) {
    Json spec = CsrSpec("clusterissuers.certwright.dev/corp-ca");
    row.edit(spec);
    EXPECT_EQ(Json::parse(ValidateCsr(spec).body), Denied(row.code, row.message)) << spec.dump();
  }
}

TEST_F(CsrAdmissionTest, AnUnknownIssuerIsAllowedWithAWarningAndASelfSignedOneDenied) {
  const Json unknown = Response(ValidateCsr(CsrSpec("clusterissuers.certwright.dev/later")));
  EXPECT_TRUE(unknown["allowed"]);
  EXPECT_EQ(unknown["warnings"][0], "spec.signerName: ClusterIssuer later does not exist yet; the CSR is signed only if "
                                    "it is ready when the CSR is approved");
  EXPECT_EQ(Message(ValidateCsr(CsrSpec("issuers.certwright.dev/team-a.self"))),
            "Issuer team-a/self is selfSigned: it has no CA key to sign requests with");
}

// ---------------------------------------------------------------------------------------------
// Mutate: the issuer's key type when the Certificate names none, idempotently.

class MutateTest : public AdmissionTest {
 protected:
  void SetUp() override {
    issuers_.Put("ClusterIssuer", "", "hsm-rsa", Json::parse(R"({"pkcs11": {"modulePath": "/usr/lib/softhsm/libsofthsm2.so",
        "keyURI": "pkcs11:token=ca;object=root", "pinSecretRef": {"name": "pin"},
        "bootstrap": {"mode": "SelfSigned", "subject": {"commonName": "root"}, "keyAlgorithm": "RSA", "keySize": 3072}}})"));
    issuers_.Put("ClusterIssuer", "", "kms-ed", Json::parse(R"({"awsKMS": {"keyID": "k", "region": "eu-west-1",
        "bootstrap": {"mode": "CSR", "subject": {"commonName": "root"}, "keyAlgorithm": "Ed25519"}}})"));
    issuers_.Put("ClusterIssuer", "", "hsm-existing", Json::parse(R"({"pkcs11": {"modulePath": "/usr/lib/softhsm/libsofthsm2.so",
        "keyURI": "pkcs11:token=ca;object=root", "pinSecretRef": {"name": "pin"}, "caSecretRef": {"name": "root"}}})"));
  }

  Json ObjectFor(const std::string& issuer, const std::function<void(Json&)>& edit = {}) {
    Json spec = CertificateSpec();
    spec["issuerRef"] = {{"name", issuer}, {"kind", "ClusterIssuer"}};
    if (edit) edit(spec);
    return Object(kCertificateKind, spec);
  }

  // The patch, decoded; null when there is none.
  Json PatchFor(const Json& object, AdmissionOutcome* out_copy = nullptr) {
    const AdmissionOutcome out = Mutate(Body(Request(kCertificateKind, "CREATE", object)), context_);
    if (out_copy) *out_copy = out;
    const Json response = Response(out);
    EXPECT_TRUE(response["allowed"]);
    if (!response.contains("patch")) return nullptr;
    EXPECT_EQ(response["patchType"], "JSONPatch");
    return Json::parse(api::Base64Decode(response["patch"].get<std::string>()).value());
  }
};

TEST_F(MutateTest, DefaultsThePrivateKeyToTheIssuersKeyTypeOnce) {
  AdmissionOutcome out;
  const Json patch = PatchFor(ObjectFor("hsm-rsa"), &out);
  EXPECT_EQ(patch, Json::parse(R"([{"op": "add", "path": "/spec/privateKey", "value": {"algorithm": "RSA", "size": 3072}}])"));
  EXPECT_EQ(out.result, "patched");
  const Json patched = ObjectFor("hsm-rsa").patch(patch);
  EXPECT_EQ(PatchFor(patched), nullptr) << "a second pass changes nothing (reinvocationPolicy IfNeeded)";
  EXPECT_TRUE(Response(Validate(Body(Request(kCertificateKind, "CREATE", patched)), context_))["allowed"])
      << "and the patched object is valid";

  const Json partial = ObjectFor("kms-ed", [](Json& s) { s["privateKey"] = {{"encoding", "PKCS8"}}; });
  const Json ed = PatchFor(partial);
  EXPECT_EQ(ed, Json::parse(R"([{"op": "add", "path": "/spec/privateKey/algorithm", "value": "Ed25519"}])"));
  EXPECT_EQ(PatchFor(partial.patch(ed)), nullptr);
}

TEST_F(MutateTest, DoesNotGuessWhatTheIssuerDoesNotSay) {
  for (const char* issuer : {"hsm-existing", "corp-ca", "unknown"}) {
    EXPECT_EQ(PatchFor(ObjectFor(issuer)), nullptr) << issuer;
  }
  EXPECT_EQ(PatchFor(ObjectFor("hsm-rsa", [](Json& s) { s["privateKey"] = {{"algorithm", "ECDSA"}}; })), nullptr)
      << "the user's choice (and the CRD's default: ECDSA is set before the webhook sees the object)";
  EXPECT_EQ(PatchFor(ObjectFor("hsm-rsa", [](Json& s) { s["privateKey"] = {{"size", 384}}; })), nullptr);
  EXPECT_EQ(PatchFor(ObjectFor("hsm-rsa", [](Json& s) { s["privateKey"] = "RSA"; })), nullptr)
      << "malformed: validation says so";
  Json update = Request(kCertificateKind, "UPDATE", ObjectFor("hsm-rsa"));
  update["oldObject"] = ObjectFor("hsm-rsa");
  EXPECT_FALSE(Response(Mutate(Body(update), context_)).contains("patch")) << "the key was chosen at create";
}

// ---------------------------------------------------------------------------------------------
// Pods annotated certwright.dev/issuer get their podCertificate volume (webhook/src/pods.cc).

class PodMutateTest : public AdmissionTest {
 protected:
  PodMutateTest() { context_.pod_certificates = true; }

  static Json Pod(const Json& annotations, const Json& containers = Json::parse(R"([{"name": "app"}, {"name": "side"}])")) {
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", "web-0"}, {"namespace", "team-a"}, {"annotations", annotations}}},
            {"spec", {{"containers", containers}}}};
  }
  AdmissionOutcome MutatePod(const Json& pod) {
    return Mutate(Body(Request(Gvk("", "v1", "Pod"), "CREATE", pod)), context_);
  }
  Json PatchOf(const Json& pod) {
    const Json response = Response(MutatePod(pod));
    EXPECT_TRUE(response["allowed"]) << response.dump();
    if (!response.contains("patch")) return nullptr;
    return Json::parse(api::Base64Decode(response["patch"].get<std::string>()).value());
  }
};

TEST_F(PodMutateTest, AddsTheIdentityVolumeAndMountsOnce) {
  const Json pod = Pod({{"certwright.dev/issuer", "ClusterIssuer/corp-ca"}, {"certwright.dev/lifetime", "2h"}});
  const Json patch = PatchOf(pod);
  ASSERT_TRUE(patch.is_array());
  const Json patched = pod.patch(patch);
  const Json& volume = patched["spec"]["volumes"][0];
  EXPECT_EQ(volume["name"], "certwright-identity");
  const Json& sources = volume["projected"]["sources"];
  EXPECT_EQ(sources[0]["podCertificate"],
            Json::parse(R"({"signerName": "clusterissuers.certwright.dev/corp-ca", "keyType": "ECDSAP256",
                            "credentialBundlePath": "credentials.pem", "maxExpirationSeconds": 7200})"));
  EXPECT_EQ(sources[1]["clusterTrustBundle"],
            Json::parse(R"({"signerName": "clusterissuers.certwright.dev/corp-ca", "labelSelector": {}, "path": "ca.crt"})"));
  for (const auto& c : patched["spec"]["containers"]) {
    EXPECT_EQ(c["volumeMounts"], Json::parse(R"([{"name": "certwright-identity", "readOnly": true,
                                                  "mountPath": "/var/run/secrets/certwright.dev/identity"}])"));
  }
  EXPECT_EQ(PatchOf(patched), nullptr) << "a second pass adds nothing (reinvocationPolicy IfNeeded)";
  EXPECT_EQ(PatchOf(Pod({{"other", "x"}})), nullptr) << "pods without the annotation are left alone";
}

TEST_F(PodMutateTest, ANamespacedIssuerAndChosenContainers) {
  const Json pod = Pod({{"certwright.dev/issuer", "Issuer/web-ca"},
                        {"certwright.dev/containers", "side"},
                        {"certwright.dev/key-type", "ED25519"},
                        {"certwright.dev/mount-path", "/etc/identity"}});
  const Json patched = pod.patch(PatchOf(pod));
  EXPECT_EQ(patched["spec"]["volumes"][0]["projected"]["sources"][0]["podCertificate"]["signerName"],
            "issuers.certwright.dev/team-a.web-ca");
  EXPECT_EQ(patched["spec"]["volumes"][0]["projected"]["sources"][0]["podCertificate"]["keyType"], "ED25519");
  EXPECT_FALSE(patched["spec"]["containers"][0].contains("volumeMounts"));
  EXPECT_EQ(patched["spec"]["containers"][1]["volumeMounts"][0]["mountPath"], "/etc/identity");
}

TEST_F(PodMutateTest, RefusesWhatCannotWorkNamingTheAnnotation) {
  EXPECT_EQ(Message(MutatePod(Pod({{"certwright.dev/issuer", "ClusterIssuer/nope"}}))),
            "metadata.annotations[certwright.dev/issuer]: ClusterIssuer nope does not exist yet");
  EXPECT_EQ(Message(MutatePod(Pod({{"certwright.dev/issuer", "corp-ca"}}))),
            "metadata.annotations[certwright.dev/issuer]: \"corp-ca\" must be ClusterIssuer/<name> or Issuer/<name>");
  EXPECT_EQ(Message(MutatePod(Pod({{"certwright.dev/issuer", "Issuer/web-ca"}, {"certwright.dev/key-type", "ECDSAP521"}}))),
            "metadata.annotations[certwright.dev/key-type]: \"ECDSAP521\" is not one of RSA3072, RSA4096, ECDSAP256, "
            "ECDSAP384 or ED25519");
  EXPECT_EQ(Message(MutatePod(Pod({{"certwright.dev/issuer", "Issuer/web-ca"}, {"certwright.dev/lifetime", "10m"}}))),
            "metadata.annotations[certwright.dev/lifetime]: \"10m\" must be a duration from 1h to 2184h (91 days)");
  EXPECT_EQ(Message(MutatePod(Pod({{"certwright.dev/issuer", "Issuer/web-ca"}, {"certwright.dev/containers", "db"}}))),
            "metadata.annotations[certwright.dev/containers]: the pod has no container \"db\"");
  EXPECT_EQ(Message(MutatePod(Pod({{"certwright.dev/issuer", "Issuer/web-ca"}, {"certwright.dev/mount-path", "rel"}}))),
            "metadata.annotations[certwright.dev/mount-path]: \"rel\" must be an absolute path without ':' or '..'");
  for (const char* path : {"/etc/..", "/../etc", "/a/../b", ".."}) {
    EXPECT_EQ(Message(MutatePod(Pod({{"certwright.dev/issuer", "Issuer/web-ca"}, {"certwright.dev/mount-path", path}}))),
              "metadata.annotations[certwright.dev/mount-path]: \"" + std::string(path) +
                  "\" must be an absolute path without ':' or '..'");
  }
  EXPECT_TRUE(Response(MutatePod(Pod({{"certwright.dev/issuer", "Issuer/web-ca"}, {"certwright.dev/mount-path", "/etc/..d"}})))
                  .value("allowed", false))
      << "'..d' is a name, not '..'";
  EXPECT_NE(Message(MutatePod(Pod({{"certwright.dev/issuer", "Issuer/web-ca"},
                                   {"certwright.dev/dns-names", "web.team-a.svc"}})))
                .find("need a CertificatePolicy that selects ServiceAccount team-a/default"),
            std::string::npos)
      << "DNS names are granted only by a policy";
  context_.pod_certificates = false;
  EXPECT_NE(Message(MutatePod(Pod({{"certwright.dev/issuer", "Issuer/web-ca"}}))).find("serves no PodCertificateRequest API"),
            std::string::npos);
}

TEST_F(PodMutateTest, APolicyRequiredIssuerRefusesAServiceAccountNoPolicySelects) {
  issuers_.Put("ClusterIssuer", "", "strict", {{"ca", {{"secretName", "strict"}}}, {"policy", "Required"}});
  SetPolicies({{"web-pods", R"({"selector": {"requesters": {"serviceAccounts": ["team-a/web"]},
                                              "doors": ["PodCertificateRequest"]},
                                 "allowed": {"dnsNames": ["web.{{namespace}}.svc"]}})"}});
  Json pod = Pod({{"certwright.dev/issuer", "ClusterIssuer/strict"}});
  const std::string message = Message(MutatePod(pod));
  EXPECT_EQ(message.rfind("metadata.annotations[certwright.dev/issuer]: ServiceAccount team-a/default may not have a "
                          "certificate from ClusterIssuer strict: ", 0),
            0u)
      << message;
  pod["spec"]["serviceAccountName"] = "web";
  pod["metadata"]["annotations"]["certwright.dev/dns-names"] = "web.team-a.svc";
  const Json patch = PatchOf(pod);
  ASSERT_TRUE(patch.is_array()) << "the selected ServiceAccount gets its DNS name";
  EXPECT_EQ(pod.patch(patch)["spec"]["volumes"][0]["projected"]["sources"][0]["podCertificate"]["userAnnotations"],
            Json::parse(R"({"certwright.dev/dns-names": "web.team-a.svc"})"));
}

}  // namespace
}  // namespace certwright::webhook
