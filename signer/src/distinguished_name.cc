// DistinguishedName: RFC 4514 and OpenSSL slash-form parsing, conversion to X509_NAME.
#include <openssl/objects.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "certwright/signer/x509.h"

namespace certwright::signer {

namespace {

// RFC 5280 Appendix A upper bounds for the attributes users commonly set.
size_t UpperBound(int nid) {
  switch (nid) {
    case NID_commonName: return 64;
    case NID_organizationName: return 64;
    case NID_organizationalUnitName: return 64;
    case NID_localityName: return 128;
    case NID_stateOrProvinceName: return 128;
    case NID_countryName: return 2;
    case NID_serialNumber: return 64;
    case NID_postalCode: return 40;
    case NID_pkcs9_emailAddress: return 255;
    default: return 256;
  }
}

Result<int> AttributeNid(const std::string& type) {
  std::string lower = type;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  struct Alias { std::string_view name; int nid; };
  static constexpr Alias kAliases[] = {
      {"cn", NID_commonName},          {"o", NID_organizationName},   {"ou", NID_organizationalUnitName},
      {"c", NID_countryName},          {"l", NID_localityName},       {"st", NID_stateOrProvinceName},
      {"s", NID_stateOrProvinceName},  {"street", NID_streetAddress}, {"dc", NID_domainComponent},
      {"uid", NID_userId},             {"serialnumber", NID_serialNumber},
      {"postalcode", NID_postalCode},  {"emailaddress", NID_pkcs9_emailAddress},
      {"title", NID_title},            {"givenname", NID_givenName},  {"sn", NID_surname},
  };
  for (const auto& a : kAliases) {
    if (a.name == lower) return a.nid;
  }
  // Dotted OIDs ("2.5.4.3") are allowed as RFC 4514 §3 says.
  if (!type.empty() && std::isdigit(static_cast<unsigned char>(type[0]))) {
    int nid = OBJ_txt2nid(type.c_str());
    if (nid != NID_undef) return nid;
  }
  return InvalidArgument("unknown attribute type \"" + type +
                         "\"; use CN, O, OU, C, L, ST, STREET, DC, UID, serialNumber, postalCode");
}

Result<std::string> Unescape(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    if (i + 1 >= v.size()) return InvalidArgument("value \"" + std::string(v) + "\" ends with a lone backslash");
    char c = v[i + 1];
    if (std::isxdigit(static_cast<unsigned char>(c)) && i + 2 < v.size() &&
        std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
      unsigned int byte = 0;
      std::from_chars(v.data() + i + 1, v.data() + i + 3, byte, 16);  // two hex digits, checked above
      out += static_cast<char>(byte);
      i += 2;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  // A trailing escaped space ("\ ") is kept by the caller splitting on unescaped separators.
  while (!s.empty() && s.back() == ' ' && !(s.size() >= 2 && s[s.size() - 2] == '\\')) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> SplitUnescaped(std::string_view s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      cur += s[i];
      cur += s[i + 1];
      ++i;
    } else if (s[i] == sep) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += s[i];
    }
  }
  parts.push_back(cur);
  return parts;
}

std::string Escape(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    bool special = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '=';
    if ((i == 0 && (c == ' ' || c == '#')) || (i + 1 == v.size() && c == ' ')) special = true;
    if (special) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Result<DistinguishedName> DistinguishedName::Parse(std::string_view text) {
  DistinguishedName dn;
  std::string_view s = text;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (s.empty()) return dn;
  if (s.size() > 4096) return InvalidArgument("subject is longer than 4096 characters");
  const bool slash_form = s.front() == '/';
  if (slash_form) s.remove_prefix(1);
  std::vector<std::string> parts = SplitUnescaped(s, slash_form ? '/' : ',');
  for (const auto& raw : parts) {
    std::string part = Trim(raw);
    if (part.empty()) return InvalidArgument("subject \"" + std::string(text) + "\" has an empty RDN");
    if (!slash_form && SplitUnescaped(part, '+').size() > 1) {
      return InvalidArgument("subject \"" + std::string(text) + "\": multi-valued RDNs ('+') are not supported");
    }
    size_t eq = part.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("subject \"" + std::string(text) + "\": \"" + part + "\" is not of the form TYPE=value");
    }
    std::string type = Trim(part.substr(0, eq));
    CW_ASSIGN_OR_RETURN(int nid, AttributeNid(type));
    CW_ASSIGN_OR_RETURN(std::string value, Unescape(Trim(std::string_view(part).substr(eq + 1))));
    if (value.empty()) return InvalidArgument("subject attribute " + type + " has an empty value");
    dn.attributes_.emplace_back(OBJ_nid2sn(nid), std::move(value));
  }
  // RFC 4514 writes the most specific RDN first; ASN.1 order is the reverse.
  if (!slash_form) std::reverse(dn.attributes_.begin(), dn.attributes_.end());
  return dn;
}

Result<DistinguishedName> DistinguishedName::FromX509Name(const X509_NAME* name) {
  DistinguishedName dn;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (len < 0) return InvalidArgument("subject attribute " + std::to_string(i + 1) + " is not a valid string");
    std::string type;
    if (nid != NID_undef) {
      type = OBJ_nid2sn(nid);
    } else {
      char oid[128];
      OBJ_obj2txt(oid, sizeof oid, X509_NAME_ENTRY_get_object(e), 1);
      type = oid;
    }
    dn.attributes_.emplace_back(type, std::string(reinterpret_cast<char*>(utf8), static_cast<size_t>(len)));
    OPENSSL_free(utf8);
  }
  return dn;
}

std::optional<std::string> DistinguishedName::CommonName() const {
  for (auto it = attributes_.rbegin(); it != attributes_.rend(); ++it) {
    if (it->first == "CN") return it->second;
  }
  return std::nullopt;
}

Result<ossl::X509Name> DistinguishedName::ToX509Name() const {
  ossl::X509Name name(X509_NAME_new());
  for (const auto& [type, value] : attributes_) {
    int nid = OBJ_txt2nid(type.c_str());
    if (nid == NID_undef) return InvalidArgument("subject attribute type \"" + type + "\" is unknown");
    if (value.size() > UpperBound(nid)) {
      return InvalidArgument("subject " + type + " \"" + value + "\" is " + std::to_string(value.size()) +
                             " characters; RFC 5280 allows at most " + std::to_string(UpperBound(nid)));
    }
    if (X509_NAME_add_entry_by_NID(name.get(), nid, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      return InvalidArgument("subject " + type + " \"" + value + "\" cannot be encoded: " + ossl::DrainErrors());
    }
  }
  return name;
}

std::string DistinguishedName::ToString() const {
  std::string out;
  for (auto it = attributes_.rbegin(); it != attributes_.rend(); ++it) {
    if (!out.empty()) out += ",";
    out += it->first + "=" + Escape(it->second);
  }
  return out;
}

}  // namespace certwright::signer
