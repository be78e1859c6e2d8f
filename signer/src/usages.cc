// Usages: cert-manager's usage names <-> keyUsage bits and extendedKeyUsage OIDs.
#include <openssl/objects.h>

#include <algorithm>

#include "certwright/signer/x509.h"

namespace certwright::signer {

namespace {

struct UsageName {
  std::string_view name;
  uint32_t key_usage;  // 0 when it is an extended usage
  int eku_nid;         // NID_undef when it is a key usage
};

// The names cert-manager's `usages` field accepts (cert-manager.io/v1 KeyUsage).
constexpr UsageName kUsageNames[] = {
    {"signing", kDigitalSignature, NID_undef},
    {"digital signature", kDigitalSignature, NID_undef},
    {"content commitment", kContentCommitment, NID_undef},
    {"key encipherment", kKeyEncipherment, NID_undef},
    {"key agreement", kKeyAgreement, NID_undef},
    {"data encipherment", kDataEncipherment, NID_undef},
    {"cert sign", kKeyCertSign, NID_undef},
    {"crl sign", kCrlSign, NID_undef},
    {"encipher only", kEncipherOnly, NID_undef},
    {"decipher only", kDecipherOnly, NID_undef},
    {"any", 0, NID_anyExtendedKeyUsage},
    {"server auth", 0, NID_server_auth},
    {"client auth", 0, NID_client_auth},
    {"code signing", 0, NID_code_sign},
    {"email protection", 0, NID_email_protect},
    {"s/mime", 0, NID_email_protect},
    {"ipsec end system", 0, NID_ipsecEndSystem},
    {"ipsec tunnel", 0, NID_ipsecTunnel},
    {"ipsec user", 0, NID_ipsecUser},
    {"timestamping", 0, NID_time_stamp},
    {"ocsp signing", 0, NID_OCSP_sign},
    {"microsoft sgc", 0, NID_ms_sgc},
    {"netscape sgc", 0, NID_ns_sgc},
};

}  // namespace

const std::vector<std::string_view>& KnownUsageNames() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const auto& u : kUsageNames) v.push_back(u.name);
    return v;
  }();
  return names;
}

Result<Usages> ParseUsages(const std::vector<std::string>& names) {
  Usages usages;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string n = names[i];
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
    auto it = std::find_if(std::begin(kUsageNames), std::end(kUsageNames),
                           [&](const UsageName& u) { return u.name == n; });
    if (it == std::end(kUsageNames)) {
      std::string known;
      for (auto k : KnownUsageNames()) known += (known.empty() ? "\"" : ", \"") + std::string(k) + "\"";
      return InvalidArgument("usages[" + std::to_string(i) + "]: unknown usage \"" + names[i] + "\"; known: " + known);
    }
    usages.key_usage |= it->key_usage;
    if (it->eku_nid != NID_undef &&
        std::find(usages.extended.begin(), usages.extended.end(), it->eku_nid) == usages.extended.end()) {
      usages.extended.push_back(it->eku_nid);
    }
  }
  return usages;
}

std::vector<std::string> UsageNames(const Usages& usages) {
  std::vector<std::string> out;
  for (const auto& u : kUsageNames) {
    if (u.name == "signing" || u.name == "s/mime") continue;  // aliases
    if (u.key_usage != 0 && (usages.key_usage & u.key_usage)) out.emplace_back(u.name);
    if (u.eku_nid != NID_undef &&
        std::find(usages.extended.begin(), usages.extended.end(), u.eku_nid) != usages.extended.end()) {
      out.emplace_back(u.name);
    }
  }
  return out;
}

}  // namespace certwright::signer
