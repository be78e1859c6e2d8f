// tests/signer/policy_test.cc: signer/policy — selection, rules, combination, messages.
//
// Each row is a set of policies, one request and the decision expected: allowed, or denied with
// the exact message a user would see (docs/policy.md).
#include "certwright/signer/policy.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <regex>

namespace certwright::signer::policy {
namespace {

using namespace std::chrono_literals;

// A request for a Certificate "web" in namespace "team-a" from ClusterIssuer "corp-ca", for
// web.team-a.svc with an ECDSA P-256 key, 90 days; rows change what they test.
struct Request {
  CertificateTemplate tmpl;
  PolicyRequest r;
  Request() {
    tmpl.dns_names = {"web.team-a.svc"};
    r.door = Door::kCertificate;
    r.ns = "team-a";
    r.namespace_labels = {{"team", "a"}, {"env", "prod"}};
    r.name = "web";
    r.issuer_kind = "ClusterIssuer";
    r.issuer_name = "corp-ca";
    r.key = KeySpec::EcdsaP256();
  }
  // A CertificateSigningRequest from ServiceAccount team-a/builder (no namespace of its own but
  // the ServiceAccount's).
  void AsCsr() {
    r.door = Door::kCertificateSigningRequest;
    r.name = "csr-1";
    r.user = "system:serviceaccount:team-a:builder";
    r.groups = {"system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"};
    r.service_account = {{"team-a", "builder"}};
  }
  void AsPod() {
    r.door = Door::kPodCertificateRequest;
    r.name = "web-7f9c";
    r.service_account = {{"team-a", "web-sa"}};
  }
};

using SpecEdit = std::function<void(PolicySpec&)>;
struct NamedPolicy {
  std::string name;
  SpecEdit edit;
};
struct InvalidPolicy {
  std::string name;
  std::optional<PolicySelector> selector;
  std::string error;
};

struct Row {
  const char* name;
  std::vector<NamedPolicy> policies;
  std::function<void(Request&)> request;
  std::string denied;  // "": allowed; else the exact message
  bool required = false;
  std::vector<InvalidPolicy> invalid = {};
  std::optional<std::string> policy = {};  // the deciding policy, when the row checks it
  std::optional<std::chrono::seconds> max_duration = {};
  std::optional<int> max_path_length = {};
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

void Same(Request&) {}

// Building blocks for rows.
SpecEdit DenyAll() {  // selects by default, allows no DNS name: shows whether it selected
  return [](PolicySpec& s) { s.allowed.dns_names = std::vector<std::string>{}; };
}
SpecEdit AllowAll() {  // `allowed: {}`: grants, restricts nothing
  return [](PolicySpec& s) { s.allowed.present = true; };
}
SpecEdit Dns(std::vector<std::string> patterns) {
  return [patterns](PolicySpec& s) { s.allowed.dns_names = patterns; };
}
SpecEdit Both(SpecEdit a, SpecEdit b) {
  return [a, b](PolicySpec& s) {
    a(s);
    b(s);
  };
}
SpecEdit Select(std::function<void(PolicySelector&)> edit) {
  return [edit](PolicySpec& s) { edit(s.selector); };
}
PolicySelector SelectorOf(std::function<void(PolicySelector&)> edit) {
  PolicySelector s;
  edit(s);
  return s;
}
const std::string kDenyAllWeb =
    R"(CertificatePolicy "p": allowed.dnsNames: "web.team-a.svc" matches none of [])";

class PolicyEvaluation : public ::testing::TestWithParam<Row> {};

TEST_P(PolicyEvaluation, DecidesWithTheExactMessage) {
  const Row& row = GetParam();
  PolicySet set;
  for (const auto& p : row.policies) {
    PolicySpec spec;
    p.edit(spec);
    auto compiled = Compile(p.name, spec);
    ASSERT_TRUE(compiled.ok()) << p.name << ": " << compiled.error().message();
    set.Add(*compiled);
  }
  for (const auto& p : row.invalid) set.AddInvalid(p.name, p.selector, p.error);
  Request req;
  row.request(req);
  req.r.tmpl = &req.tmpl;
  PolicyDecision d = set.Evaluate(req.r, row.required);
  if (row.denied.empty()) {
    EXPECT_TRUE(d.allowed) << d.message;
    EXPECT_EQ(d.message, "");
  } else {
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.message, row.denied);
  }
  if (row.policy) {
    EXPECT_EQ(d.policy, *row.policy);
  }
  EXPECT_EQ(d.max_duration, row.max_duration);
  EXPECT_EQ(d.max_path_length, row.max_path_length);
}

INSTANTIATE_TEST_SUITE_P(
    Combination, PolicyEvaluation,
    ::testing::Values(
        Row{"NoPolicyAllows", {}, Same, "", false, {}, ""},
        Row{"NoSelectingPolicyAllows",
            {{"other", Both(DenyAll(), Select([](PolicySelector& s) { s.issuer_refs = {{"other-ca", ""}}; }))}},
            Same, "", false, {}, ""},
        Row{"RequiredWithoutSelectingPolicyDenies", {}, Same,
            R"(ClusterIssuer "corp-ca" requires a CertificatePolicy (policy: Required) and none selects this request )"
            R"((namespace "team-a", door Certificate))",
            true},
        Row{"RequiredNamesAnIssuerAndARequestWithoutNamespace", {},
            [](Request& q) {
              q.AsCsr();
              q.r.ns = "";
              q.r.issuer_kind = "Issuer";
              q.r.issuer_name = "team-ca";
            },
            R"(Issuer "team-ca" requires a CertificatePolicy (policy: Required) and none selects this request )"
            R"((no namespace, door CertificateSigningRequest))",
            true},
        Row{"RequiredIsMetByASelectingPolicy", {{"web", Dns({"*.team-a.svc"})}}, Same, "", true, {}, "web"},
        Row{"CaWithoutSelectingPolicyDenies", {}, [](Request& q) { q.tmpl.is_ca = true; },
            "CA certificates need a CertificatePolicy with allowed.isCA: true, and none selects this request"},
        Row{"OneAllowingPolicySuffices", {{"a-strict", Dns({"api.team-a.svc"})}, {"b-web", Dns({"*.team-a.svc"})}},
            Same, "", false, {}, "b-web"},
        Row{"DenyWinsOverAllow",
            {{"a-allow-all", AllowAll()},
             {"b-no-evil", [](PolicySpec& s) { s.denied.dns_names = {"**.evil.com"}; }}},
            [](Request& q) { q.tmpl.dns_names = {"web.team-a.svc", "x.y.evil.com"}; },
            R"(CertificatePolicy "b-no-evil": denied.dnsNames: "x.y.evil.com" matches the denied pattern "**.evil.com")"},
        Row{"SeveralSelectingNoneAllowsJoinsEachFirstFailure",
            {{"a", Dns({"api.team-a.svc"})},
             {"b", [](PolicySpec& s) { s.allowed.key_algorithms = std::vector<KeyAlgorithmRule>{{KeyType::kRsa, 2048}}; }}},
            Same,
            R"(no CertificatePolicy allows this request: CertificatePolicy "a": allowed.dnsNames: "web.team-a.svc" )"
            R"(matches none of ["api.team-a.svc"]; CertificatePolicy "b": allowed.keyAlgorithms: ECDSA P-256 keys )"
            R"(are not allowed (allowed: RSA >= 2048))"},
        Row{"InvalidPolicyDeniesWhatItSelects",
            {{"a-allow-all", AllowAll()}},
            Same,
            R"(CertificatePolicy "broken" is invalid and denies what it selects: spec.allowed.ipAddresses[0]: must be )"
            R"(a CIDR such as 10.0.0.0/8 or fd00::/8)",
            false,
            {{"broken", SelectorOf([](PolicySelector& s) { s.issuer_refs = {{"corp-*", "ClusterIssuer"}}; }),
              "spec.allowed.ipAddresses[0]: must be a CIDR such as 10.0.0.0/8 or fd00::/8"}},
            "broken"},
        Row{"InvalidPolicyWithoutSelectorDeniesEverything", {},
            [](Request& q) { q.r.issuer_name = "any-other"; },
            R"(CertificatePolicy "broken" is invalid and denies what it selects: spec.selector: must be an object)",
            false, {{"broken", std::nullopt, "spec.selector: must be an object"}}},
        Row{"InvalidPolicyDoesNotDenyWhatItDoesNotSelect", {}, Same, "", false,
            {{"broken", SelectorOf([](PolicySelector& s) { s.namespace_names = {"team-b"}; }), "spec.allowed.usages[0]: unknown usage"}}}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Selector, PolicyEvaluation,
    ::testing::Values(
        Row{"IssuerNameGlobAndKindSelect",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.issuer_refs = {{"corp-*", "ClusterIssuer"}}; }))}},
            Same, kDenyAllWeb},
        Row{"IssuerKindMustMatch",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.issuer_refs = {{"corp-ca", "Issuer"}}; }))}},
            Same, ""},
        Row{"IssuerRefWithoutKindSelectsEither",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.issuer_refs = {{"corp-ca", ""}}; }))}},
            Same, kDenyAllWeb},
        Row{"OneOfSeveralIssuerRefsSuffices",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.issuer_refs = {{"team-ca", "Issuer"}, {"corp-ca", "ClusterIssuer"}};
              }))}},
            Same, kDenyAllWeb},
        Row{"NamespaceNameGlobSelects",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.namespace_names = {"team-*"}; }))}}, Same,
            kDenyAllWeb},
        Row{"NamespaceNameGlobMustMatch",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.namespace_names = {"prod-*", "other"}; }))}}, Same,
            ""},
        Row{"MatchLabelsSelect",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.namespace_match_labels = {{"team", "a"}}; }))}},
            Same, kDenyAllWeb},
        Row{"MatchLabelsMustAllMatch",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.namespace_match_labels = {{"team", "a"}, {"env", "dev"}};
              }))}},
            Same, ""},
        Row{"MatchExpressionInSelects",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.namespace_match_expressions = {{"env", "In", {"prod", "staging"}}};
              }))}},
            Same, kDenyAllWeb},
        Row{"MatchExpressionInNeedsTheLabel",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.namespace_match_expressions = {{"tier", "In", {"prod"}}};
              }))}},
            Same, ""},
        Row{"MatchExpressionNotInSelectsWithoutTheLabel",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.namespace_match_expressions = {{"tier", "NotIn", {"web"}}};
              }))}},
            Same, kDenyAllWeb},
        Row{"MatchExpressionNotInExcludes",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.namespace_match_expressions = {{"env", "NotIn", {"prod"}}};
              }))}},
            Same, ""},
        Row{"MatchExpressionExistsSelects",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.namespace_match_expressions = {{"env", "Exists", {}}}; }))}},
            Same, kDenyAllWeb},
        Row{"MatchExpressionExistsNeedsTheLabel",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.namespace_match_expressions = {{"tier", "Exists", {}}}; }))}},
            Same, ""},
        Row{"MatchExpressionDoesNotExistSelects",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.namespace_match_expressions = {{"tier", "DoesNotExist", {}}};
              }))}},
            Same, kDenyAllWeb},
        Row{"MatchExpressionDoesNotExistExcludes",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.namespace_match_expressions = {{"env", "DoesNotExist", {}}};
              }))}},
            Same, ""},
        Row{"RequestWithoutNamespaceMatchesNoNamespaceSelector",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.namespace_match_expressions = {{"env", "DoesNotExist", {}}};
              }))}},
            [](Request& q) {
              q.AsCsr();
              q.r.ns = "";
              q.r.namespace_labels = {};
            },
            ""},
        Row{"UserGlobSelectsACsr",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.users = {"system:serviceaccount:team-a:*"}; }))}},
            [](Request& q) { q.AsCsr(); }, kDenyAllWeb},
        Row{"GroupSelectsACsr",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.groups = {"system:serviceaccounts:team-a"}; }))}},
            [](Request& q) { q.AsCsr(); }, kDenyAllWeb},
        Row{"ServiceAccountGlobSelectsACsr",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.service_accounts = {"team-a/*"}; }))}},
            [](Request& q) { q.AsCsr(); }, kDenyAllWeb},
        Row{"ServiceAccountGlobSelectsAPod",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.service_accounts = {"team-*/web-sa"}; }))}},
            [](Request& q) { q.AsPod(); }, kDenyAllWeb},
        Row{"RequesterMustMatch",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.users = {"alice"};
                s.service_accounts = {"team-b/*"};
              }))}},
            [](Request& q) { q.AsCsr(); }, ""},
        Row{"RequesterSelectorNeverSelectsACertificate",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.groups = {"*"}; }))}}, Same, ""},
        Row{"DoorsSelect",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.doors = {Door::kCertificateSigningRequest, Door::kPodCertificateRequest};
              }))}},
            [](Request& q) { q.AsPod(); }, kDenyAllWeb},
        Row{"DoorsMustMatch",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) { s.doors = {Door::kCertificateSigningRequest}; }))}},
            Same, ""},
        Row{"SelectedByEveryPart",
            {{"p", Both(DenyAll(), Select([](PolicySelector& s) {
                s.issuer_refs = {{"corp-ca", "ClusterIssuer"}};
                s.namespace_names = {"team-a"};
                s.namespace_match_labels = {{"team", "a"}};
                s.doors = {Door::kCertificate};
              }))}},
            Same, kDenyAllWeb}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Names, PolicyEvaluation,
    ::testing::Values(
        Row{"DnsNamesAllowed", {{"team-a-web", Dns({"*.team-a.svc", "web.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"api.team-a.svc", "web.example.com"}; }, ""},
        Row{"DnsNamesNotAllowed", {{"team-a-web", Dns({"*.team-a.svc", "web.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"web.team-a.svc", "api.evil.com"}; },
            R"(CertificatePolicy "team-a-web": allowed.dnsNames: "api.evil.com" matches none of ["*.team-a.svc", )"
            R"("web.example.com"])"},
        Row{"DnsEmptyListAllowsNone", {{"p", Dns({})}}, Same, kDenyAllWeb},
        Row{"DnsOmittedDoesNotRestrict", {{"p", AllowAll()}},
            [](Request& q) { q.tmpl.dns_names = {"anything.example.org"}; }, ""},
        Row{"DnsStarIsOneLabel", {{"p", Dns({"*.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"a.example.com"}; }, ""},
        Row{"DnsStarNeverCrossesADot", {{"p", Dns({"*.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"a.b.example.com"}; },
            R"(CertificatePolicy "p": allowed.dnsNames: "a.b.example.com" matches none of ["*.example.com"])"},
        Row{"DnsStarIsPartOfALabel", {{"p", Dns({"web-*.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"web-1.example.com"}; }, ""},
        Row{"DnsStarPartNeverCrossesADot", {{"p", Dns({"web-*.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"web-1.eu.example.com"}; },
            R"(CertificatePolicy "p": allowed.dnsNames: "web-1.eu.example.com" matches none of ["web-*.example.com"])"},
        Row{"DnsDoubleStarIsAnyRunOfLabels", {{"p", Dns({"**.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"a.example.com", "a.b.c.example.com"}; }, ""},
        Row{"DnsDoubleStarIsAtLeastOneLabel", {{"p", Dns({"**.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"example.com"}; },
            R"(CertificatePolicy "p": allowed.dnsNames: "example.com" matches none of ["**.example.com"])"},
        Row{"DnsDoubleStarInTheMiddle", {{"p", Dns({"api.**.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"api.eu.west.example.com"}; }, ""},
        Row{"DnsDoubleStarDoesNotMatchASuffixOfALabel", {{"p", Dns({"**.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"evilexample.com"}; },
            R"(CertificatePolicy "p": allowed.dnsNames: "evilexample.com" matches none of ["**.example.com"])"},
        Row{"DnsRequestedWildcardMatchesAStar", {{"p", Dns({"*.team-a.svc"})}},
            [](Request& q) { q.tmpl.dns_names = {"*.team-a.svc"}; }, ""},
        Row{"DnsIsCaseInsensitive", {{"p", Dns({"*.Team-A.SVC"})}},
            [](Request& q) { q.tmpl.dns_names = {"WEB.team-a.Svc"}; }, ""},
        Row{"DnsNamespaceVariable", {{"p", Dns({"*.{{namespace}}.svc"})}},
            [](Request& q) { q.tmpl.dns_names = {"web.team-a.svc"}; }, ""},
        Row{"DnsNamespaceVariableIsTheRequestsNamespace", {{"p", Dns({"*.{{namespace}}.svc"})}},
            [](Request& q) { q.tmpl.dns_names = {"web.team-b.svc"}; },
            R"(CertificatePolicy "p": allowed.dnsNames: "web.team-b.svc" matches none of ["*.{{namespace}}.svc"])"},
        Row{"DnsNameVariable", {{"p", Dns({"{{name}}.example.com", "{{name}}-*.{{namespace}}.svc"})}},
            [](Request& q) { q.tmpl.dns_names = {"web.example.com", "WEB-0.team-a.svc"}; }, ""},
        Row{"DnsNameVariableIsTheRequestsName", {{"p", Dns({"{{name}}.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"api.example.com"}; },
            R"(CertificatePolicy "p": allowed.dnsNames: "api.example.com" matches none of ["{{name}}.example.com"])"},
        Row{"DnsServiceAccountVariable", {{"p", Dns({"{{serviceAccount}}.{{namespace}}.svc"})}},
            [](Request& q) {
              q.AsPod();
              q.tmpl.dns_names = {"web-sa.team-a.svc"};
            },
            ""},
        Row{"ServiceAccountVariableMatchesNothingWithoutServiceAccount",
            {{"p", Dns({"{{serviceAccount}}.{{namespace}}.svc", "*"})}},
            [](Request& q) { q.tmpl.dns_names = {"web.team-a.svc"}; },
            R"(CertificatePolicy "p": allowed.dnsNames: "web.team-a.svc" matches none of )"
            R"(["{{serviceAccount}}.{{namespace}}.svc", "*"])"},
        Row{"UrisAllowed",
            {{"p", [](PolicySpec& s) {
                s.allowed.uris = std::vector<std::string>{"spiffe://cluster.local/ns/{{namespace}}/sa/{{serviceAccount}}"};
              }}},
            [](Request& q) {
              q.AsCsr();
              q.tmpl.uris = {"spiffe://cluster.local/ns/team-a/sa/builder"};
            },
            ""},
        Row{"UriStarNeverCrossesASlash",
            {{"p", [](PolicySpec& s) { s.allowed.uris = std::vector<std::string>{"spiffe://cluster.local/ns/team-a/*"}; }}},
            [](Request& q) { q.tmpl.uris = {"spiffe://cluster.local/ns/team-a/sa/web"}; },
            R"(CertificatePolicy "p": allowed.uris: "spiffe://cluster.local/ns/team-a/sa/web" matches none of )"
            R"(["spiffe://cluster.local/ns/team-a/*"])"},
        Row{"UriDoubleStarCrossesSlashes",
            {{"p", [](PolicySpec& s) { s.allowed.uris = std::vector<std::string>{"spiffe://cluster.local/ns/team-a/**"}; }}},
            [](Request& q) { q.tmpl.uris = {"spiffe://cluster.local/ns/team-a/sa/web"}; }, ""},
        Row{"UrisAreCaseSensitive",
            {{"p", [](PolicySpec& s) { s.allowed.uris = std::vector<std::string>{"spiffe://cluster.local/**"}; }}},
            [](Request& q) { q.tmpl.uris = {"SPIFFE://cluster.local/ns/a"}; },
            R"(CertificatePolicy "p": allowed.uris: "SPIFFE://cluster.local/ns/a" matches none of )"
            R"(["spiffe://cluster.local/**"])"},
        Row{"EmailsAllowedWithCaseInsensitiveDomain",
            {{"p", [](PolicySpec& s) {
                s.allowed.email_addresses = std::vector<std::string>{"*@{{namespace}}.example.com", "ops@**.example.org"};
              }}},
            [](Request& q) { q.tmpl.email_addresses = {"web@Team-A.Example.com", "ops@eu.mail.example.org"}; }, ""},
        Row{"EmailLocalPartIsCaseSensitive",
            {{"p", [](PolicySpec& s) { s.allowed.email_addresses = std::vector<std::string>{"ops@example.com"}; }}},
            [](Request& q) { q.tmpl.email_addresses = {"OPS@example.com"}; },
            R"(CertificatePolicy "p": allowed.emailAddresses: "OPS@example.com" matches none of ["ops@example.com"])"},
        Row{"EmailDomainStarIsOneLabel",
            {{"p", [](PolicySpec& s) { s.allowed.email_addresses = std::vector<std::string>{"*@*.example.com"}; }}},
            [](Request& q) { q.tmpl.email_addresses = {"a@b.c.example.com"}; },
            R"(CertificatePolicy "p": allowed.emailAddresses: "a@b.c.example.com" matches none of ["*@*.example.com"])"},
        Row{"CommonNameAllowed",
            {{"p", [](PolicySpec& s) { s.allowed.common_name = "{{name}}.{{namespace}}.svc"; }}},
            [](Request& q) { q.tmpl.subject.Add("CN", "web.team-a.svc"); }, ""},
        Row{"CommonNameNotAllowed",
            {{"p", [](PolicySpec& s) { s.allowed.common_name = "*.team-a.svc"; }}},
            [](Request& q) { q.tmpl.subject.Add("CN", "admin"); },
            R"(CertificatePolicy "p": allowed.commonName: "admin" does not match "*.team-a.svc")"},
        Row{"CommonNameOmittedInTheRequestIsFine",
            {{"p", [](PolicySpec& s) { s.allowed.common_name = "*.team-a.svc"; }}}, Same, ""},
        // A requested wildcard is matched as text in `allowed`: only "*" or "**" in its place allows it.
        Row{"DnsLiteralDoesNotAllowARequestedWildcard", {{"p", Dns({"api.team-a.svc", "web.team-a.svc"})}},
            [](Request& q) { q.tmpl.dns_names = {"*.team-a.svc"}; },
            R"(CertificatePolicy "p": allowed.dnsNames: "*.team-a.svc" matches none of ["api.team-a.svc", )"
            R"("web.team-a.svc"])"},
        Row{"DnsStarPartDoesNotAllowARequestedWildcard", {{"p", Dns({"web-*.team-a.svc"})}},
            [](Request& q) { q.tmpl.dns_names = {"*.team-a.svc"}; },
            R"(CertificatePolicy "p": allowed.dnsNames: "*.team-a.svc" matches none of ["web-*.team-a.svc"])"},
        Row{"DnsDoubleStarAllowsARequestedWildcard", {{"p", Dns({"**.team-a.svc"})}},
            [](Request& q) { q.tmpl.dns_names = {"*.team-a.svc"}; }, ""}),
    [](const auto& info) { return std::string(info.param.name); });

SpecEdit Uris(std::vector<std::string> patterns) {
  return [patterns](PolicySpec& s) { s.allowed.uris = patterns; };
}
SpecEdit Emails(std::vector<std::string> patterns) {
  return [patterns](PolicySpec& s) { s.allowed.email_addresses = patterns; };
}

INSTANTIATE_TEST_SUITE_P(
    UriStarsAndVariableValues, PolicyEvaluation,
    ::testing::Values(
        // In URIs "*" stops at '/', '?', '#', '@' and ':', so it stays inside one part of the URI.
        Row{"UriStarMatchesInsideTheHost", {{"p", Uris({"https://*.example.com/**"})}},
            [](Request& q) { q.tmpl.uris = {"https://api.example.com/v1/x"}; }, ""},
        Row{"UriStarNeverCrossesAQuestionMark", {{"p", Uris({"https://*.example.com/**"})}},
            [](Request& q) { q.tmpl.uris = {"https://evil.com?.example.com/"}; },
            R"(CertificatePolicy "p": allowed.uris: "https://evil.com?.example.com/" matches none of )"
            R"(["https://*.example.com/**"])"},
        Row{"UriStarNeverCrossesAHash", {{"p", Uris({"https://*.example.com/**"})}},
            [](Request& q) { q.tmpl.uris = {"https://evil.com#.example.com/x"}; },
            R"(CertificatePolicy "p": allowed.uris: "https://evil.com#.example.com/x" matches none of )"
            R"(["https://*.example.com/**"])"},
        Row{"UriStarNeverCrossesAnAt", {{"p", Uris({"https://*.example.com/**"})}},
            [](Request& q) { q.tmpl.uris = {"https://evil.com@api.example.com/"}; },
            R"(CertificatePolicy "p": allowed.uris: "https://evil.com@api.example.com/" matches none of )"
            R"(["https://*.example.com/**"])"},
        Row{"UriStarNeverCrossesAColon", {{"p", Uris({"https://*.example.com/**"})}},
            [](Request& q) { q.tmpl.uris = {"https://evil.com:443.example.com/"}; },
            R"(CertificatePolicy "p": allowed.uris: "https://evil.com:443.example.com/" matches none of )"
            R"(["https://*.example.com/**"])"},
        Row{"UriDoubleStarCrossesEverything", {{"p", Uris({"https://api.example.com/**"})}},
            [](Request& q) { q.tmpl.uris = {"https://api.example.com/a?b=c:d@e#f"}; }, ""},
        // A variable stands for one DNS label in DNS names and email domains.
        Row{"DnsVariableIsNotAWildcard", {{"p", Dns({"{{name}}.apps.example.com"})}},
            [](Request& q) {
              q.r.name = "*";
              q.tmpl.dns_names = {"*.apps.example.com"};
            },
            R"(CertificatePolicy "p": allowed.dnsNames: "*.apps.example.com" matches none of )"
            R"(["{{name}}.apps.example.com"])"},
        Row{"DnsVariableIsOneLabelNotTwo", {{"p", Dns({"{{name}}.apps.example.com"})}},
            [](Request& q) {
              q.r.name = "a.b";
              q.tmpl.dns_names = {"a.b.apps.example.com"};
            },
            R"(CertificatePolicy "p": allowed.dnsNames: "a.b.apps.example.com" matches none of )"
            R"(["{{name}}.apps.example.com"])"},
        Row{"DnsVariableMustBeAValidLabel", {{"p", Dns({"{{name}}.apps.example.com"})}},
            [](Request& q) {
              q.r.name = "web-";
              q.tmpl.dns_names = {"web-.apps.example.com"};
            },
            R"(CertificatePolicy "p": allowed.dnsNames: "web-.apps.example.com" matches none of )"
            R"(["{{name}}.apps.example.com"])"},
        Row{"EmailDomainVariableIsOneLabel", {{"p", Emails({"ops@{{name}}.example.com"})}},
            [](Request& q) {
              q.r.name = "a.b";
              q.tmpl.email_addresses = {"ops@a.b.example.com"};
            },
            R"(CertificatePolicy "p": allowed.emailAddresses: "ops@a.b.example.com" matches none of )"
            R"(["ops@{{name}}.example.com"])"},
        // In URIs a variable never holds a separator, a '*' or whitespace.
        Row{"UriVariableHoldsNoSlash", {{"p", Uris({"spiffe://cluster.local/ns/team-a/sa/{{name}}"})}},
            [](Request& q) {
              q.r.name = "web/admin";
              q.tmpl.uris = {"spiffe://cluster.local/ns/team-a/sa/web/admin"};
            },
            R"(CertificatePolicy "p": allowed.uris: "spiffe://cluster.local/ns/team-a/sa/web/admin" matches none of )"
            R"(["spiffe://cluster.local/ns/team-a/sa/{{name}}"])"},
        Row{"UriVariableHoldsNoQuestionMark", {{"p", Uris({"https://{{name}}.example.com/"})}},
            [](Request& q) {
              q.r.name = "evil.com?";
              q.tmpl.uris = {"https://evil.com?.example.com/"};
            },
            R"(CertificatePolicy "p": allowed.uris: "https://evil.com?.example.com/" matches none of )"
            R"(["https://{{name}}.example.com/"])"},
        Row{"UriVariableHoldsNoWhitespace", {{"p", Uris({"urn:example:{{name}}"})}},
            [](Request& q) {
              q.r.name = "a b";
              q.tmpl.uris = {"urn:example:a b"};
            },
            R"(CertificatePolicy "p": allowed.uris: "urn:example:a b" matches none of ["urn:example:{{name}}"])"},
        Row{"UriVariableHoldsNoPercentEscape", {{"p", Uris({"spiffe://cluster.local/ns/team-a/sa/{{name}}"})}},
            [](Request& q) {
              q.r.name = "web%2Fadmin";
              q.tmpl.uris = {"spiffe://cluster.local/ns/team-a/sa/web%2Fadmin"};
            },
            R"(CertificatePolicy "p": allowed.uris: "spiffe://cluster.local/ns/team-a/sa/web%2Fadmin" matches none )"
            R"(of ["spiffe://cluster.local/ns/team-a/sa/{{name}}"])"},
        Row{"UriVariableWithADot", {{"p", Uris({"https://{{name}}.example.com/"})}},
            [](Request& q) {
              q.r.name = "web.v2";
              q.tmpl.uris = {"https://web.v2.example.com/"};
            },
            ""},
        // In email local parts a variable holds letters, digits and . _ + - only.
        Row{"EmailLocalVariableHoldsNoAt", {{"p", Emails({"{{name}}@example.com"})}},
            [](Request& q) {
              q.r.name = "ceo@evil.com";
              q.tmpl.email_addresses = {"ceo@evil.com@example.com"};
            },
            R"(CertificatePolicy "p": allowed.emailAddresses: "ceo@evil.com@example.com" matches none of )"
            R"(["{{name}}@example.com"])"},
        Row{"EmailLocalVariableHoldsNoQuote", {{"p", Emails({"{{name}}@example.com"})}},
            [](Request& q) {
              q.r.name = "\"ops\"";
              q.tmpl.email_addresses = {"\"ops\"@example.com"};
            },
            R"(CertificatePolicy "p": allowed.emailAddresses: "\"ops\"@example.com" matches none of )"
            R"(["{{name}}@example.com"])"},
        Row{"EmailLocalVariableWithDotsAndPlus", {{"p", Emails({"{{name}}@example.com"})}},
            [](Request& q) {
              q.r.name = "Web.ops+x_1";
              q.tmpl.email_addresses = {"Web.ops+x_1@example.com"};
            },
            ""},
        Row{"AllowedEmailLongerThanTheBoundMatchesNothing", {{"p", Emails({"*@example.com"})}},
            [](Request& q) { q.tmpl.email_addresses = {std::string(5000, 'a') + "@example.com"}; },
            R"(CertificatePolicy "p": allowed.emailAddresses: ")" + std::string(5000, 'a') +
                R"(@example.com" matches none of ["*@example.com"])"},
        Row{"AllowedEmailQuotesAreNotStripped", {{"p", Emails({"ops@example.com"})}},
            [](Request& q) { q.tmpl.email_addresses = {"\"ops\"@example.com"}; },
            R"(CertificatePolicy "p": allowed.emailAddresses: "\"ops\"@example.com" matches none of )"
            R"(["ops@example.com"])"}),
    [](const auto& info) { return std::string(info.param.name); });

SpecEdit Ips(std::vector<std::string> ranges) {
  return [ranges](PolicySpec& s) { s.allowed.ip_ranges = ranges; };
}

INSTANTIATE_TEST_SUITE_P(
    IpAddresses, PolicyEvaluation,
    ::testing::Values(
        Row{"Ipv4InRange", {{"p", Ips({"10.0.0.0/8", "fd00::/8"})}},
            [](Request& q) { q.tmpl.ip_addresses = {"10.1.2.3"}; }, ""},
        Row{"Ipv4NotInRange", {{"p", Ips({"10.0.0.0/8", "fd00::/8"})}},
            [](Request& q) { q.tmpl.ip_addresses = {"10.1.2.3", "192.168.1.1"}; },
            R"(CertificatePolicy "p": allowed.ipAddresses: "192.168.1.1" is in none of ["10.0.0.0/8", "fd00::/8"])"},
        Row{"Ipv6InRange", {{"p", Ips({"10.0.0.0/8", "fd00::/8"})}},
            [](Request& q) { q.tmpl.ip_addresses = {"fd12:3456::1"}; }, ""},
        Row{"HostRange", {{"p", Ips({"192.0.2.1/32"})}},
            [](Request& q) { q.tmpl.ip_addresses = {"192.0.2.2"}; },
            R"(CertificatePolicy "p": allowed.ipAddresses: "192.0.2.2" is in none of ["192.0.2.1/32"])"},
        Row{"PrefixNotOnAByteBoundary", {{"p", Ips({"10.0.0.0/12"})}},
            [](Request& q) { q.tmpl.ip_addresses = {"10.15.255.255"}; }, ""},
        Row{"Ipv4NeverInAnIpv6Range", {{"p", Ips({"::/0"})}},
            [](Request& q) { q.tmpl.ip_addresses = {"10.1.2.3"}; },
            R"(CertificatePolicy "p": allowed.ipAddresses: "10.1.2.3" is in none of ["::/0"])"},
        Row{"Ipv6NeverInAnIpv4Range", {{"p", Ips({"0.0.0.0/0"})}},
            [](Request& q) { q.tmpl.ip_addresses = {"::1"}; },
            R"(CertificatePolicy "p": allowed.ipAddresses: "::1" is in none of ["0.0.0.0/0"])"},
        Row{"IpEmptyListAllowsNone", {{"p", Ips({})}},
            [](Request& q) { q.tmpl.ip_addresses = {"10.1.2.3"}; },
            R"(CertificatePolicy "p": allowed.ipAddresses: "10.1.2.3" is in none of [])"},
        Row{"DeniedRange",
            {{"a-allow", AllowAll()},
             {"no-internal", [](PolicySpec& s) { s.denied.ip_ranges = {"fd00::/8", "10.0.0.0/8"}; }}},
            [](Request& q) { q.tmpl.ip_addresses = {"192.0.2.1", "10.1.2.3"}; },
            R"(CertificatePolicy "no-internal": denied.ipAddresses: "10.1.2.3" is in the denied range 10.0.0.0/8)"},
        Row{"DeniedRangeCatchesIpv4MappedIpv6",
            {{"no-internal", [](PolicySpec& s) { s.denied.ip_ranges = {"10.0.0.0/8"}; }}},
            [](Request& q) { q.tmpl.ip_addresses = {"::ffff:10.1.2.3"}; },
            R"(CertificatePolicy "no-internal": denied.ipAddresses: "::ffff:10.1.2.3" is in the denied range 10.0.0.0/8)"},
        Row{"DeniedRangeOutside",
            {{"no-internal", [](PolicySpec& s) { s.denied.ip_ranges = {"10.0.0.0/8"}; }}},
            [](Request& q) { q.tmpl.ip_addresses = {"11.0.0.1", "fd00::1"}; }, ""}),
    [](const auto& info) { return std::string(info.param.name); });

SpecEdit DeniedDns(std::vector<std::string> patterns) {
  return [patterns](PolicySpec& s) { s.denied.dns_names = patterns; };
}
SpecEdit DeniedEmails(std::vector<std::string> patterns) {
  return [patterns](PolicySpec& s) { s.denied.email_addresses = patterns; };
}
SpecEdit DeniedUris(std::vector<std::string> patterns) {
  return [patterns](PolicySpec& s) { s.denied.uris = patterns; };
}

INSTANTIATE_TEST_SUITE_P(
    Denied, PolicyEvaluation,
    ::testing::Values(
        Row{"DeniedDnsNameIsCaseInsensitive",
            {{"no-evil", [](PolicySpec& s) { s.denied.dns_names = {"*.evil.com"}; }}},
            [](Request& q) { q.tmpl.dns_names = {"API.Evil.com"}; },
            R"(CertificatePolicy "no-evil": denied.dnsNames: "API.Evil.com" matches the denied pattern "*.evil.com")"},
        Row{"DeniedUri",
            {{"no-admin", [](PolicySpec& s) { s.denied.uris = {"spiffe://cluster.local/ns/kube-system/**"}; }}},
            [](Request& q) { q.tmpl.uris = {"spiffe://cluster.local/ns/kube-system/sa/admin"}; },
            R"(CertificatePolicy "no-admin": denied.uris: "spiffe://cluster.local/ns/kube-system/sa/admin" matches )"
            R"(the denied pattern "spiffe://cluster.local/ns/kube-system/**")"},
        Row{"DeniedEmail",
            {{"no-ceo", [](PolicySpec& s) { s.denied.email_addresses = {"ceo@**"}; }}},
            [](Request& q) { q.tmpl.email_addresses = {"ops@example.com", "ceo@example.com"}; },
            R"(CertificatePolicy "no-ceo": denied.emailAddresses: "ceo@example.com" matches the denied pattern "ceo@**")"},
        Row{"DeniedWithVariable",
            {{"not-own-name", [](PolicySpec& s) { s.denied.dns_names = {"{{namespace}}.example.com"}; }}},
            [](Request& q) { q.tmpl.dns_names = {"team-a.example.com"}; },
            R"(CertificatePolicy "not-own-name": denied.dnsNames: "team-a.example.com" matches the denied pattern )"
            R"("{{namespace}}.example.com")"},
        Row{"DeniedFromAPolicyForAnotherIssuerDoesNotApply",
            {{"no-evil", [](PolicySpec& s) {
                s.selector.issuer_refs = {{"other-ca", ""}};
                s.denied.dns_names = {"**"};
              }}},
            Same, ""},
        // A requested wildcard is denied when a name it covers would be.
        Row{"DeniedNameCoveredByARequestedWildcard", {{"no-api", DeniedDns({"kubernetes.default.svc"})}},
            [](Request& q) { q.tmpl.dns_names = {"web.team-a.svc", "*.default.svc"}; },
            R"(CertificatePolicy "no-api": denied.dnsNames: "*.default.svc" covers a name the denied pattern )"
            R"("kubernetes.default.svc" matches)"},
        Row{"DeniedStarPartCoveredByARequestedWildcard", {{"no-evil", DeniedDns({"web-*.evil.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"*.evil.com"}; },
            R"(CertificatePolicy "no-evil": denied.dnsNames: "*.evil.com" covers a name the denied pattern )"
            R"("web-*.evil.com" matches)"},
        Row{"DeniedDoubleStarCoveredByARequestedWildcard", {{"no-evil", DeniedDns({"**.evil.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"*.EVIL.com"}; },
            R"(CertificatePolicy "no-evil": denied.dnsNames: "*.EVIL.com" covers a name the denied pattern )"
            R"("**.evil.com" matches)"},
        Row{"DeniedVariableLabelCoveredByARequestedWildcard", {{"not-own", DeniedDns({"{{name}}-api.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"*.example.com"}; },
            R"(CertificatePolicy "not-own": denied.dnsNames: "*.example.com" covers a name the denied pattern )"
            R"("{{name}}-api.example.com" matches)"},
        Row{"DeniedVariableTheRequestLacksCoversNothing", {{"no-sa", DeniedDns({"{{serviceAccount}}.example.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"*.example.com"}; }, ""},
        Row{"RequestedWildcardCoversOneLabelOnly", {{"no-api", DeniedDns({"api.eu.evil.com", "evil.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"*.evil.com"}; }, ""},
        Row{"RequestedWildcardInADeeperLabelIsNotCoveredByAStar", {{"no-evil", DeniedDns({"*.evil.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"*.eu.evil.com"}; }, ""},
        Row{"DeniedLiteralDnsNameIsCaseInsensitive", {{"no-api", DeniedDns({"kubernetes.default.svc"})}},
            [](Request& q) { q.tmpl.dns_names = {"Kubernetes.DEFAULT.svc"}; },
            R"(CertificatePolicy "no-api": denied.dnsNames: "Kubernetes.DEFAULT.svc" matches the denied pattern )"
            R"("kubernetes.default.svc")"},
        Row{"DeniedDnsNameIgnoresATrailingDot", {{"no-evil", DeniedDns({"evil.com", "**.evil.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"evil.com."}; },
            R"(CertificatePolicy "no-evil": denied.dnsNames: "evil.com." matches the denied pattern "evil.com")"},
        Row{"DeniedDnsPatternIgnoresATrailingDot", {{"no-evil", DeniedDns({"*.evil.com."})}},
            [](Request& q) { q.tmpl.dns_names = {"api.evil.com"}; },
            R"(CertificatePolicy "no-evil": denied.dnsNames: "api.evil.com" matches the denied pattern "*.evil.com.")"},
        Row{"DeniedDnsNameLongerThanTheBoundIsDenied", {{"no-evil", DeniedDns({"**.evil.com"})}},
            [](Request& q) { q.tmpl.dns_names = {std::string(5000, 'a') + ".example.com"}; },
            "CertificatePolicy \"no-evil\": denied.dnsNames: a value of 5012 characters is denied unchecked "
            "(denied patterns check at most 4095)"},
        // Email local parts: case and one level of quotes do not dodge a denied rule.
        Row{"DeniedEmailLocalPartIgnoresCase", {{"no-ceo", DeniedEmails({"ceo@**"})}},
            [](Request& q) { q.tmpl.email_addresses = {"CEO@example.com"}; },
            R"(CertificatePolicy "no-ceo": denied.emailAddresses: "CEO@example.com" matches the denied pattern "ceo@**")"},
        Row{"DeniedEmailLocalPartIgnoresQuotes", {{"no-security", DeniedEmails({"ceo@**", "security@example.com"})}},
            [](Request& q) { q.tmpl.email_addresses = {"\"Security\"@Example.com"}; },
            R"(CertificatePolicy "no-security": denied.emailAddresses: "\"Security\"@Example.com" matches the denied )"
            R"(pattern "security@example.com")"},
        Row{"DeniedEmailLocalVariableIgnoresCase", {{"not-own", DeniedEmails({"{{name}}@example.com"})}},
            [](Request& q) { q.tmpl.email_addresses = {"WEB@example.com"}; },
            R"(CertificatePolicy "not-own": denied.emailAddresses: "WEB@example.com" matches the denied pattern )"
            R"("{{name}}@example.com")"},
        Row{"DeniedEmailLongerThanTheBoundIsDenied", {{"no-evil", DeniedEmails({"*@evil.com"})}},
            [](Request& q) { q.tmpl.email_addresses = {std::string(5000, 'a') + "@example.com"}; },
            "CertificatePolicy \"no-evil\": denied.emailAddresses: a value of 5012 characters is denied unchecked "
            "(denied patterns check at most 4095)"},
        Row{"DeniedUriLongerThanTheBoundIsDenied", {{"no-admin", DeniedUris({"spiffe://cluster.local/ns/kube-system/**"})}},
            [](Request& q) { q.tmpl.uris = {"https://example.com/" + std::string(5000, 'a')}; },
            "CertificatePolicy \"no-admin\": denied.uris: a value of 5020 characters is denied unchecked "
            "(denied patterns check at most 4095)"}),
    [](const auto& info) { return std::string(info.param.name); });

SpecEdit Usages(std::vector<std::string> names) {
  return [names](PolicySpec& s) { s.allowed.usages = names; };
}

INSTANTIATE_TEST_SUITE_P(
    SubjectUsagesKeys, PolicyEvaluation,
    ::testing::Values(
        Row{"SubjectAllowed",
            {{"p", [](PolicySpec& s) {
                s.allowed.subject.organizations = std::vector<std::string>{"Example*"};
                s.allowed.subject.countries = std::vector<std::string>{"DE", "FR"};
              }}},
            [](Request& q) {
              q.tmpl.subject.Add("C", "FR");
              q.tmpl.subject.Add("O", "Example Inc");
              q.tmpl.subject.Add("L", "Paris");  // localities not restricted
              q.tmpl.subject.Add("CN", "web");
            },
            ""},
        Row{"SubjectValueNotAllowed",
            {{"p", [](PolicySpec& s) { s.allowed.subject.organizations = std::vector<std::string>{"Example*"}; }}},
            [](Request& q) {
              q.tmpl.subject.Add("O", "Example Inc");
              q.tmpl.subject.Add("O", "Evil");
            },
            R"(CertificatePolicy "p": allowed.subject.organizations: "Evil" matches none of ["Example*"])"},
        Row{"SubjectEachField",
            {{"p", [](PolicySpec& s) {
                s.allowed.subject.organizational_units = std::vector<std::string>{"ops"};
                s.allowed.subject.provinces = std::vector<std::string>{"Bavaria"};
                s.allowed.subject.localities = std::vector<std::string>{"Munich"};
                s.allowed.subject.street_addresses = std::vector<std::string>{"* Street"};
                s.allowed.subject.postal_codes = std::vector<std::string>{"80*"};
                s.allowed.subject.serial_numbers = std::vector<std::string>{"{{name}}"};
              }}},
            [](Request& q) {
              for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{
                       {"OU", "ops"}, {"ST", "Bavaria"}, {"L", "Munich"}, {"street", "Main Street"},
                       {"postalCode", "80331"}, {"serialNumber", "web"}}) {
                q.tmpl.subject.Add(k, v);
              }
            },
            ""},
        Row{"SubjectSerialNumberNotAllowed",
            {{"p", [](PolicySpec& s) { s.allowed.subject.serial_numbers = std::vector<std::string>{"{{name}}"}; }}},
            [](Request& q) { q.tmpl.subject.Add("serialNumber", "other"); },
            R"(CertificatePolicy "p": allowed.subject.serialNumbers: "other" matches none of ["{{name}}"])"},
        Row{"SubjectEmptyListAllowsNone",
            {{"p", [](PolicySpec& s) { s.allowed.subject.organizational_units = std::vector<std::string>{}; }}},
            [](Request& q) { q.tmpl.subject.Add("OU", "ops"); },
            R"(CertificatePolicy "p": allowed.subject.organizationalUnits: "ops" matches none of [])"},
        Row{"SubjectOtherAttributeRefusedWhenSubjectIsRestricted",
            {{"p", [](PolicySpec& s) { s.allowed.subject.organizations = std::vector<std::string>{"*"}; }}},
            [](Request& q) { q.tmpl.subject.Add("emailAddress", "ceo@example.com"); },
            R"(CertificatePolicy "p": allowed.subject: the subject attribute emailAddress is not allowed (a policy )"
            R"(with allowed.subject allows only CN, O, OU, C, ST, L, street, postalCode and serialNumber))"},
        Row{"UsagesDefaultForEcdsaLeafIsDigitalSignature", {{"p", Usages({"digital signature"})}}, Same, ""},
        Row{"UsagesDefaultForRsaLeafAddsKeyEncipherment", {{"p", Usages({"digital signature"})}},
            [](Request& q) { q.r.key = KeySpec::Rsa(2048); },
            R"(CertificatePolicy "p": allowed.usages: "key encipherment" is not one of ["digital signature"])"},
        Row{"UsagesDefaultForCa",
            {{"p", Both(Usages({"digital signature", "cert sign"}), [](PolicySpec& s) { s.allowed.is_ca = true; })}},
            [](Request& q) { q.tmpl.is_ca = true; },
            R"(CertificatePolicy "p": allowed.usages: "crl sign" is not one of ["digital signature", "cert sign"])"},
        Row{"UsagesExplicit", {{"p", Usages({"digital signature", "key encipherment", "server auth"})}},
            [](Request& q) { q.tmpl.usages = *ParseUsages({"digital signature", "server auth"}); }, ""},
        Row{"UsagesExplicitExtendedNotAllowed", {{"p", Usages({"signing", "server auth"})}},
            [](Request& q) { q.tmpl.usages = *ParseUsages({"digital signature", "server auth", "client auth"}); },
            R"(CertificatePolicy "p": allowed.usages: "client auth" is not one of ["signing", "server auth"])"},
        Row{"KeyAlgorithmAllowed",
            {{"p", [](PolicySpec& s) {
                s.allowed.key_algorithms = std::vector<KeyAlgorithmRule>{{KeyType::kRsa, 3072}, {KeyType::kEcdsa, 0}};
              }}},
            Same, ""},
        Row{"KeyAlgorithmTooSmall",
            {{"p", [](PolicySpec& s) {
                s.allowed.key_algorithms = std::vector<KeyAlgorithmRule>{{KeyType::kRsa, 3072}, {KeyType::kEcdsa, 0}};
              }}},
            [](Request& q) { q.r.key = KeySpec::Rsa(2048); },
            R"(CertificatePolicy "p": allowed.keyAlgorithms: RSA 2048 keys are not allowed (allowed: RSA >= 3072, ECDSA))"},
        Row{"KeyAlgorithmEcdsaMinimum",
            {{"p", [](PolicySpec& s) { s.allowed.key_algorithms = std::vector<KeyAlgorithmRule>{{KeyType::kEcdsa, 384}}; }}},
            Same,
            R"(CertificatePolicy "p": allowed.keyAlgorithms: ECDSA P-256 keys are not allowed (allowed: ECDSA >= 384))"},
        Row{"KeyAlgorithmType",
            {{"p", [](PolicySpec& s) { s.allowed.key_algorithms = std::vector<KeyAlgorithmRule>{{KeyType::kEcdsa, 0}}; }}},
            [](Request& q) { q.r.key = KeySpec::Ed25519(); },
            R"(CertificatePolicy "p": allowed.keyAlgorithms: Ed25519 keys are not allowed (allowed: ECDSA))"}),
    [](const auto& info) { return std::string(info.param.name); });

// A granting policy (`allowed: {}`) with these constraints.
SpecEdit Durations(std::optional<std::chrono::seconds> min, std::optional<std::chrono::seconds> max) {
  return [min, max](PolicySpec& s) {
    s.allowed.present = true;
    s.constraints.min_duration = min;
    s.constraints.max_duration = max;
  };
}
SpecEdit Ca(std::optional<int> max_path_length) {
  return [max_path_length](PolicySpec& s) {
    s.allowed.is_ca = true;
    s.allowed.max_path_length = max_path_length;
  };
}

INSTANTIATE_TEST_SUITE_P(
    CaAndDurations, PolicyEvaluation,
    ::testing::Values(
        Row{"CaNotAllowed", {{"web", Dns({"*.team-a.svc"})}}, [](Request& q) { q.tmpl.is_ca = true; },
            R"(CertificatePolicy "web": allowed.isCA: CA certificates are not allowed)"},
        Row{"CaAllowed", {{"sub-ca", Ca(std::nullopt)}}, [](Request& q) { q.tmpl.is_ca = true; }, ""},
        Row{"CaAllowedAlsoAllowsLeaves", {{"sub-ca", Ca(std::nullopt)}}, Same, ""},
        Row{"CaPathLengthUnsetIsClamped", {{"sub-ca", Ca(0)}}, [](Request& q) { q.tmpl.is_ca = true; }, "", false, {},
            "sub-ca", std::nullopt, 0},
        Row{"CaPathLengthLargerIsClamped", {{"sub-ca", Ca(1)}},
            [](Request& q) {
              q.tmpl.is_ca = true;
              q.tmpl.max_path_length = 3;
            },
            "", false, {}, "sub-ca", std::nullopt, 1},
        Row{"CaPathLengthWithinIsKept", {{"sub-ca", Ca(2)}},
            [](Request& q) {
              q.tmpl.is_ca = true;
              q.tmpl.max_path_length = 0;
            },
            ""},
        Row{"ShorterThanMinDurationDenied", {{"p", Durations(24h, std::nullopt)}},
            [](Request& q) { q.tmpl.duration = 1h; },
            R"(CertificatePolicy "p": constraints.minDuration: the requested duration 1h0m0s is shorter than the )"
            R"(minimum 24h0m0s)"},
        Row{"LongerThanMaxDurationShortened", {{"p", Durations(std::nullopt, 720h)}}, Same, "", false, {}, "p", 720h},
        Row{"WithinMaxDurationKept", {{"p", Durations(1h, 2160h)}}, Same, "", false, {}, "p"},
        Row{"LargestMaxDurationDecides",
            {{"a", Durations(std::nullopt, 720h)}, {"b", Durations(std::nullopt, 1440h)}, {"c", Durations(std::nullopt, 168h)}},
            Same, "", false, {}, "b", 1440h},
        Row{"NoMaxDurationIsUnlimitedAndWins",
            {{"a", Durations(std::nullopt, 720h)}, {"b", Durations(std::nullopt, std::nullopt)}}, Same, "", false, {}, "b"},
        Row{"EqualMaxDurationsFirstByNameDecides",
            {{"z", Durations(std::nullopt, 720h)}, {"m", Durations(std::nullopt, 720h)}}, Same, "", false, {}, "m", 720h},
        Row{"OnlyAllowingPoliciesCompete",
            {{"a-long", Both(Durations(std::nullopt, 8760h), Dns({"api.team-a.svc"}))},
             {"b-short", Durations(std::nullopt, 720h)}},
            Same, "", false, {}, "b-short", 720h}),
    [](const auto& info) { return std::string(info.param.name); });

// A policy without `allowed` restricts: it never grants.
SpecEdit Restriction(std::optional<std::chrono::seconds> min, std::optional<std::chrono::seconds> max) {
  return [min, max](PolicySpec& s) {
    s.constraints.min_duration = min;
    s.constraints.max_duration = max;
  };
}

INSTANTIATE_TEST_SUITE_P(
    GrantsAndRestrictions, PolicyEvaluation,
    ::testing::Values(
        Row{"DenyOnlyPolicyDoesNotMeetPolicyRequired",
            {{"no-evil", DeniedDns({"**.evil.com"})},
             {"team-b-web", Both(Dns({"*.team-b.svc"}), Select([](PolicySelector& s) { s.namespace_names = {"team-b"}; }))}},
            Same,
            R"(ClusterIssuer "corp-ca" requires a CertificatePolicy (policy: Required) and none selects this request )"
            R"((namespace "team-a", door Certificate))",
            true},
        Row{"DenyOnlyPolicyIsNotTheDecidingPolicy", {{"no-evil", DeniedDns({"**.evil.com"})}}, Same, "", false, {}, ""},
        Row{"EmptyAllowedGrantsOnARequiredIssuer", {{"all", AllowAll()}}, Same, "", true, {}, "all"},
        Row{"RestrictionDoesNotAllowACa", {{"no-evil", DeniedDns({"**.evil.com"})}},
            [](Request& q) { q.tmpl.is_ca = true; },
            "CA certificates need a CertificatePolicy with allowed.isCA: true, and none selects this request"},
        Row{"RestrictionIsNotCountedWhenNoGrantAllows",
            {{"a-strict", Dns({"api.team-a.svc"})}, {"b-no-evil", DeniedDns({"**.evil.com"})}}, Same,
            R"(CertificatePolicy "a-strict": allowed.dnsNames: "web.team-a.svc" matches none of ["api.team-a.svc"])",
            false, {}, "a-strict"},
        Row{"RestrictionDeniedRulesDeny", {{"a-all", AllowAll()}, {"b-no-evil", DeniedDns({"**.evil.com"})}},
            [](Request& q) { q.tmpl.dns_names = {"api.evil.com"}; },
            R"(CertificatePolicy "b-no-evil": denied.dnsNames: "api.evil.com" matches the denied pattern "**.evil.com")",
            false, {}, "b-no-evil"},
        Row{"RestrictionMinDurationDenies", {{"a-all", AllowAll()}, {"b-min", Restriction(24h, std::nullopt)}},
            [](Request& q) { q.tmpl.duration = 1h; },
            R"(CertificatePolicy "b-min": constraints.minDuration: the requested duration 1h0m0s is shorter than the )"
            R"(minimum 24h0m0s)",
            false, {}, "b-min"},
        Row{"RestrictionMinDurationDeniesWithoutAGrant", {{"min", Restriction(24h, std::nullopt)}},
            [](Request& q) { q.tmpl.duration = 1h; },
            R"(CertificatePolicy "min": constraints.minDuration: the requested duration 1h0m0s is shorter than the )"
            R"(minimum 24h0m0s)",
            false, {}, "min"},
        Row{"RestrictionMaxDurationShortensTheGrant",
            {{"a-short", Restriction(std::nullopt, 720h)},
             {"b-web", Both(Durations(std::nullopt, 1440h), Dns({"*.team-a.svc"}))}},
            Same, "", false, {}, "b-web", 720h},
        Row{"GrantMaxDurationShorterThanTheRestrictionApplies",
            {{"a-short", Restriction(std::nullopt, 1440h)}, {"b-web", Durations(std::nullopt, 720h)}}, Same, "", false,
            {}, "b-web", 720h},
        Row{"ShortestRestrictionMaxDurationApplies",
            {{"a", Restriction(std::nullopt, 1440h)}, {"b", Restriction(std::nullopt, 168h)}, {"c-all", AllowAll()}},
            Same, "", false, {}, "c-all", 168h},
        Row{"RestrictionMaxDurationAppliesWithoutAGrant", {{"short", Restriction(std::nullopt, 720h)}}, Same, "", false,
            {}, "", 720h},
        Row{"RestrictionMaxDurationOnARequiredIssuerStillNeedsAGrant", {{"short", Restriction(std::nullopt, 720h)}},
            Same,
            R"(ClusterIssuer "corp-ca" requires a CertificatePolicy (policy: Required) and none selects this request )"
            R"((namespace "team-a", door Certificate))",
            true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(PolicyEvaluation, ReportsRestrictionsAmongTheSelectedPolicies) {
  PolicySet set;
  PolicySpec restriction;
  restriction.denied.dns_names = {"**.evil.com"};
  set.Add(*Compile("a-no-evil", restriction));
  PolicySpec grant;
  grant.allowed.dns_names = std::vector<std::string>{"*.team-a.svc"};
  set.Add(*Compile("b-web", grant));
  Request q;
  q.r.tmpl = &q.tmpl;
  PolicyDecision d = set.Evaluate(q.r, true);
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.selected, (std::vector<std::string>{"a-no-evil", "b-web"}));
  EXPECT_EQ(d.policy, "b-web");
}

TEST(PolicyEvaluation, ReportsTheSelectedPoliciesByName) {
  PolicySet set;
  PolicySpec grants;
  grants.allowed.present = true;
  for (const char* name : {"zeta", "alpha", "mid"}) set.Add(*Compile(name, grants));
  PolicySpec other;
  other.selector.issuer_refs = {{"other-ca", "ClusterIssuer"}};
  set.Add(*Compile("other", other));
  Request q;
  q.r.tmpl = &q.tmpl;
  PolicyDecision d = set.Evaluate(q.r, false);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.selected, (std::vector<std::string>{"alpha", "mid", "zeta"}));
  EXPECT_EQ(d.policy, "alpha");
  EXPECT_EQ(d.rule, "");
  EXPECT_EQ(set.size(), 4u);
}

TEST(PolicyEvaluation, NamesTheDecidingPolicyAndRule) {
  PolicySet set;
  PolicySpec spec;
  spec.denied.ip_ranges = {"10.0.0.0/8"};
  set.Add(*Compile("no-internal", spec));
  Request q;
  q.tmpl.ip_addresses = {"10.0.0.1"};
  q.r.tmpl = &q.tmpl;
  PolicyDecision d = set.Evaluate(q.r, false);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.policy, "no-internal");
  EXPECT_EQ(d.rule, "denied.ipAddresses");
  EXPECT_EQ(d.selected, std::vector<std::string>{"no-internal"});
}

TEST(PolicyEvaluation, IndexedAndGlobIssuerPoliciesAreBothConsulted) {
  PolicySet set;
  PolicySpec exact;
  exact.selector.issuer_refs = {{"corp-ca", "ClusterIssuer"}};
  exact.allowed.dns_names = std::vector<std::string>{"api.team-a.svc"};
  PolicySpec glob;
  glob.selector.issuer_refs = {{"corp-*", ""}};
  glob.allowed.dns_names = std::vector<std::string>{"web.*.svc"};
  set.Add(*Compile("b-exact", exact));
  set.Add(*Compile("a-glob", glob));
  for (int i = 0; i < 50; ++i) {
    PolicySpec other;
    other.selector.issuer_refs = {{"ca-" + std::to_string(i), "Issuer"}};
    other.allowed.dns_names = std::vector<std::string>{};
    set.Add(*Compile("other-" + std::to_string(i), other));
  }
  Request q;
  q.r.tmpl = &q.tmpl;
  PolicyDecision d = set.Evaluate(q.r, false);
  EXPECT_TRUE(d.allowed) << d.message;
  EXPECT_EQ(d.selected, (std::vector<std::string>{"a-glob", "b-exact"}));
  EXPECT_EQ(d.policy, "a-glob");
}

// ---- Compile errors: one row per rule, with the field ------------------------------------------

struct CompileRow {
  const char* name;
  SpecEdit edit;
  const char* message;
};

void PrintTo(const CompileRow& row, std::ostream* os) { *os << row.name; }

class PolicyCompile : public ::testing::TestWithParam<CompileRow> {};

TEST_P(PolicyCompile, RefusesWithTheField) {
  PolicySpec spec;
  GetParam().edit(spec);
  auto compiled = Compile("p", spec);
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(compiled.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(compiled.error().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, PolicyCompile,
    ::testing::Values(
        CompileRow{"IssuerKind", Select([](PolicySelector& s) { s.issuer_refs = {{"a", ""}, {"b", "Vault"}}; }),
                   R"(selector.issuerRefs[1].kind: must be Issuer or ClusterIssuer (got "Vault"))"},
        CompileRow{"EmptyNamespaceName", Select([](PolicySelector& s) { s.namespace_names = {"team-a", ""}; }),
                   "selector.namespaces.names[1]: must not be empty"},
        CompileRow{"ExpressionOperator",
                   Select([](PolicySelector& s) { s.namespace_match_expressions = {{"env", "Matches", {"x"}}}; }),
                   R"(selector.namespaces.matchExpressions[0].operator: must be In, NotIn, Exists or DoesNotExist (got "Matches"))"},
        CompileRow{"ExpressionInWithoutValues",
                   Select([](PolicySelector& s) { s.namespace_match_expressions = {{"env", "In", {}}}; }),
                   "selector.namespaces.matchExpressions[0].values: values must be set when operator is In or NotIn"},
        CompileRow{"ExpressionExistsWithValues",
                   Select([](PolicySelector& s) { s.namespace_match_expressions = {{"env", "Exists", {"x"}}}; }),
                   "selector.namespaces.matchExpressions[0].values: values must be empty when operator is Exists or "
                   "DoesNotExist"},
        CompileRow{"ExpressionWithoutKey",
                   Select([](PolicySelector& s) { s.namespace_match_expressions = {{"", "Exists", {}}}; }),
                   "selector.namespaces.matchExpressions[0].key: is required"},
        CompileRow{"ServiceAccountWithoutNamespace", Select([](PolicySelector& s) { s.service_accounts = {"builder"}; }),
                   "selector.requesters.serviceAccounts[0]: must be namespace/name (globs allowed, as in team-a/*)"},
        CompileRow{"DnsDoubleStarInsideALabel", Dns({"*.example.com", "web**.example.com"}),
                   R"(allowed.dnsNames[1]: "**" must be a whole DNS label (as in **.example.com))"},
        CompileRow{"DnsTripleStar", Dns({"***.example.com"}),
                   R"(allowed.dnsNames[0]: "**" must be a whole DNS label (as in **.example.com))"},
        CompileRow{"DnsUnknownVariable", Dns({"{{pod}}.example.com"}),
                   "allowed.dnsNames[0]: uses an unknown variable; the variables are {{namespace}}, {{name}} and "
                   "{{serviceAccount}}"},
        CompileRow{"DnsUnclosedVariable", Dns({"{{namespace.example.com"}),
                   "allowed.dnsNames[0]: uses an unknown variable; the variables are {{namespace}}, {{name}} and "
                   "{{serviceAccount}}"},
        CompileRow{"DnsEmptyPattern", Dns({""}), "allowed.dnsNames[0]: must not be empty"},
        CompileRow{"EmailWithoutAt",
                   [](PolicySpec& s) { s.allowed.email_addresses = std::vector<std::string>{"example.com"}; },
                   "allowed.emailAddresses[0]: must be local-part@domain (globs allowed, as in *@example.com)"},
        CompileRow{"EmailDomainDoubleStar",
                   [](PolicySpec& s) { s.denied.email_addresses = {"*@mail**.example.com"}; },
                   R"(denied.emailAddresses[0]: "**" must be a whole DNS label (as in **.example.com))"},
        CompileRow{"UriUnknownVariable",
                   [](PolicySpec& s) { s.allowed.uris = std::vector<std::string>{"spiffe://x/{{sa}}"}; },
                   "allowed.uris[0]: uses an unknown variable; the variables are {{namespace}}, {{name}} and "
                   "{{serviceAccount}}"},
        CompileRow{"CommonNameUnknownVariable", [](PolicySpec& s) { s.allowed.common_name = "{{Namespace}}"; },
                   "allowed.commonName: uses an unknown variable; the variables are {{namespace}}, {{name}} and "
                   "{{serviceAccount}}"},
        CompileRow{"SubjectUnknownVariable",
                   [](PolicySpec& s) { s.allowed.subject.localities = std::vector<std::string>{"{{city}}"}; },
                   "allowed.subject.localities[0]: uses an unknown variable; the variables are {{namespace}}, {{name}} "
                   "and {{serviceAccount}}"},
        CompileRow{"IpNotACidr", Ips({"10.0.0.0/8", "10.0.0.1"}),
                   "allowed.ipAddresses[1]: must be a CIDR such as 10.0.0.0/8 or fd00::/8"},
        CompileRow{"IpPrefixTooLong", Ips({"10.0.0.0/33"}),
                   "allowed.ipAddresses[0]: must be a CIDR such as 10.0.0.0/8 or fd00::/8"},
        CompileRow{"Ipv6PrefixTooLong", Ips({"fd00::/129"}),
                   "allowed.ipAddresses[0]: must be a CIDR such as 10.0.0.0/8 or fd00::/8"},
        CompileRow{"IpLeadingZeroInPrefix", Ips({"10.0.0.0/08"}),
                   "allowed.ipAddresses[0]: must be a CIDR such as 10.0.0.0/8 or fd00::/8"},
        CompileRow{"IpLeadingZeroInOctet", Ips({"010.0.0.0/8"}),
                   "allowed.ipAddresses[0]: must be a CIDR such as 10.0.0.0/8 or fd00::/8"},
        CompileRow{"IpZone", Ips({"fe80::%eth0/64"}),
                   "allowed.ipAddresses[0]: must be a CIDR such as 10.0.0.0/8 or fd00::/8"},
        CompileRow{"Ipv4MappedIpv6", Ips({"::ffff:10.0.0.0/104"}),
                   "allowed.ipAddresses[0]: must be a CIDR such as 10.0.0.0/8 or fd00::/8"},
        CompileRow{"IpHostBits", [](PolicySpec& s) { s.denied.ip_ranges = {"10.1.0.0/8"}; },
                   "denied.ipAddresses[0]: must have no bits set after the prefix length, as in 10.0.0.0/8"},
        CompileRow{"Ipv6HostBits", Ips({"fd00::1/8"}),
                   "allowed.ipAddresses[0]: must have no bits set after the prefix length, as in 10.0.0.0/8"},
        CompileRow{"UnknownUsage", Usages({"server auth", "server-auth"}),
                   R"(allowed.usages[1]: unknown usage "server-auth"; known: "signing", "digital signature", )"
                   R"("content commitment", "key encipherment", "key agreement", "data encipherment", "cert sign", )"
                   R"("crl sign", "encipher only", "decipher only", "any", "server auth", "client auth", "code signing", )"
                   R"("email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", )"
                   R"("ocsp signing", "microsoft sgc", "netscape sgc")"},
        CompileRow{"NegativeMinSize",
                   [](PolicySpec& s) { s.allowed.key_algorithms = std::vector<KeyAlgorithmRule>{{KeyType::kRsa, -1}}; },
                   "allowed.keyAlgorithms[0].minSize: must not be negative"},
        CompileRow{"Ed25519MinSize",
                   [](PolicySpec& s) {
                     s.allowed.key_algorithms = std::vector<KeyAlgorithmRule>{{KeyType::kEcdsa, 256}, {KeyType::kEd25519, 255}};
                   },
                   "allowed.keyAlgorithms[1].minSize: Ed25519 keys have no size; remove minSize"},
        CompileRow{"MaxPathLengthWithoutIsCa", [](PolicySpec& s) { s.allowed.max_path_length = 0; },
                   "allowed.maxPathLength: maxPathLength requires isCA: true"},
        CompileRow{"NegativeMaxPathLength", Ca(-1), "allowed.maxPathLength: must not be negative"},
        CompileRow{"MinDurationOverMaxDuration", Durations(48h, 24h),
                   "constraints.minDuration: minDuration must not be longer than maxDuration"},
        CompileRow{"NegativeMaxDuration", Durations(std::nullopt, -1h), "constraints.maxDuration: must not be negative"}),
    [](const auto& info) { return std::string(info.param.name); });

// The matcher runs a pattern in one pass without backtracking; here it must agree with a regular
// expression of the same glob on random patterns and names over a tiny alphabet, where the
// corner cases ("**" next to "*", empty runs, dots and slashes next to stars) are dense.
std::string GlobRegex(const std::string& glob, char separator) {
  std::string re;
  for (size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] == '*' && i + 1 < glob.size() && glob[i + 1] == '*') {
      // DNS: one or more whole labels (a run neither starting nor ending with '.'); URI: anything.
      re += separator == '.' ? "[^.](.*[^.])?" : ".*";
      while (i + 1 < glob.size() && glob[i + 1] == '*') ++i;
    } else if (glob[i] == '*') {
      re += separator == '.' ? "[^.]*" : "[^/?#@:]*";
    } else if (glob[i] == '.') {
      re += "\\.";
    } else {
      re += glob[i];
    }
  }
  return re;
}

TEST(PolicyPatterns, AgreeWithARegularExpressionReference) {
  std::mt19937 rng(20260523);
  auto pick = [&](std::string_view from, size_t max) {
    std::string out;
    const size_t n = rng() % (max + 1);
    for (size_t i = 0; i < n; ++i) out += from[rng() % from.size()];
    return out;
  };
  int compared = 0;
  for (char separator : {'.', '/'}) {
    const std::string alphabet = separator == '.' ? "ab." : "ab/";
    for (int i = 0; i < 1500; ++i) {
      const std::string glob = pick(alphabet + "**", 7);
      if (glob.empty()) continue;
      PolicySpec spec;
      if (separator == '.') {
        spec.allowed.dns_names = std::vector<std::string>{glob};
      } else {
        spec.allowed.uris = std::vector<std::string>{glob};
      }
      auto compiled = Compile("p", spec);
      if (!compiled.ok()) continue;  // "**" inside a DNS label
      PolicySet set;
      set.Add(*compiled);
      const std::regex reference(GlobRegex(glob, separator));
      for (int j = 0; j < 20; ++j) {
        const std::string name = pick(alphabet, 9);
        Request q;
        q.tmpl.dns_names.clear();
        (separator == '.' ? q.tmpl.dns_names : q.tmpl.uris).push_back(name);
        q.r.tmpl = &q.tmpl;
        const bool allowed = set.Evaluate(q.r, false).allowed;
        ASSERT_EQ(allowed, std::regex_match(name, reference)) << "glob \"" << glob << "\" name \"" << name << "\"";
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 20000);
}

// A requested wildcard "*<rest>" is denied exactly when some name "<label><rest>" is: checked
// against every label of up to 7 letters over the alphabet, more than any pattern here needs.
TEST(PolicyPatterns, DeniedWildcardAgreesWithTheNamesItCovers) {
  std::mt19937 rng(20260524);
  auto pick = [&](std::string_view from, size_t max) {
    std::string out;
    const size_t n = rng() % (max + 1);
    for (size_t i = 0; i < n; ++i) out += from[rng() % from.size()];
    return out;
  };
  std::vector<std::string> labels;
  for (size_t n = 1; n <= 7; ++n) {
    for (size_t bits = 0; bits < (size_t{1} << n); ++bits) {
      std::string label;
      for (size_t i = 0; i < n; ++i) label += (bits >> i) & 1 ? 'b' : 'a';
      labels.push_back(label);
    }
  }
  auto denied = [](const PolicySet& set, const std::string& name) {
    Request q;
    q.tmpl.dns_names = {name};
    q.r.tmpl = &q.tmpl;
    return !set.Evaluate(q.r, false).allowed;
  };
  int compared = 0;
  for (int i = 0; i < 600; ++i) {
    const std::string glob = pick("ab.**", 7);
    if (glob.empty()) continue;
    PolicySpec spec;
    spec.denied.dns_names = {glob};
    auto compiled = Compile("p", spec);
    if (!compiled.ok()) continue;
    PolicySet set;
    set.Add(*compiled);
    for (int j = 0; j < 5; ++j) {
      const std::string rest = rng() % 4 == 0 ? "" : "." + pick("ab.", 5);
      bool covered = false;
      for (const auto& label : labels) covered = covered || denied(set, label + rest);
      ASSERT_EQ(denied(set, "*" + rest), covered) << "denied \"" << glob << "\" request \"*" << rest << "\"";
      ++compared;
    }
  }
  EXPECT_GT(compared, 1500);
}

TEST(DoorName, NamesEachDoor) {
  EXPECT_EQ(DoorName(Door::kCertificate), "Certificate");
  EXPECT_EQ(DoorName(Door::kCertificateSigningRequest), "CertificateSigningRequest");
  EXPECT_EQ(DoorName(Door::kPodCertificateRequest), "PodCertificateRequest");
  EXPECT_EQ(DoorName(Door::kKubernetesSigner), "KubernetesSigner");
}

}  // namespace
}  // namespace certwright::signer::policy
