// tests/api/policy_test.cc: operator/api/src/policy.cc — the CertificatePolicy spec.
#include "certwright/api/policy.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace certwright::api {
namespace {

using namespace std::chrono_literals;
namespace pol = signer::policy;

TEST(PolicySpec, ReadsEveryField) {
  auto spec = ParsePolicySpec(Json::parse(R"({
    "selector": {
      "issuerRefs": [{"name": "corp-ca", "kind": "ClusterIssuer"}, {"name": "team-*"}],
      "namespaces": {"names": ["team-a"], "matchLabels": {"team": "a"},
                     "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]},
                                          {"key": "legacy", "operator": "DoesNotExist"}]},
      "requesters": {"users": ["alice"], "groups": ["ops"], "serviceAccounts": ["team-a/*"]},
      "doors": ["CertificateSigningRequest", "PodCertificateRequest"]
    },
    "allowed": {
      "commonName": "{{name}}", "dnsNames": ["*.{{namespace}}.svc"], "ipAddresses": ["10.0.0.0/8"],
      "uris": ["spiffe://cluster.local/ns/{{namespace}}/sa/{{serviceAccount}}"], "emailAddresses": [],
      "subject": {"organizations": ["Example"], "countries": ["DE"]},
      "usages": ["digital signature", "server auth"],
      "keyAlgorithms": [{"algorithm": "RSA", "minSize": 3072}, {"algorithm": "ECDSA"}, {"algorithm": "Ed25519"}],
      "isCA": true, "maxPathLength": 0
    },
    "denied": {"dnsNames": ["**.evil.com"], "ipAddresses": ["10.96.0.0/12"], "uris": ["urn:*"],
               "emailAddresses": ["ceo@*"]},
    "constraints": {"minDuration": "1h", "maxDuration": "720h"}
  })"));
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  const pol::PolicySelector& s = spec->selector;
  ASSERT_EQ(s.issuer_refs.size(), 2u);
  EXPECT_EQ(s.issuer_refs[0].name, "corp-ca");
  EXPECT_EQ(s.issuer_refs[0].kind, "ClusterIssuer");
  EXPECT_EQ(s.issuer_refs[1].kind, "");
  EXPECT_EQ(s.namespace_names, std::vector<std::string>{"team-a"});
  EXPECT_EQ(s.namespace_match_labels.at("team"), "a");
  ASSERT_EQ(s.namespace_match_expressions.size(), 2u);
  EXPECT_EQ(s.namespace_match_expressions[0].op, "In");
  EXPECT_EQ(s.namespace_match_expressions[1].values, std::vector<std::string>{});
  EXPECT_EQ(s.users, std::vector<std::string>{"alice"});
  EXPECT_EQ(s.groups, std::vector<std::string>{"ops"});
  EXPECT_EQ(s.service_accounts, std::vector<std::string>{"team-a/*"});
  EXPECT_EQ(s.doors, (std::vector<pol::Door>{pol::Door::kCertificateSigningRequest, pol::Door::kPodCertificateRequest}));

  const pol::AllowedRules& a = spec->allowed;
  EXPECT_TRUE(a.present);
  EXPECT_EQ(a.common_name, "{{name}}");
  EXPECT_EQ(a.dns_names, std::vector<std::string>{"*.{{namespace}}.svc"});
  EXPECT_EQ(a.ip_ranges, std::vector<std::string>{"10.0.0.0/8"});
  ASSERT_TRUE(a.email_addresses);  // present and empty: allows none
  EXPECT_TRUE(a.email_addresses->empty());
  EXPECT_EQ(a.subject.organizations, std::vector<std::string>{"Example"});
  EXPECT_FALSE(a.subject.localities);  // omitted: not restricted
  EXPECT_EQ(a.usages, (std::vector<std::string>{"digital signature", "server auth"}));
  ASSERT_TRUE(a.key_algorithms);
  ASSERT_EQ(a.key_algorithms->size(), 3u);
  EXPECT_EQ((*a.key_algorithms)[0].type, signer::KeyType::kRsa);
  EXPECT_EQ((*a.key_algorithms)[0].min_size, 3072);
  EXPECT_EQ((*a.key_algorithms)[1].min_size, 0);
  EXPECT_EQ((*a.key_algorithms)[2].type, signer::KeyType::kEd25519);
  EXPECT_TRUE(a.is_ca);
  EXPECT_EQ(a.max_path_length, 0);

  EXPECT_EQ(spec->denied.dns_names, std::vector<std::string>{"**.evil.com"});
  EXPECT_EQ(spec->denied.ip_ranges, std::vector<std::string>{"10.96.0.0/12"});
  EXPECT_EQ(spec->constraints.min_duration, 1h);
  EXPECT_EQ(spec->constraints.max_duration, 720h);
  EXPECT_TRUE(pol::Compile("full", *spec).ok());
}

TEST(PolicySpec, OmittedFieldsDoNotRestrict) {
  auto spec = ParsePolicySpec(Json::object());
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_TRUE(spec->selector.issuer_refs.empty());
  EXPECT_FALSE(spec->allowed.present) << "no allowed section: the policy only restricts";
  EXPECT_FALSE(spec->allowed.common_name);
  EXPECT_FALSE(spec->allowed.dns_names);
  EXPECT_FALSE(spec->allowed.usages);
  EXPECT_FALSE(spec->allowed.key_algorithms);
  EXPECT_FALSE(spec->allowed.is_ca);
  EXPECT_FALSE(spec->constraints.max_duration);
}

TEST(PolicySpec, AnEmptyAllowedSectionGrants) {
  auto empty = ParsePolicySpec(Json::parse(R"({"allowed": {}, "denied": {"dnsNames": ["**.evil.com"]}})"));
  ASSERT_TRUE(empty.ok()) << empty.error().message();
  EXPECT_TRUE(empty->allowed.present);
  auto deny_only = ParsePolicySpec(Json::parse(R"({"denied": {"dnsNames": ["**.evil.com"]}})"));
  ASSERT_TRUE(deny_only.ok()) << deny_only.error().message();
  EXPECT_FALSE(deny_only->allowed.present);

  // As the engine sees them: on a policy: Required issuer only the one with `allowed` signs.
  signer::CertificateTemplate tmpl;
  tmpl.dns_names = {"web.team-a.svc"};
  pol::PolicyRequest r;
  r.ns = "team-a";
  r.issuer_kind = "ClusterIssuer";
  r.issuer_name = "corp-ca";
  r.tmpl = &tmpl;
  pol::PolicySet restricts;
  restricts.Add(pol::Compile("no-evil", *deny_only).value());
  EXPECT_FALSE(restricts.Evaluate(r, /*policy_required=*/true).allowed);
  pol::PolicySet grants;
  grants.Add(pol::Compile("all-but-evil", *empty).value());
  EXPECT_TRUE(grants.Evaluate(r, /*policy_required=*/true).allowed);
}

TEST(PolicySpec, SelectorAloneOfAnInvalidPolicy) {
  auto selector = ParsePolicySelector(Json::parse(R"({"selector": {"namespaces": {"names": ["team-a"]}},
                                                     "allowed": {"ipAddresses": ["nonsense"]}})"));
  ASSERT_TRUE(selector.ok()) << selector.error().message();
  EXPECT_EQ(selector->namespace_names, std::vector<std::string>{"team-a"});
  auto bad = ParsePolicySelector(Json::parse(R"({"selector": {"doors": ["Pod"]}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(),
            R"(spec.selector.doors[0]: must be Certificate, CertificateSigningRequest or PodCertificateRequest (got "Pod"))");
}

TEST(PolicySpec, DoorNamesAreTheCrdsOnly) {
  EXPECT_EQ(ParseDoor("Certificate"), pol::Door::kCertificate);
  EXPECT_EQ(ParseDoor("PodCertificateRequest"), pol::Door::kPodCertificateRequest);
  EXPECT_EQ(ParseDoor("KubernetesSigner"), std::nullopt);
}

TEST(PolicySpec, ResourceIsClusterScoped) {
  EXPECT_EQ(resources::kCertificatePolicies.plural, "certificatepolicies");
  EXPECT_FALSE(resources::kCertificatePolicies.namespaced);
}

// YAML as the API server reads it, for the examples: plain scalars that look like booleans or
// integers are those, anything else a string.
Json ToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : n) out[kv.first.as<std::string>()] = ToJson(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : n) out.push_back(ToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string v = n.Scalar();
      if (n.Tag() != "!") {
        if (v == "true" || v == "false") return v == "true";
        if (std::regex_match(v, std::regex("-?[0-9]+"))) return std::stoll(v);
      }
      return v;
    }
    default:
      return nullptr;
  }
}

const std::filesystem::path kSourceDir = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();

// Every CertificatePolicy example in docs/policy.md and crds/examples parses and compiles here
// too (e2e/crds_test.sh checks the API server accepts them).
TEST(PolicySpec, ParsesEveryDocumentedExample) {
  std::vector<std::pair<std::string, std::string>> examples;  // (where, yaml)
  std::ifstream doc(kSourceDir / "docs/policy.md");
  ASSERT_TRUE(doc) << (kSourceDir / "docs/policy.md");
  std::stringstream text;
  text << doc.rdbuf();
  const std::string md = text.str();
  static const std::regex block("<!-- example: ([a-z0-9-]+) -->\n```yaml\n([^`]*)```");
  for (auto it = std::sregex_iterator(md.begin(), md.end(), block); it != std::sregex_iterator(); ++it) {
    examples.emplace_back("docs/policy.md " + (*it)[1].str(), (*it)[2].str());
  }
  EXPECT_GE(examples.size(), 15u);
  for (const auto& entry : std::filesystem::directory_iterator(kSourceDir / "crds/examples")) {
    if (entry.path().filename().string().rfind("certificatepolicy", 0) != 0) continue;
    std::ifstream f(entry.path());
    std::stringstream s;
    s << f.rdbuf();
    examples.emplace_back(entry.path().filename().string(), s.str());
  }
  int policies = 0;
  for (const auto& [where, yaml] : examples) {
    const Json object = ToJson(YAML::Load(yaml));
    if (object.value("kind", "") != "CertificatePolicy") continue;
    ++policies;
    auto spec = ParsePolicySpec(object.value("spec", Json::object()));
    EXPECT_TRUE(spec.ok()) << where << ": " << spec.error().message();
  }
  EXPECT_GE(policies, 16);
}

struct Row {
  const char* name;
  const char* spec;
  const char* message;
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

class PolicySpecRejects : public ::testing::TestWithParam<Row> {};

TEST_P(PolicySpecRejects, WithTheCrdMessage) {
  auto spec = ParsePolicySpec(Json::parse(GetParam().spec));
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(spec.error().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, PolicySpecRejects,
    ::testing::Values(
        Row{"NotAnObject", R"([])", "spec: must be an object"},
        Row{"SelectorNotAnObject", R"({"selector": []})", "spec.selector: must be an object"},
        Row{"EmptyIssuerRefs", R"({"selector": {"issuerRefs": []}})",
            "spec.selector.issuerRefs: must not be empty; omit it to select everything"},
        Row{"IssuerRefNotAnObject", R"({"selector": {"issuerRefs": ["corp"]}})",
            "spec.selector.issuerRefs[0]: must be an object"},
        Row{"IssuerRefKind", R"({"selector": {"issuerRefs": [{"name": "corp", "kind": "Vault"}]}})",
            R"(spec.selector.issuerRefs[0].kind: must be Issuer or ClusterIssuer (got "Vault"))"},
        Row{"EmptyNamespaceNames", R"({"selector": {"namespaces": {"names": []}}})",
            "spec.selector.namespaces.names: must not be empty; omit it to select everything"},
        Row{"LabelNotAString", R"({"selector": {"namespaces": {"matchLabels": {"team": 1}}}})",
            "spec.selector.namespaces.matchLabels.team: must be a string"},
        Row{"ExpressionWithoutOperator", R"({"selector": {"namespaces": {"matchExpressions": [{"key": "env"}]}}})",
            "spec.selector.namespaces.matchExpressions[0].operator: is required"},
        Row{"ExpressionOperator",
            R"({"selector": {"namespaces": {"matchExpressions": [{"key": "env", "operator": "Equals"}]}}})",
            R"(spec.selector.namespaces.matchExpressions[0].operator: must be In, NotIn, Exists or DoesNotExist (got "Equals"))"},
        Row{"ExpressionInWithoutValues",
            R"({"selector": {"namespaces": {"matchExpressions": [{"key": "env", "operator": "In"}]}}})",
            "spec.selector.namespaces.matchExpressions[0].values: values must be set when operator is In or NotIn"},
        Row{"ExpressionExistsWithValues",
            R"({"selector": {"namespaces": {"matchExpressions": [{"key": "env", "operator": "Exists", "values": ["a"]}]}}})",
            "spec.selector.namespaces.matchExpressions[0].values: values must be empty when operator is Exists or "
            "DoesNotExist"},
        Row{"EmptyUsers", R"({"selector": {"requesters": {"users": []}}})",
            "spec.selector.requesters.users: must not be empty; omit it to select everything"},
        Row{"ServiceAccountForm", R"({"selector": {"requesters": {"serviceAccounts": ["team-a:builder"]}}})",
            "spec.selector.requesters.serviceAccounts[0]: must be namespace/name (globs allowed, as in team-a/*)"},
        Row{"InternalDoor", R"({"selector": {"doors": ["KubernetesSigner"]}})",
            R"(spec.selector.doors[0]: must be Certificate, CertificateSigningRequest or PodCertificateRequest (got "KubernetesSigner"))"},
        Row{"EmptyDoors", R"({"selector": {"doors": []}})",
            "spec.selector.doors: must not be empty; omit it to select everything"},
        Row{"CommonNameNotAString", R"({"allowed": {"commonName": ["a"]}})", "spec.allowed.commonName: must be a string"},
        Row{"DnsNamesNotAList", R"({"allowed": {"dnsNames": "a.example.com"}})",
            "spec.allowed.dnsNames: must be a list of strings"},
        Row{"DnsDoubleStar", R"({"allowed": {"dnsNames": ["a.example.com", "x**.example.com"]}})",
            R"(spec.allowed.dnsNames[1]: "**" must be a whole DNS label (as in **.example.com))"},
        Row{"DnsUnknownVariable", R"({"allowed": {"dnsNames": ["{{pod}}.svc"]}})",
            "spec.allowed.dnsNames[0]: uses an unknown variable; the variables are {{namespace}}, {{name}} and "
            "{{serviceAccount}}"},
        Row{"IpNotACidr", R"({"allowed": {"ipAddresses": ["10.0.0.0/8", "10.0.0.1"]}})",
            "spec.allowed.ipAddresses[1]: must be a CIDR such as 10.0.0.0/8 or fd00::/8"},
        Row{"IpHostBits", R"({"denied": {"ipAddresses": ["192.168.1.0/16"]}})",
            "spec.denied.ipAddresses[0]: must have no bits set after the prefix length, as in 10.0.0.0/8"},
        Row{"EmailWithoutAt", R"({"denied": {"emailAddresses": ["example.com"]}})",
            "spec.denied.emailAddresses[0]: must be local-part@domain (globs allowed, as in *@example.com)"},
        Row{"SubjectNotAList", R"({"allowed": {"subject": {"countries": "DE"}}})",
            "spec.allowed.subject.countries: must be a list of strings"},
        Row{"UnknownUsage", R"({"allowed": {"usages": ["Server Auth"]}})",
            R"(spec.allowed.usages[0]: unknown usage "Server Auth"; known: "signing", "digital signature", )"
            R"("content commitment", "key encipherment", "key agreement", "data encipherment", "cert sign", "crl sign", )"
            R"("encipher only", "decipher only", "any", "server auth", "client auth", "code signing", "email protection", )"
            R"("s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", )"
            R"("microsoft sgc", "netscape sgc")"},
        Row{"KeyAlgorithmMissing", R"({"allowed": {"keyAlgorithms": [{"minSize": 2048}]}})",
            "spec.allowed.keyAlgorithms[0].algorithm: is required"},
        Row{"KeyAlgorithmUnknown", R"({"allowed": {"keyAlgorithms": [{"algorithm": "DSA"}]}})",
            R"(spec.allowed.keyAlgorithms[0].algorithm: must be one of ECDSA, RSA, Ed25519 (got "DSA"))"},
        Row{"KeyAlgorithmMinSizeNotAnInteger", R"({"allowed": {"keyAlgorithms": [{"algorithm": "RSA", "minSize": "2048"}]}})",
            "spec.allowed.keyAlgorithms[0].minSize: must be an integer"},
        Row{"Ed25519MinSize", R"({"allowed": {"keyAlgorithms": [{"algorithm": "Ed25519", "minSize": 256}]}})",
            "spec.allowed.keyAlgorithms[0].minSize: Ed25519 keys have no size; remove minSize"},
        Row{"IsCaNotABool", R"({"allowed": {"isCA": "yes"}})", "spec.allowed.isCA: must be true or false"},
        Row{"MaxPathLengthWithoutIsCa", R"({"allowed": {"maxPathLength": 1}})",
            "spec.allowed.maxPathLength: maxPathLength requires isCA: true"},
        Row{"MaxPathLengthWithIsCaFalse", R"({"allowed": {"isCA": false, "maxPathLength": 0}})",
            "spec.allowed.maxPathLength: maxPathLength requires isCA: true"},
        Row{"NegativeMaxPathLength", R"({"allowed": {"isCA": true, "maxPathLength": -1}})",
            "spec.allowed.maxPathLength: must be between 0 and 2147483647"},
        Row{"MaxDurationInYears", R"({"constraints": {"maxDuration": "1y"}})",
            R"(spec.constraints.maxDuration: duration "1y" is invalid: unknown unit in "y"; use h, m, s, ms or d)"},
        Row{"MinDurationOverMaxDuration", R"({"constraints": {"minDuration": "48h", "maxDuration": "24h"}})",
            "spec.constraints.minDuration: minDuration must not be longer than maxDuration"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace certwright::api
